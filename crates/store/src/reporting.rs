//! Usage queries for reports: sums of usage records over a time range, grouped by any of the
//! record's dimensions and optionally by time bucket; distinct active users; latency percentiles.
//! Every query reads the range through the `started_at` (or `entity_id, started_at`) index and
//! returns aggregates only, never records. Sums and percentiles read the rolled-up part of the
//! range from the daily and hourly roll-ups (`rollups.rs`) and the rest from raw records, as one
//! `UNION ALL` of the parts that SQL aggregates: one statement, which reads the `rolled_up` mark
//! and the days in force itself, so it sees them in the snapshot of the rows it sums (no hour
//! counted twice or missed, whatever roll-up, late batch or raw deletion commits meanwhile, here
//! or on another replica). The list of rolled-up days is held in memory (`RolledDays`) to write
//! the statement; the statement checks each day it names.
//!
//! Time buckets are given as boundaries computed by the caller in the group's time zone
//! (`reports::Zone::buckets`); SQL finds a record's bucket with a balanced tree of `CASE WHEN
//! started_at < b THEN … ELSE … END`, so a record costs about log2(buckets) comparisons whatever
//! the zone's daylight-saving rules. The boundaries are integers written into the SQL by this
//! module, never caller text.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use domain::{EntityId, UnixMillis, UsageTotals, UserId};
use sqlx::any::AnyRow;

use crate::codec::{opt_text, text, unsigned};
use crate::rollups::{HOUR, hour_of};
use crate::{Backend, Store, StoreError};

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
    /// The failed requests of the group (of any status), as usage sums count them.
    pub errors: u64,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Latency {
    Duration,
    Ttft,
}

impl Latency {
    const ALL: [Latency; 2] = [Latency::Duration, Latency::Ttft];

    /// Its name in the latency roll-ups' `latency` column.
    fn name(self) -> &'static str {
        match self {
            Latency::Duration => "duration",
            Latency::Ttft => "ttft",
        }
    }

    /// Its column in raw records.
    fn column(self) -> &'static str {
        match self {
            Latency::Duration => "duration_ms",
            Latency::Ttft => "ttft_ms",
        }
    }
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

/// The `rolled_up` mark as SQL, read by the statement that reads the roll-ups: the mark of the
/// very rows that statement reads (a statement sees one snapshot), whatever a roll-up job on
/// another replica or a late batch did since the report was planned; `NULL` before any roll-up.
const ROLLED_UP: &str = "(SELECT through FROM usage_rollup_marks WHERE name = 'rolled_up')";

/// How far before the newest day rolled up a day may have lost its hourly rows: 31 days, one less
/// than `[retention] hourly_rollup_days` allows.
const FROZEN_AFTER: UnixMillis = 31 * 86_400_000;

/// How long the list of rolled-up days is reused before it is read again.
const DAYS_REUSED_FOR: Duration = Duration::from_secs(60);

/// The days rolled up (`usage_days`, ascending) and the deletion marks, as last read, shared by
/// a store's clones: what lets a report read a day's one row per combination instead of its
/// hours' rows. Only a hint: a statement reads the days it lists from daily rows only if
/// `usage_days` still holds them all and the mark is past their ends, else their hours, so a stale
/// list costs speed, never a sum. A day rolled up by this store is listed at once
/// ([`RolledDays::forget`]); one rolled up by another replica within [`DAYS_REUSED_FOR`], its hours
/// read meanwhile. Days whose hours are deleted (`hourly_deleted`) are read from daily rows
/// unconditionally (none of them is reopened or summed again); one whose deletion another replica
/// made within that time is still read as the others, which is the same unless a late record
/// reopened a recent day of the same report meanwhile.
#[derive(Debug, Default)]
pub(crate) struct RolledDays(Mutex<Option<(Instant, Arc<Listed>)>>);

/// Days `[day, day_end)`, ascending.
type Days = Vec<(UnixMillis, UnixMillis)>;

