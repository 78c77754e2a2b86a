//! Usage queries for reports: sums of usage records over a time range, grouped by any of the
//! record's dimensions and optionally by time bucket; distinct active users; exact latency
//! percentiles. Every query reads the range through the `started_at` (or `entity_id, started_at`)
//! index and returns aggregates only, never records.
//!
//! Time buckets are given as boundaries computed by the caller in the group's time zone
//! (`reports::Zone::buckets`); SQL finds a record's bucket with a balanced tree of `CASE WHEN
//! started_at < b THEN … ELSE … END`, so a record costs about log2(buckets) comparisons whatever
//! the zone's daylight-saving rules. The boundaries are integers written into the SQL by this
//! module, never caller text.

use std::fmt::Write as _;

use domain::{EntityId, UnixMillis, UsageTotals, UserId};
use sqlx::any::AnyRow;

use crate::codec::{opt_text, unsigned};
use crate::{Store, StoreError};

/// A column usage can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsageDimension {
    Entity,
    Team,
    User,
    Key,
    Model,
    UseCase,
    Endpoint,
    ErrorCode,
}

impl UsageDimension {
    pub const ALL: [UsageDimension; 8] = [
        UsageDimension::Entity,
        UsageDimension::Team,
        UsageDimension::User,
        UsageDimension::Key,
        UsageDimension::Model,
        UsageDimension::UseCase,
        UsageDimension::Endpoint,
        UsageDimension::ErrorCode,
    ];

    /// The name reports and the admin API use: `entity`, `use_case`, `error_code`…
    pub fn as_str(self) -> &'static str {
        match self {
            UsageDimension::Entity => "entity",
            UsageDimension::Team => "team",
            UsageDimension::User => "user",
            UsageDimension::Key => "key",
            UsageDimension::Model => "model",
            UsageDimension::UseCase => "use_case",
            UsageDimension::Endpoint => "endpoint",
            UsageDimension::ErrorCode => "error_code",
        }
    }

    pub fn parse(name: &str) -> Option<UsageDimension> {
        UsageDimension::ALL.into_iter().find(|d| d.as_str() == name)
    }

    fn column(self) -> &'static str {
        match self {
            UsageDimension::Entity => "entity_id",
            UsageDimension::Team => "team_id",
            UsageDimension::User => "user_id",
            UsageDimension::Key => "key_id",
            UsageDimension::Model => "model",
            UsageDimension::UseCase => "use_case",
            UsageDimension::Endpoint => "endpoint",
            UsageDimension::ErrorCode => "error_code",
        }
    }
}

/// Which records a query covers: `from <= started_at < to`, of one entity or of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageSelection {
    pub from: UnixMillis,
    pub to: UnixMillis,
    pub entity: Option<EntityId>,
}

/// One group's sums: the values of the grouped dimensions (in the order asked; `None` where the
/// records have none) and the time bucket's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageGroup {
    pub keys: Vec<Option<String>>,
    pub bucket: Option<usize>,
    pub totals: UsageTotals,
}

/// Latency percentiles of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyGroup {
    pub key: Option<String>,
    /// Whole request (successful requests only).
    pub duration: Percentiles,
    /// Time to first token, over the successful requests that have one.
    pub ttft: Option<Percentiles>,
}

/// p50, p90, p99 (nearest rank) in milliseconds, over `count` requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
}

/// Which latency a percentile query reads.
#[derive(Debug, Clone, Copy)]
enum Latency {
    Duration,
    Ttft,
}

/// The sums of a usage query, read by [`totals_row`].
const TOTALS: &str = "COUNT(*) AS requests, \
     CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS input_tokens, \
     CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS output_tokens, \
     CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost_micros, \
     CAST(COALESCE(SUM(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS errors, \
     CAST(COALESCE(SUM(cache_hit), 0) AS BIGINT) AS cache_hits";

