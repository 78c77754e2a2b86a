//! Usage queries for reports: sums of usage records over a time range, grouped by any of the
//! record's dimensions and optionally by time bucket; distinct active users; latency percentiles.
//! Every query reads the range through the `started_at` (or `entity_id, started_at`) index and
//! returns aggregates only, never records. Sums and percentiles read the rolled-up part of the
//! range from the daily and hourly roll-ups (`rollups.rs`) and the rest from raw records, as one
//! `UNION ALL` of the parts that SQL aggregates.
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
use crate::rollups::{HOUR, hour_of};
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

/// The sums of a usage query over a source with the columns of [`RAW_MEASURES`], read by
/// [`totals_row`].
const TOTALS: &str = "CAST(COALESCE(SUM(requests), 0) AS BIGINT) AS requests, \
     CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, \
     CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, \
     CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost_micros, \
     CAST(COALESCE(SUM(errors), 0) AS BIGINT) AS errors, \
     CAST(COALESCE(SUM(cache_hits), 0) AS BIGINT) AS cache_hits";

/// A raw record's measures, named as the roll-ups' columns.
const RAW_MEASURES: &str = "1 AS requests, prompt_tokens AS input_tokens, \
     completion_tokens AS output_tokens, cost_micros, \
     CASE WHEN error_code IS NULL THEN 0 ELSE 1 END AS errors, cache_hit AS cache_hits";

const ROLLED_MEASURES: &str =
    "requests, input_tokens, output_tokens, cost_micros, errors, cache_hits";

/// What a selection reads from roll-ups: `segments`, ascending disjoint `[from, to)` ranges of
/// whole rolled-up hours, of which the `days` are read from daily roll-ups and the rest from
/// hourly ones. The rest of the selection is read from raw records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rolled {
    segments: Vec<(UnixMillis, UnixMillis)>,
    days: Vec<(UnixMillis, UnixMillis)>,
}

impl Rolled {
    /// The `started_at` ranges read from raw records: what lies between the segments, from the
    /// selection's start (`$1`) to its end (`$2`).
    fn raw_ranges(&self) -> Vec<String> {
        let mut ranges = Vec::with_capacity(self.segments.len() + 1);
        let mut start = "$1".to_owned();
        for (from, to) in &self.segments {
            if start != from.to_string() {
                ranges.push(format!("started_at >= {start} AND started_at < {from}"));
            }
            start = to.to_string();
        }
        ranges.push(format!("started_at >= {start} AND started_at < $2"));
        ranges
    }

    /// The segments less the days.
    fn hours(&self) -> Vec<(UnixMillis, UnixMillis)> {
        let mut hours = Vec::new();
        for &(from, to) in &self.segments {
            let mut start = from;
            for &(day, day_end) in self.days.iter().filter(|(d, e)| *d >= from && *e <= to) {
                if start < day {
                    hours.push((start, day));
                }
                start = day_end;
            }
            if start < to {
                hours.push((start, to));
            }
        }
        hours
    }

    /// The roll-up parts of a query: `select(table, column, condition)` for the hourly and the
    /// daily table, each when it has something to read.
    fn parts(&self, select: impl Fn(&str, &str, &str) -> String) -> Vec<String> {
        let mut parts = Vec::new();
        for (table, column, ranges) in [
            ("hourly", "hour", self.hours()),
            ("daily", "day", merged(&self.days)),
        ] {
            if !ranges.is_empty() {
                let condition: Vec<String> = ranges
                    .iter()
                    .map(|(from, to)| format!("({column} >= {from} AND {column} < {to})"))
                    .collect();
                let condition = format!("({})", condition.join(" OR "));
                parts.push(select(table, column, &condition));
            }
        }
        parts
    }
}

/// Adjacent ranges joined.
fn merged(ranges: &[(UnixMillis, UnixMillis)]) -> Vec<(UnixMillis, UnixMillis)> {
    let mut joined: Vec<(UnixMillis, UnixMillis)> = Vec::with_capacity(ranges.len());
    for &(from, to) in ranges {
        match joined.last_mut() {
            Some(last) if last.1 == from => last.1 = to,
            _ => joined.push((from, to)),
        }
    }
    joined
}