/// What [`RolledDays`] holds.
#[derive(Debug, Default)]
struct Listed {
    days: Days,
    /// Every hour before it is deleted from the hourly roll-ups, in days read from daily rows.
    hourly_deleted: Option<UnixMillis>,
    /// Every hour before it has no raw records left.
    raw_deleted: Option<UnixMillis>,
}

impl RolledDays {
    fn fresh(&self) -> Option<Arc<Listed>> {
        let held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        held.as_ref()
            .filter(|(read_at, _)| read_at.elapsed() < DAYS_REUSED_FOR)
            .map(|(_, listed)| Arc::clone(listed))
    }

    fn keep(&self, listed: Arc<Listed>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), listed));
    }

    /// The list is read again by the next report.
    pub(crate) fn forget(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// What a selection may read from roll-ups: `segments`, ascending disjoint `[from, to)` ranges of
/// whole hours, whose hours before the mark are read from roll-ups (the `days` listed from daily
/// rows when all are still in force, the other hours from hourly ones) and the rest, like all
/// outside the segments, from raw records. Each hour is read from exactly one source, decided in
/// the statement's own snapshot of the mark and the days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rolled {
    segments: Vec<(UnixMillis, UnixMillis)>,
    days: Vec<(UnixMillis, UnixMillis)>,
    /// Days whose hours are deleted: read from their daily rows whatever the others' state.
    frozen: Vec<(UnixMillis, UnixMillis)>,
}

impl Rolled {
    /// The `started_at` ranges read from raw records: what lies between the segments, from the
    /// selection's start (`$1`) to its end (`$2`), and each segment's hours from the mark on.
    fn raw_ranges(&self, backend: Backend) -> Vec<String> {
        let mut ranges = Vec::with_capacity(self.segments.len() + 1);
        let mut start = "$1".to_owned();
        for &(from, to) in &self.segments {
            if start != from.to_string() {
                ranges.push(format!("started_at >= {start} AND started_at < {from}"));
            }
            start = clamped(backend, &format!("COALESCE({ROLLED_UP}, {from})"), from, to);
        }
        ranges.push(format!("started_at >= {start} AND started_at < $2"));
        ranges
    }

    /// The roll-up parts of a query: `select(table, column, condition)` for the hourly table and
    /// the daily one, each when it may have something to read. Hours before the mark are read
    /// from roll-ups: when every day listed is still in force, those days from daily rows and the
    /// other hours from hourly ones; else (a day reopened or replaced since the list was read)
    /// every hour from hourly rows.
    fn parts(&self, select: impl Fn(&str, &str, &str) -> String) -> Vec<String> {
        if self.segments.is_empty() {
            return Vec::new();
        }
        let in_force = days_in_force(&self.days);
        let mut read_by_day: Vec<(UnixMillis, UnixMillis)> =
            self.days.iter().chain(&self.frozen).copied().collect();
        read_by_day.sort_unstable();
        let mut hours = Vec::new();
        for &(from, to) in &self.segments {
            let mut start = from;
            for &(day, day_end) in read_by_day.iter().filter(|(d, e)| *d >= from && *e <= to) {
                if start < day {
                    hours.push(format!("(hour >= {start} AND hour < {day})"));
                }
                start = day_end;
            }
            if start < to {
                hours.push(format!("(hour >= {start} AND hour < {to})"));
            }
            if self.days.iter().any(|(d, e)| *d >= from && *e <= to) {
                // The whole segment when its days are not read from daily rows; else nothing.
                // (Frozen days have no hourly rows left: read again, they add nothing.)
                hours.push(format!(
                    "(hour >= {from} AND hour < CASE WHEN {in_force} THEN {from} ELSE {to} END)"
                ));
            }
        }
        let mut parts = Vec::new();
        if !hours.is_empty() {
            parts.push(select(
                "hourly",
                "hour",
                &format!("hour < {ROLLED_UP} AND ({})", hours.join(" OR ")),
            ));
        }
        let listed = |days: &[(UnixMillis, UnixMillis)]| -> String {
            let days: Vec<String> = days.iter().map(|(day, _)| day.to_string()).collect();
            days.join(", ")
        };
        let mut daily = Vec::new();
        if !self.days.is_empty() {
            daily.push(format!("({in_force} AND day IN ({}))", listed(&self.days)));
        }
        if !self.frozen.is_empty() {
            daily.push(format!("day IN ({})", listed(&self.frozen)));
        }
        if !daily.is_empty() {
            parts.push(select("daily", "day", &format!("({})", daily.join(" OR "))));
        }
        parts
    }
}