impl Store {
    /// One user's usage with `from <= started_at < to`, summed (through the `user_id,
    /// started_at` index): what the chat shows a person of their month.
    pub async fn usage_of_user(
        &self,
        user: UserId,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<UsageTotals, StoreError> {
        let sql = format!(
            "SELECT {TOTALS} FROM usage_records \
             WHERE user_id = $1 AND started_at >= $2 AND started_at < $3"
        );
        let row = sqlx::query(&sql)
            .bind(user.to_string())
            .bind(from)
            .bind(to)
            .fetch_one(&self.pool)
            .await?;
        totals_row(&row)
    }

    /// Sums usage per group of `group_by` and, when `boundaries` are given (`b0 = from < … < bn =
    /// to`), per bucket `[b_i, b_{i+1})`. At most `limit` groups, in bucket order, the costliest
    /// first within a bucket; groups with no record are absent.
    pub async fn usage_groups(
        &self,
        selection: &UsageSelection,
        group_by: &[UsageDimension],
        boundaries: Option<&[UnixMillis]>,
        limit: u32,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        let mut columns: Vec<String> = group_by
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{} AS k{i}", d.column()))
            .collect();
        if let Some(boundaries) = boundaries {
            columns.push(format!("{} AS bucket", bucket_expression(boundaries)));
        }
        let grouped = columns.len();
        let mut sql = String::from("SELECT ");
        for column in &columns {
            sql.push_str(column);
            sql.push_str(", ");
        }
        sql.push_str(TOTALS);
        sql.push_str(" FROM usage_records WHERE ");
        sql.push_str(&where_clause(selection));
        if grouped > 0 {
            let ordinals = (1..=grouped)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(sql, " GROUP BY {ordinals} ORDER BY ");
            if boundaries.is_some() {
                sql.push_str("bucket, ");
            }
            sql.push_str("cost_micros DESC, requests DESC");
            for i in 0..group_by.len() {
                let _ = write!(sql, ", k{i}");
            }
        }
        let _ = write!(sql, " LIMIT {limit}");
        let rows = bind_selection(sqlx::query(&sql), selection)
            .fetch_all(&self.pool)
            .await?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            let totals = totals_row(row)?;
            if totals.requests == 0 {
                continue;
            }
            let keys = (0..group_by.len())
                .map(|i| opt_text(row, &format!("k{i}")))
                .collect::<Result<Vec<_>, _>>()?;
            let bucket = match boundaries {
                Some(_) => Some(unsigned::<usize>(row, "bucket")?),
                None => None,
            };
            groups.push(UsageGroup {
                keys,
                bucket,
                totals,
            });
        }
        Ok(groups)
    }

    /// Distinct users with at least one request, over the whole selection (`bucket: None`) or per
    /// bucket of `boundaries`, in bucket order.
    pub async fn active_users(
        &self,
        selection: &UsageSelection,
        boundaries: Option<&[UnixMillis]>,
    ) -> Result<Vec<(Option<usize>, u64)>, StoreError> {
        let sql = match boundaries {
            Some(boundaries) => format!(
                "SELECT {} AS bucket, COUNT(DISTINCT user_id) AS users FROM usage_records \
                 WHERE {} AND user_id IS NOT NULL GROUP BY 1 ORDER BY 1",
                bucket_expression(boundaries),
                where_clause(selection)
            ),
            None => format!(
                "SELECT COUNT(DISTINCT user_id) AS users FROM usage_records \
                 WHERE {} AND user_id IS NOT NULL",
                where_clause(selection)
            ),
        };
        let rows = bind_selection(sqlx::query(&sql), selection)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let bucket = match boundaries {
                    Some(_) => Some(unsigned::<usize>(row, "bucket")?),
                    None => None,
                };
                Ok((bucket, unsigned(row, "users")?))
            })
            .collect()
    }

    /// Exact p50/p90/p99 of the duration and time to first token of successful requests, per
    /// value of `group_by` (typically model or endpoint).
    ///
    /// Exact because latencies are whole milliseconds: SQL builds each group's histogram of
    /// distinct values (`GROUP BY group, value`), runs cumulative counts over it (window
    /// functions, in both dialects), and returns only the rows where a percentile's rank falls —
    /// three per group. The database reads the range once per latency and keeps at most one row
    /// per distinct millisecond value per group, whatever the number of requests; nothing the
    /// size of the range crosses the connection.
    pub async fn latency_percentiles(
        &self,
        selection: &UsageSelection,
        group_by: UsageDimension,
        limit: u32,
    ) -> Result<Vec<LatencyGroup>, StoreError> {
        let durations = self
            .percentiles(selection, group_by, Latency::Duration)
            .await?;
        let ttfts = self.percentiles(selection, group_by, Latency::Ttft).await?;
        let mut groups: Vec<LatencyGroup> = durations
            .into_iter()
            .map(|(key, duration)| LatencyGroup {
                ttft: ttfts.iter().find(|(k, _)| *k == key).map(|(_, p)| *p),
                key,
                duration,
            })
            .collect();
        groups.sort_by(|a, b| {
            b.duration
                .count
                .cmp(&a.duration.count)
                .then_with(|| a.key.cmp(&b.key))
        });
        groups.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(groups)
    }

    async fn percentiles(
        &self,
        selection: &UsageSelection,
        group_by: UsageDimension,
        latency: Latency,
    ) -> Result<Vec<(Option<String>, Percentiles)>, StoreError> {
        let value = match latency {
            Latency::Duration => "duration_ms",
            Latency::Ttft => "ttft_ms",
        };
        let rank = |p: u32| format!("(total * {p} + 99) / 100");
        let falls = |p: u32| format!("(cumulative - n < {r} AND cumulative >= {r})", r = rank(p));
        let sql = format!(
            "WITH histogram AS ( \
                SELECT {group} AS g, {value} AS v, COUNT(*) AS n FROM usage_records \
                WHERE {selection} AND error_code IS NULL AND {value} IS NOT NULL GROUP BY 1, 2 \
             ), cumulated AS ( \
                SELECT g, v, n, \
                  CAST(SUM(n) OVER (PARTITION BY g ORDER BY v ROWS UNBOUNDED PRECEDING) AS BIGINT) AS cumulative, \
                  CAST(SUM(n) OVER (PARTITION BY g) AS BIGINT) AS total \
                FROM histogram \
             ) \
             SELECT g, v, cumulative, total FROM cumulated WHERE {p50} OR {p90} OR {p99} \
             ORDER BY g, v",
            group = group_by.column(),
            selection = where_clause(selection),
            p50 = falls(50),
            p90 = falls(90),
            p99 = falls(99),
        );
        let rows = bind_selection(sqlx::query(&sql), selection)
            .fetch_all(&self.pool)
            .await?;
        // Per group: its key, its request count, and (value, cumulative count) points.
        type Histogram = (Option<String>, u64, Vec<(u64, u64)>);
        let mut groups: Vec<Histogram> = Vec::new();
        for row in &rows {
            let key = opt_text(row, "g")?;
            let point = (unsigned(row, "v")?, unsigned(row, "cumulative")?);
            match groups.last_mut() {
                Some((last, _, points)) if *last == key => points.push(point),
                _ => groups.push((key, unsigned(row, "total")?, vec![point])),
            }
        }
        Ok(groups
            .into_iter()
            .map(|(key, total, points)| (key, percentiles_of(total, &points)))
            .collect())
    }
}