/// `entity_id = $3 AND ` when the selection names an entity.
fn entity_condition(selection: &UsageSelection) -> &'static str {
    match selection.entity {
        Some(_) => "entity_id = $3 AND ",
        None => "",
    }
}

/// The rows a sum reads: `columns`, `started_at` (an hour's start for roll-ups) and the
/// measures, from raw records and, for `rolled` hours, from `usage_hourly`.
fn usage_source(columns: &[&str], selection: &UsageSelection, rolled: &Rolled) -> String {
    let mut listed = String::new();
    for column in columns {
        listed.push_str(column);
        listed.push_str(", ");
    }
    let entity = entity_condition(selection);
    let mut parts: Vec<String> = rolled
        .raw_ranges()
        .into_iter()
        .map(|range| {
            format!(
                "SELECT {listed}started_at, {RAW_MEASURES} FROM usage_records \
                 WHERE {entity}{range}"
            )
        })
        .collect();
    parts.extend(rolled.parts(|table, column, condition| {
        format!(
            "SELECT {listed}{column} AS started_at, {ROLLED_MEASURES} FROM usage_{table} \
             WHERE {entity}{condition}"
        )
    }));
    format!("({}) AS u", parts.join(" UNION ALL "))
}

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
            "SELECT {TOTALS} FROM (SELECT {RAW_MEASURES} FROM usage_records \
             WHERE user_id = $1 AND started_at >= $2 AND started_at < $3) AS u"
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
    ///
    /// Hours rolled up and wholly inside the selection are read from `usage_hourly` unless the
    /// grouping is by user or key or a bucket boundary falls inside one; the rest from raw
    /// records. The sums are the same either way.
    pub async fn usage_groups(
        &self,
        selection: &UsageSelection,
        group_by: &[UsageDimension],
        boundaries: Option<&[UnixMillis]>,
        limit: u32,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        let rolled = match group_by
            .iter()
            .any(|d| matches!(d, UsageDimension::User | UsageDimension::Key))
        {
            true => Rolled::default(),
            false => self.rolled_hours(selection, boundaries).await?,
        };
        let source_columns: Vec<&str> = group_by.iter().map(|d| d.column()).collect();
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
        sql.push_str(" FROM ");
        sql.push_str(&usage_source(&source_columns, selection, &rolled));
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

    /// p50/p90/p99 of the duration and time to first token of successful requests, per value of
    /// `group_by` (typically model or endpoint): exact over raw records; over rolled-up hours the
    /// value is its histogram bucket's upper bound, never below the exact value and at most 10 %
    /// (or 1 ms) above it.
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
        // The latency roll-ups keep entity, model and endpoint.
        let rolled = match group_by {
            UsageDimension::Entity | UsageDimension::Model | UsageDimension::Endpoint => {
                self.rolled_hours(selection, None).await?
            }
            _ => Rolled::default(),
        };
        let durations = self
            .percentiles(selection, group_by, Latency::Duration, &rolled)
            .await?;
        let ttfts = self
            .percentiles(selection, group_by, Latency::Ttft, &rolled)
            .await?;
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
        rolled: &Rolled,
    ) -> Result<Vec<(Option<String>, Percentiles)>, StoreError> {
        let rank = |p: u32| format!("(total * {p} + 99) / 100");
        let falls = |p: u32| format!("(cumulative - n < {r} AND cumulative >= {r})", r = rank(p));
        let sql = format!(
            "WITH histogram AS ( \
                SELECT g, v, CAST(SUM(n) AS BIGINT) AS n FROM ({parts}) AS parts GROUP BY g, v \
             ), cumulated AS ( \
                SELECT g, v, n, \
                  CAST(SUM(n) OVER (PARTITION BY g ORDER BY v ROWS UNBOUNDED PRECEDING) AS BIGINT) AS cumulative, \
                  CAST(SUM(n) OVER (PARTITION BY g) AS BIGINT) AS total \
                FROM histogram \
             ) \
             SELECT g, v, cumulative, total FROM cumulated WHERE {p50} OR {p90} OR {p99} \
             ORDER BY g, v",
            parts = histogram_parts(selection, group_by, latency, rolled),
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

    /// The rolled-up hours wholly inside `selection`, less those a bucket boundary cuts (read
    /// from raw records, so that each record falls in its bucket), and among them the days
    /// rolled up that no boundary cuts.
    async fn rolled_hours(
        &self,
        selection: &UsageSelection,
        boundaries: Option<&[UnixMillis]>,
    ) -> Result<Rolled, StoreError> {
        let Some(through) = self.rollup_marks().await?.rolled_up else {
            return Ok(Rolled::default());
        };
        let from = match hour_of(selection.from) {
            start if start == selection.from => start,
            start => start.saturating_add(HOUR),
        };
        let to = hour_of(selection.to).min(through);
        let cuts = boundaries.unwrap_or_default();
        let mut segments = vec![(from, to)];
        for cut in cuts.iter().filter(|cut| hour_of(**cut) != **cut) {
            let hour = hour_of(*cut);
            segments = segments
                .into_iter()
                .flat_map(|(from, to)| match hour >= from && hour < to {
                    true => vec![(from, hour), (hour + HOUR, to)],
                    false => vec![(from, to)],
                })
                .collect();
        }
        segments.retain(|(from, to)| from < to);
        if segments.is_empty() {
            return Ok(Rolled::default());
        }
        let days: Vec<(i64, i64)> =
            sqlx::query_as("SELECT day, day_end FROM usage_days WHERE day >= $1 AND day < $2")
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
        let mut days: Vec<(i64, i64)> = days
            .into_iter()
            .filter(|&(day, end)| {
                segments.iter().any(|&(from, to)| day >= from && end <= to)
                    && !cuts.iter().any(|cut| *cut > day && *cut < end)
            })
            .collect();
        days.sort_unstable();
        Ok(Rolled { segments, days })
    }
}

/// The histogram's rows `(g, v, n)` per part: raw records' exact values, and rolled-up hours'
/// bucket upper bounds.
fn histogram_parts(
    selection: &UsageSelection,
    group_by: UsageDimension,
    latency: Latency,
    rolled: &Rolled,
) -> String {
    let (value, name) = match latency {
        Latency::Duration => ("duration_ms", "duration"),
        Latency::Ttft => ("ttft_ms", "ttft"),
    };
    let group = group_by.column();
    let entity = entity_condition(selection);
    let mut parts: Vec<String> = rolled
        .raw_ranges()
        .into_iter()
        .map(|range| {
            format!(
                "SELECT {group} AS g, {value} AS v, COUNT(*) AS n FROM usage_records \
                 WHERE {entity}{range} AND error_code IS NULL AND {value} IS NOT NULL \
                 GROUP BY 1, 2"
            )
        })
        .collect();
    parts.extend(rolled.parts(|table, _, condition| {
        format!(
            "SELECT {group} AS g, upper_ms AS v, SUM(requests) AS n FROM latency_{table} \
             WHERE {entity}{condition} AND latency = '{name}' GROUP BY 1, 2"
        )
    }));
    parts.join(" UNION ALL ")
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
    comparison_tree(&mut sql, "started_at", inner, 0, &|i| {
        i64::try_from(i).unwrap_or(i64::MAX)
    });
    sql
}

/// A balanced tree of `CASE WHEN column < t THEN … ELSE … END` over ascending `thresholds`,
/// giving `leaf(i)` where `i` (counted from `base`) is the number of thresholds at or below the
/// column's value.
pub(crate) fn comparison_tree(
    sql: &mut String,
    column: &str,
    thresholds: &[i64],
    base: usize,
    leaf: &dyn Fn(usize) -> i64,
) {
    if thresholds.is_empty() {
        let _ = write!(sql, "{}", leaf(base));
        return;
    }
    let middle = thresholds.len() / 2;
    let _ = write!(sql, "CASE WHEN {column} < {} THEN ", thresholds[middle]);
    comparison_tree(sql, column, &thresholds[..middle], base, leaf);
    sql.push_str(" ELSE ");
    comparison_tree(
        sql,
        column,
        &thresholds[middle + 1..],
        base + middle + 1,
        leaf,
    );
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