/// Whether every day of `days` is read from its daily rows: `usage_days` still holds each as
/// listed (a late record's reopening drops a day, a change of time zone replaces it) and the mark
/// is past its end. One condition, evaluated once per statement.
fn days_in_force(days: &[(UnixMillis, UnixMillis)]) -> String {
    let listed: Vec<String> = days
        .iter()
        .map(|(day, day_end)| format!("(day = {day} AND day_end = {day_end})"))
        .collect();
    format!(
        "(SELECT COUNT(*) FROM usage_days WHERE day_end <= {ROLLED_UP} AND ({})) = {}",
        match listed.is_empty() {
            true => "1 = 0".to_owned(),
            false => listed.join(" OR "),
        },
        days.len()
    )
}

/// `value` within `[from, to]`, in SQL.
fn clamped(backend: Backend, value: &str, from: UnixMillis, to: UnixMillis) -> String {
    match backend {
        Backend::Postgres => format!("GREATEST({from}, LEAST({to}, {value}))"),
        Backend::Sqlite => format!("MAX({from}, MIN({to}, {value}))"),
    }
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
fn usage_source(
    columns: &[&str],
    selection: &UsageSelection,
    rolled: &Rolled,
    backend: Backend,
) -> String {
    let mut listed = String::new();
    for column in columns {
        listed.push_str(column);
        listed.push_str(", ");
    }
    let entity = entity_condition(selection);
    let mut parts: Vec<String> = rolled
        .raw_ranges(backend)
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
        sql.push_str(&usage_source(
            &source_columns,
            selection,
            &rolled,
            self.backend(),
        ));
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
    /// three per group and latency, both latencies in one statement. The database reads the range
    /// once per latency and keeps at most one row
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
        let (mut percentiles, errors) = self.percentiles(selection, group_by, &rolled).await?;
        let ttfts =
            percentiles.split_off(percentiles.partition_point(|(l, _, _)| *l == Latency::Duration));
        let durations = percentiles.into_iter().map(|(_, key, p)| (key, p));
        let ttfts: Vec<(Option<String>, Percentiles)> =
            ttfts.into_iter().map(|(_, key, p)| (key, p)).collect();
        let mut groups: Vec<LatencyGroup> = durations
            .into_iter()
            .map(|(key, duration)| LatencyGroup {
                ttft: ttfts.iter().find(|(k, _)| *k == key).map(|(_, p)| *p),
                errors: errors.get(&key).copied().unwrap_or(0),
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

    /// Each latency's percentiles per group: the durations' groups, then the times to first
    /// token's, each in key order; and, from the same statement, each group's failed requests.
    async fn percentiles(
        &self,
        selection: &UsageSelection,
        group_by: UsageDimension,
        rolled: &Rolled,
    ) -> Result<(Vec<(Latency, Option<String>, Percentiles)>, ErrorCounts), StoreError> {
        let rank = |p: u32| format!("(total * {p} + 99) / 100");
        let falls = |p: u32| format!("(cumulative - n < {r} AND cumulative >= {r})", r = rank(p));
        let sql = format!(
            "WITH histogram AS ( \
                SELECT l, g, v, CAST(SUM(n) AS BIGINT) AS n FROM ({parts}) AS parts \
                GROUP BY l, g, v \
             ), cumulated AS ( \
                SELECT l, g, v, n, \
                  CAST(SUM(n) OVER (PARTITION BY l, g ORDER BY v ROWS UNBOUNDED PRECEDING) AS BIGINT) AS cumulative, \
                  CAST(SUM(n) OVER (PARTITION BY l, g) AS BIGINT) AS total \
                FROM histogram \
             ) \
             SELECT l, g, v, cumulative, total FROM cumulated WHERE {p50} OR {p90} OR {p99} \
             ORDER BY l, g, v",
            parts = histogram_parts(selection, group_by, rolled, self.backend()),
            p50 = falls(50),
            p90 = falls(90),
            p99 = falls(99),
        );
        let rows = bind_selection(sqlx::query(&sql), selection)
            .fetch_all(&self.pool)
            .await?;
        // Per latency and group: its key, its request count, and (value, cumulative count) points.
        type Histogram = (Latency, Option<String>, u64, Vec<(u64, u64)>);
        let mut groups: Vec<Histogram> = Vec::new();
        let mut errors = ErrorCounts::new();
        for row in &rows {
            let name = text(row, "l")?;
            if name == ERRORS {
                // One value per group: its count is the cumulative (and total) count.
                errors.insert(opt_text(row, "g")?, unsigned(row, "total")?);
                continue;
            }
            let latency = Latency::ALL
                .into_iter()
                .find(|l| l.name() == name)
                .ok_or_else(|| StoreError::Corrupt(format!("latency = `{name}`")))?;
            let key = opt_text(row, "g")?;
            let point = (unsigned(row, "v")?, unsigned(row, "cumulative")?);
            match groups.last_mut() {
                Some((l, last, _, points)) if *l == latency && *last == key => points.push(point),
                _ => groups.push((latency, key, unsigned(row, "total")?, vec![point])),
            }
        }
        // `ORDER BY l` puts `duration` before `ttft`.
        let percentiles = groups
            .into_iter()
            .map(|(latency, key, total, points)| (latency, key, percentiles_of(total, &points)))
            .collect();
        Ok((percentiles, errors))
    }

    /// The whole hours inside `selection`, less those a bucket boundary cuts (read from raw
    /// records, so that each record falls in its bucket), and among them the days listed as
    /// rolled up that no boundary cuts; no statement but, once a minute, the list of days. A day
    /// whose hours are deleted that the selection or a boundary cuts is read from raw records;
    /// refused ([`StoreError::KeptByDay`]) when they are deleted too.
    async fn rolled_hours(
        &self,
        selection: &UsageSelection,
        boundaries: Option<&[UnixMillis]>,
    ) -> Result<Rolled, StoreError> {
        let from = match hour_of(selection.from) {
            start if start == selection.from => start,
            start => start.saturating_add(HOUR),
        };
        let to = hour_of(selection.to);
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
        let mut listed = self.days_rolled_up().await?;
        let whole = |segments: &[(UnixMillis, UnixMillis)], day: UnixMillis, end: UnixMillis| {
            segments.iter().any(|&(from, to)| day >= from && end <= to)
                && !cuts.iter().any(|cut| *cut > day && *cut < end)
        };
        let touched = |day: UnixMillis, end: UnixMillis| {
            segments.iter().any(|&(from, to)| from < end && to > day)
        };
        // A cut day old enough for its hours to be deleted ([retention] keeps them 32 days at
        // least): the marks as they are now, not as listed up to a minute ago.
        let newest = listed.days.last().map_or(UnixMillis::MIN, |(_, end)| *end);
        if listed.days.iter().any(|&(day, end)| {
            end <= newest.saturating_sub(FROZEN_AFTER)
                && touched(day, end)
                && !whole(&segments, day, end)
        }) {
            listed = self.days_rolled_up_now().await?;
        }
        let frozen_until = listed.hourly_deleted.unwrap_or(UnixMillis::MIN);
        // A day whose hours are deleted and that the selection or a boundary cuts: its hours in
        // the selection are read from raw records, if they are still there.
        for &(day, end) in listed.days.iter().filter(|(_, end)| *end <= frozen_until) {
            if whole(&segments, day, end) {
                continue;
            }
            let cut_from = segments
                .iter()
                .filter(|&&(from, to)| from < end && to > day)
                .map(|&(from, _)| from.max(day))
                .min();
            let Some(cut_from) = cut_from else { continue };
            if listed.raw_deleted.is_some_and(|deleted| cut_from < deleted) {
                return Err(StoreError::KeptByDay {
                    before: frozen_until,
                });
            }
            segments = segments
                .into_iter()
                .flat_map(|(from, to)| [(from, to.min(day)), (from.max(end), to)])
                .filter(|(from, to)| from < to)
                .collect();
        }
        let (mut days, mut frozen) = (Vec::new(), Vec::new());
        for &(day, end) in &listed.days {
            if whole(&segments, day, end) {
                match end <= frozen_until {
                    true => frozen.push((day, end)),
                    false => days.push((day, end)),
                }
            }
        }
        Ok(Rolled {
            segments,
            days,
            frozen,
        })
    }

    /// The days rolled up, ascending, and the deletion marks: as read at most
    /// [`DAYS_REUSED_FOR`] ago.
    async fn days_rolled_up(&self) -> Result<Arc<Listed>, StoreError> {
        match self.rolled_days.fresh() {
            Some(listed) => Ok(listed),
            None => self.days_rolled_up_now().await,
        }
    }

    /// The days rolled up and the deletion marks, read now.
    async fn days_rolled_up_now(&self) -> Result<Arc<Listed>, StoreError> {
        let days: Vec<(i64, i64)> =
            sqlx::query_as("SELECT day, day_end FROM usage_days ORDER BY day")
                .fetch_all(&self.pool)
                .await?;
        let marks = self.rollup_marks().await?;
        let listed = Arc::new(Listed {
            days,
            hourly_deleted: marks.hourly_deleted,
            raw_deleted: marks.raw_deleted,
        });
        self.rolled_days.keep(Arc::clone(&listed));
        Ok(listed)
    }
}

/// Failed requests per group.
type ErrorCounts = std::collections::HashMap<Option<String>, u64>;

/// The histogram's `l` of the failed requests' count: one value (0) per group, so its count
/// passes the percentiles' filter as is (and a group with none is absent).
const ERRORS: &str = "errors";

/// The histogram's rows `(l, g, v, n)` per part and latency: raw records' exact values, and
/// rolled-up hours' bucket upper bounds (group-wide per model, from `latency_model_*`); and the
/// failed requests' count as [`ERRORS`], from raw records and the usage roll-ups.
fn histogram_parts(
    selection: &UsageSelection,
    group_by: UsageDimension,
    rolled: &Rolled,
    backend: Backend,
) -> String {
    let group = group_by.column();
    let entity = entity_condition(selection);
    let mut parts = Vec::new();
    for range in rolled.raw_ranges(backend) {
        parts.push(format!(
            "SELECT '{ERRORS}' AS l, {group} AS g, 0 AS v, COUNT(*) AS n FROM usage_records \
             WHERE {entity}{range} AND error_code IS NOT NULL GROUP BY 1, 2, 3"
        ));
        for latency in Latency::ALL {
            let (name, value) = (latency.name(), latency.column());
            parts.push(format!(
                "SELECT '{name}' AS l, {group} AS g, {value} AS v, COUNT(*) AS n \
                 FROM usage_records \
                 WHERE {entity}{range} AND error_code IS NULL AND {value} IS NOT NULL \
                 GROUP BY 1, 2, 3"
            ));
        }
    }
    // Group-wide per model, hours and days are read from their rows per model only.
    let per_model = match group_by == UsageDimension::Model && selection.entity.is_none() {
        true => "model_",
        false => "",
    };
    parts.extend(rolled.parts(|table, _, condition| {
        format!(
            "SELECT latency AS l, {group} AS g, upper_ms AS v, SUM(requests) AS n \
             FROM latency_{per_model}{table} WHERE {entity}{condition} GROUP BY 1, 2, 3"
        )
    }));
    parts.extend(rolled.parts(|table, _, condition| {
        format!(
            "SELECT '{ERRORS}' AS l, {group} AS g, 0 AS v, SUM(errors) AS n \
             FROM usage_{table} WHERE {entity}{condition} GROUP BY 1, 2, 3"
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