/// Nearest-rank percentiles from `(value, cumulative count)` rows in value order.
fn percentiles_of(count: u64, rows: &[(u64, u64)]) -> Percentiles {
    let at = |p: u64| {
        let rank = (u128::from(count) * u128::from(p)).div_ceil(100).max(1);
        rows.iter()
            .find(|(_, cumulative)| u128::from(*cumulative) >= rank)
            .map_or(0, |(value, _)| *value)
    };
    Percentiles {
        count,
        p50: at(50),
        p90: at(90),
        p99: at(99),
    }
}

/// `started_at` in range, and the entity when one is selected: `$1`, `$2`, `$3`.
fn where_clause(selection: &UsageSelection) -> String {
    match selection.entity {
        Some(_) => "entity_id = $3 AND started_at >= $1 AND started_at < $2".to_owned(),
        None => "started_at >= $1 AND started_at < $2".to_owned(),
    }
}

fn bind_selection<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    selection: &UsageSelection,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let query = query.bind(selection.from).bind(selection.to);
    match selection.entity {
        Some(entity) => query.bind(entity.to_string()),
        None => query,
    }
}

/// The index of a record's bucket among `boundaries` (`b0 < b1 < … < bn`): the number of inner
/// boundaries `b1 … b(n-1)` at or before `started_at`, as a balanced tree of comparisons.
fn bucket_expression(boundaries: &[UnixMillis]) -> String {
    let inner = match boundaries.len() {
        0..=2 => &[][..],
        n => &boundaries[1..n - 1],
    };
    let mut sql = String::new();
    bucket_tree(&mut sql, inner, 0);
    sql
}

fn bucket_tree(sql: &mut String, boundaries: &[UnixMillis], base: usize) {
    if boundaries.is_empty() {
        let _ = write!(sql, "{base}");
        return;
    }
    let middle = boundaries.len() / 2;
    let _ = write!(sql, "CASE WHEN started_at < {} THEN ", boundaries[middle]);
    bucket_tree(sql, &boundaries[..middle], base);
    sql.push_str(" ELSE ");
    bucket_tree(sql, &boundaries[middle + 1..], base + middle + 1);
    sql.push_str(" END");
}

fn totals_row(row: &AnyRow) -> Result<UsageTotals, StoreError> {
    Ok(UsageTotals {
        requests: unsigned(row, "requests")?,
        input_tokens: unsigned(row, "input_tokens")?,
        output_tokens: unsigned(row, "output_tokens")?,
        cost_micros: unsigned(row, "cost_micros")?,
        errors: unsigned(row, "errors")?,
        cache_hits: unsigned(row, "cache_hits")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket the tree gives, evaluated in Rust the way SQL reads it.
    fn evaluate(boundaries: &[UnixMillis], at: UnixMillis) -> usize {
        let inner = &boundaries[1..boundaries.len() - 1];
        inner.iter().filter(|b| **b <= at).count()
    }

    #[test]
    fn the_bucket_tree_is_balanced_and_names_every_bucket() {
        let boundaries: Vec<UnixMillis> = (0..=7).map(|i| i * 10).collect();
        let sql = bucket_expression(&boundaries);
        assert!(sql.starts_with("CASE WHEN started_at < 40 THEN CASE WHEN started_at < 20"));
        for bucket in 0..7 {
            assert!(sql.contains(&format!(" {bucket} ")) || sql.contains(&format!(" {bucket}")));
        }
        assert_eq!(evaluate(&boundaries, 0), 0);
        assert_eq!(evaluate(&boundaries, 39), 3);
        assert_eq!(evaluate(&boundaries, 40), 4);
        assert_eq!(bucket_expression(&[0, 10]), "0");
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let p = percentiles_of(10, &[(10, 9), (500, 10)]);
        assert_eq!((p.p50, p.p90, p.p99), (10, 10, 500));
        let rows: Vec<(u64, u64)> = (1..=100).map(|v| (v, v)).collect();
        let p = percentiles_of(100, &rows);
        assert_eq!((p.p50, p.p90, p.p99), (50, 90, 99));
    }
}
