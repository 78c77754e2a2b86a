//! Hourly roll-ups of usage records, and the deletion of raw records once rolled up.
//!
//! `usage_hourly` holds, per closed hour (UTC) and combination of entity, team, model, use case,
//! endpoint and error code, the sums reports read; `latency_hourly` the histogram of successful
//! requests' duration and time to first token per hour, entity, model and endpoint, in fixed
//! buckets at most 10 % wide ([`latency_bounds`]). Users and keys are left out, so an hour's rows
//! are bounded by the combinations of those dimensions, not by the number of people.
//!
//! An hour is rolled up in one transaction that replaces its rows, so running it again never
//! counts twice. The `rolled_up` mark says every hour before it is rolled up; a batch of records
//! stored late for an hour already rolled up moves the mark back in the batch's own transaction
//! ([`reopen_hours`]), and the next run rolls that hour up again. Raw records are deleted only
//! before the `rolled_up` mark, hour by hour, advancing the `raw_deleted` mark with each hour; an
//! hour before `raw_deleted` is never rolled up again (its raw records are gone): a record stored
//! late for it is added, in its batch's transaction, to the roll-ups that stand for the hour —
//! its hourly rows while they are kept, its day's daily rows once the day is summed — as rows of
//! its own beside those already there (readers sum rows; nothing rebuilds these again).
//!
//! Days: `usage_daily` and `latency_daily` sum the hourly rows of a day of the group's time zone,
//! whose bounds the caller computes ([`Store::roll_up_day`]); `usage_days` lists the days done.
//! `latency_model_hourly` and `latency_model_daily` sum an hour's or a day's histograms over
//! entities and endpoints too, in the transaction that writes them (what group-wide percentiles
//! per model read: a fraction of the rows).
//! A late record's reopening drops the days from its hour on from that list, and reports read
//! their hours from the hourly rows until the day is rolled up again.
//!
//! Hourly rows of listed days may go ([`Store::delete_hourly_rollups`], `[retention]
//! hourly_rollup_days`), a day per transaction, advancing the `hourly_deleted` mark to the day's
//! end: such a day is never reopened, rolled up or summed again (a record stored late for it is
//! added to its daily rows, as one before `raw_deleted` is to the roll-ups that stand), and
//! reports read it from its daily rows whatever else is reopened, or from raw records when they
//! cut it: either way the late record counts once.

use std::fmt::Write as _;

use domain::{UnixMillis, UsageRecord};
use sqlx::AnyConnection;

use crate::codec::to_bigint;
use crate::reporting::comparison_tree;
use crate::{Backend, Store, StoreError};

pub(crate) const HOUR: UnixMillis = 3_600_000;
const DAY: UnixMillis = 86_400_000;

/// The tables holding a day's roll-up, replaced together.
const DAY_TABLES: [&str; 4] = [
    "usage_daily",
    "latency_daily",
    "latency_model_daily",
    "usage_days",
];

/// The tables holding an hour's roll-up.
const HOUR_TABLES: [&str; 3] = ["usage_hourly", "latency_hourly", "latency_model_hourly"];

/// Longest latency the histogram tells apart (a day); anything longer counts as a day.
const LATENCY_CAP_MS: i64 = 86_400_000;

/// What one run of [`Store::roll_up_usage`] or [`Store::delete_raw_usage`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupRun {
    /// Hours rolled up (or whose raw records were deleted).
    pub hours: u64,
    /// The mark after the run: every hour before it is done.
    pub through: Option<UnixMillis>,
}

/// The two marks, read together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupMarks {
    pub rolled_up: Option<UnixMillis>,
    pub raw_deleted: Option<UnixMillis>,
    /// The end of the last day whose hourly roll-ups are deleted.
    pub hourly_deleted: Option<UnixMillis>,
}

/// The start of the hour holding `at`.
pub(crate) fn hour_of(at: UnixMillis) -> UnixMillis {
    at.div_euclid(HOUR) * HOUR
}

/// Upper bounds (inclusive) of the latency buckets: 0, 1, 2, … then each at most 10 % above the
/// previous, up to a day. A percentile read from them is its bucket's upper bound: never below the
/// exact value, and at most 10 % (or 1 ms) above it.
pub fn latency_bounds() -> Vec<i64> {
    let mut bounds = vec![0, 1];
    while let Some(&last) = bounds.last()
        && last < LATENCY_CAP_MS
    {
        bounds.push((last + 1).max(last * 11 / 10).min(LATENCY_CAP_MS));
    }
    bounds
}

/// SQL giving the upper bound of the bucket `column`'s value falls in.
fn latency_bucket(column: &str) -> String {
    let bounds = latency_bounds();
    // A value is in bucket i when it exceeds bounds[i-1]: thresholds bounds[i-1] + 1.
    let thresholds: Vec<i64> = bounds[..bounds.len() - 1].iter().map(|b| b + 1).collect();
    let mut sql = String::new();
    comparison_tree(&mut sql, column, &thresholds, 0, &|i| bounds[i]);
    sql
}

/// SQL summing the latency histograms of the hour or day (`unit`: `hourly` or `daily`, `key` its
/// column) starting at `start` over entities and endpoints, into `latency_model_{unit}`.
fn per_model(unit: &str, key: &str, start: UnixMillis) -> String {
    format!(
        "INSERT INTO latency_model_{unit} ({key}, model, latency, upper_ms, requests) \
         SELECT {key}, model, latency, upper_ms, CAST(SUM(requests) AS BIGINT) \
         FROM latency_{unit} WHERE {key} = {start} GROUP BY {key}, model, latency, upper_ms"
    )
}

impl Store {
    /// The `rolled_up`, `raw_deleted` and `hourly_deleted` marks.
    pub async fn rollup_marks(&self) -> Result<RollupMarks, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, through FROM usage_rollup_marks")
                .fetch_all(&self.pool)
                .await?;
        let mark = |name: &str| rows.iter().find(|(n, _)| n == name).map(|(_, t)| *t);
        Ok(RollupMarks {
            rolled_up: mark("rolled_up"),
            raw_deleted: mark("raw_deleted"),
            hourly_deleted: mark("hourly_deleted"),
        })
    }

    /// Rolls up every hour that ended at or before `closed_before` and is not rolled up yet,
    /// one transaction an hour; hours without records are skipped in one step.
    pub async fn roll_up_usage(&self, closed_before: UnixMillis) -> Result<RollupRun, StoreError> {
        let end = hour_of(closed_before);
        let marks = self.rollup_marks().await?;
        let mut run = RollupRun {
            hours: 0,
            through: marks.rolled_up,
        };
        let mut next = match marks.rolled_up {
            Some(through) => through,
            None => match self.first_record_at(UnixMillis::MIN).await? {
                Some(at) => hour_of(at),
                None => end,
            },
        };
        while next < end {
            let Some(at) = self.first_record_at(next).await? else {
                next = end;
                break;
            };
            let hour = hour_of(at);
            if hour >= end {
                next = end;
                break;
            }
            if hour > next {
                // No record in between: those hours are rolled up as they are, empty.
                let mut conn = self.pool.acquire().await?;
                advance(&mut conn, "rolled_up", hour, None).await?;
            }
            self.roll_up_hour(hour).await?;
            run.hours += 1;
            next = hour + HOUR;
        }
        let mut conn = self.pool.acquire().await?;
        advance(&mut conn, "rolled_up", next.min(end), None).await?;
        run.through = self.rollup_marks().await?.rolled_up;
        Ok(run)
    }

    /// Replaces the roll-up of the hour starting at `hour` with the sums of its raw records, and
    /// moves the `rolled_up` mark past it when it is the next one (or there is no mark yet).
    /// Refused for an hour whose raw records were deleted: its roll-up is all that is left.
    pub async fn roll_up_hour(&self, hour: UnixMillis) -> Result<(), StoreError> {
        if hour_of(hour) != hour {
            return Err(StoreError::OutOfRange(format!(
                "{hour} is not the start of an hour"
            )));
        }
        let mut tx = self.pool.begin().await?;
        // The mark first: on PostgreSQL its row lock makes a late batch's reopening of this hour
        // wait for the commit, then move the mark back.
        advance(&mut tx, "rolled_up", hour + HOUR, Some(hour)).await?;
        let deleted: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(through) FROM usage_rollup_marks \
             WHERE name IN ('raw_deleted', 'hourly_deleted')",
        )
        .fetch_one(&mut *tx)
        .await?;
        if deleted.is_some_and(|d| hour < d) {
            return Err(StoreError::OutOfRange(format!(
                "the raw records or the hourly roll-up of the hour at {hour} are deleted: \
                 its roll-up stays as it is"
            )));
        }
        let (from, to) = (hour, hour + HOUR);
        for table in HOUR_TABLES {
            sqlx::query(&format!("DELETE FROM {table} WHERE hour = {from}"))
                .execute(&mut *tx)
                .await?;
        }
        let range = format!("started_at >= {from} AND started_at < {to}");
        let dimensions = "entity_id, team_id, model, use_case, endpoint, error_code";
        let sums = format!(
            "INSERT INTO usage_hourly (hour, {dimensions}, requests, input_tokens, \
             output_tokens, cost_micros, errors, cache_hits) \
             SELECT {from}, {dimensions}, COUNT(*), CAST(SUM(prompt_tokens) AS BIGINT), \
             CAST(SUM(completion_tokens) AS BIGINT), CAST(SUM(cost_micros) AS BIGINT), \
             CAST(SUM(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) AS BIGINT), \
             CAST(SUM(cache_hit) AS BIGINT) \
             FROM usage_records WHERE {range} GROUP BY {dimensions}"
        );
        sqlx::query(&sums).execute(&mut *tx).await?;
        for (latency, column) in [("duration", "duration_ms"), ("ttft", "ttft_ms")] {
            let mut histogram = format!(
                "INSERT INTO latency_hourly (hour, entity_id, model, endpoint, latency, upper_ms, \
                 requests) SELECT {from}, entity_id, model, endpoint, '{latency}', "
            );
            histogram.push_str(&latency_bucket(column));
            let _ = write!(
                histogram,
                ", COUNT(*) FROM usage_records WHERE {range} AND error_code IS NULL \
                 AND {column} IS NOT NULL GROUP BY entity_id, model, endpoint, 6"
            );
            sqlx::query(&histogram).execute(&mut *tx).await?;
        }
        sqlx::query(&per_model("hourly", "hour", from))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Where the next day to roll up starts at the earliest: the end of the last day rolled up,
    /// or, before any, the first rolled-up hour; `None` when nothing is rolled up.
    pub async fn next_day_to_roll_up(&self) -> Result<Option<UnixMillis>, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(day_end) FROM usage_days")
            .fetch_one(&self.pool)
            .await?;
        if last.is_some() {
            return Ok(last);
        }
        Ok(sqlx::query_scalar("SELECT MIN(hour) FROM usage_hourly")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Replaces the daily roll-up of the day `[day, day_end)` (a day of the group's time zone,
    /// whole hours, all rolled up) with the sums of its hourly roll-ups, and lists it in
    /// `usage_days`; a day listed before that overlaps it (the zone changed) goes.
    pub async fn roll_up_day(
        &self,
        day: UnixMillis,
        day_end: UnixMillis,
    ) -> Result<(), StoreError> {
        let marks = self.rollup_marks().await?;
        let through = marks.rolled_up;
        if hour_of(day) != day || hour_of(day_end) != day_end || day >= day_end {
            return Err(StoreError::OutOfRange(format!(
                "[{day}, {day_end}) is not a range of whole hours"
            )));
        }
        if marks.hourly_deleted.is_some_and(|deleted| day < deleted) {
            return Err(StoreError::OutOfRange(format!(
                "the hourly roll-ups before {day_end} are deleted: the day's sums stay as they are"
            )));
        }
        if through.is_none_or(|t| t < day_end) {
            return Err(StoreError::OutOfRange(format!(
                "the hours up to {day_end} are not all rolled up yet"
            )));
        }
        let mut tx = self.pool.begin().await?;
        let overlapping: Vec<i64> =
            sqlx::query_scalar("SELECT day FROM usage_days WHERE day < $1 AND day_end > $2")
                .bind(day_end)
                .bind(day)
                .fetch_all(&mut *tx)
                .await?;
        for old in overlapping.into_iter().chain([day]) {
            for table in DAY_TABLES {
                sqlx::query(&format!("DELETE FROM {table} WHERE day = {old}"))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let range = format!("hour >= {day} AND hour < {day_end}");
        let dimensions = "entity_id, team_id, model, use_case, endpoint, error_code";
        let sums = format!(
            "INSERT INTO usage_daily (day, {dimensions}, requests, input_tokens, output_tokens, \
             cost_micros, errors, cache_hits) \
             SELECT {day}, {dimensions}, CAST(SUM(requests) AS BIGINT), \
             CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT), \
             CAST(SUM(cost_micros) AS BIGINT), CAST(SUM(errors) AS BIGINT), \
             CAST(SUM(cache_hits) AS BIGINT) \
             FROM usage_hourly WHERE {range} GROUP BY {dimensions}"
        );
        sqlx::query(&sums).execute(&mut *tx).await?;
        let latency = "entity_id, model, endpoint, latency, upper_ms";
        let histogram = format!(
            "INSERT INTO latency_daily (day, {latency}, requests) \
             SELECT {day}, {latency}, CAST(SUM(requests) AS BIGINT) \
             FROM latency_hourly WHERE {range} GROUP BY {latency}"
        );
        sqlx::query(&histogram).execute(&mut *tx).await?;
        sqlx::query(&per_model("daily", "day", day))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO usage_days (day, day_end) VALUES ($1, $2)")
            .bind(day)
            .bind(day_end)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.rolled_days.forget();
        Ok(())
    }

    /// Deletes the raw records of every hour that started before `before` and is rolled up, with
    /// the `raw_deleted` mark; the roll-ups stay. On PostgreSQL, a month's partition is dropped
    /// whole once the month is past both, and only the default partition's records (those from
    /// before partitioning) are deleted hour by hour; on SQLite, an hour per transaction.
    pub async fn delete_raw_usage(&self, before: UnixMillis) -> Result<RollupRun, StoreError> {
        let marks = self.rollup_marks().await?;
        let end = hour_of(before).min(marks.rolled_up.unwrap_or(UnixMillis::MIN));
        let mut run = RollupRun {
            hours: 0,
            through: marks.raw_deleted,
        };
        let table = match self.backend() {
            Backend::Postgres => {
                self.drop_usage_partitions(end, &mut run).await?;
                "usage_records_default"
            }
            Backend::Sqlite => "usage_records",
        };
        let mut next = UnixMillis::MIN;
        while next < end {
            let Some(at) = self.first_record_in(table, next).await? else {
                break;
            };
            let hour = hour_of(at);
            if hour >= end {
                break;
            }
            let mut tx = self.pool.begin().await?;
            advance(&mut tx, "raw_deleted", hour + HOUR, None).await?;
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE started_at >= $1 AND started_at < $2"
            ))
            .bind(hour)
            .bind(hour + HOUR)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            run.hours += 1;
            run.through = run.through.max(Some(hour + HOUR));
            next = hour + HOUR;
        }
        self.rolled_days.forget();
        Ok(run)
    }

    /// Deletes the hourly roll-ups of every day summed into the daily roll-ups (listed in
    /// `usage_days`) that ended at or before `before`, a day per transaction with the
    /// `hourly_deleted` mark; the daily rows stay, and so do hours in no summed day. Such a day is
    /// never reopened or summed again: a record stored late for it stays out of the roll-ups.
    pub async fn delete_hourly_rollups(&self, before: UnixMillis) -> Result<RollupRun, StoreError> {
        let marks = self.rollup_marks().await?;
        let mut run = RollupRun {
            hours: 0,
            through: marks.hourly_deleted,
        };
        let days: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT day, day_end FROM usage_days WHERE day >= $1 AND day_end <= $2 ORDER BY day",
        )
        .bind(marks.hourly_deleted.unwrap_or(UnixMillis::MIN))
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        for (day, day_end) in days {
            let mut tx = self.pool.begin().await?;
            advance(&mut tx, "hourly_deleted", day_end, None).await?;
            // Still listed (a late record did not reopen it meanwhile), and held so until commit.
            let listed = sqlx::query(
                "UPDATE usage_days SET day_end = day_end WHERE day = $1 AND day_end = $2",
            )
            .bind(day)
            .bind(day_end)
            .execute(&mut *tx)
            .await?;
            if listed.rows_affected() != 1 {
                break;
            }
            for table in HOUR_TABLES {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE hour >= {day} AND hour < {day_end}"
                ))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            run.hours += u64::try_from((day_end - day) / HOUR).unwrap_or(0);
            run.through = Some(day_end);
        }
        self.rolled_days.forget();
        Ok(run)
    }

    /// PostgreSQL: makes sure the partitions of the month holding `now` and of the next two
    /// exist. A new partition takes over the default partition's records of its month (records
    /// stored with a clock far ahead) in the transaction that attaches it.
    pub async fn prepare_usage_partitions(&self, now: UnixMillis) -> Result<u32, StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(0);
        }
        let mut created = 0;
        let first = month_index(now);
        for month in first..first + 3 {
            let name = partition_name(month);
            let exists: Option<String> = sqlx::query_scalar("SELECT CAST(to_regclass($1) AS TEXT)")
                .bind(&name)
                .fetch_one(&self.pool)
                .await?;
            if exists.is_some() {
                continue;
            }
            let (from, to) = (month_start(month), month_start(month + 1));
            let mut tx = self.pool.begin().await?;
            for sql in [
                format!("CREATE TABLE {name} (LIKE usage_records INCLUDING DEFAULTS)"),
                format!(
                    "WITH moved AS (DELETE FROM usage_records_default \
                     WHERE started_at >= {from} AND started_at < {to} RETURNING *) \
                     INSERT INTO {name} SELECT * FROM moved"
                ),
                format!(
                    "ALTER TABLE usage_records ATTACH PARTITION {name} \
                     FOR VALUES FROM ({from}) TO ({to})"
                ),
            ] {
                sqlx::query(&sql).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            created += 1;
        }
        Ok(created)
    }

    /// PostgreSQL: drops the month partitions that end at or before `end`, each with the
    /// `raw_deleted` mark.
    async fn drop_usage_partitions(
        &self,
        end: UnixMillis,
        run: &mut RollupRun,
    ) -> Result<(), StoreError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(c.relname AS TEXT) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = CAST('usage_records' AS regclass) ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        for name in names {
            let Some(month) = partition_month(&name) else {
                continue;
            };
            let month_end = month_start(month + 1);
            if month_end > end {
                break;
            }
            let mut tx = self.pool.begin().await?;
            advance(&mut tx, "raw_deleted", month_end, None).await?;
            sqlx::query(&format!("DROP TABLE {name}"))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(partition = %name, "a month of raw usage records dropped");
            run.hours += u64::try_from((month_end - month_start(month)) / HOUR).unwrap_or(0);
            run.through = run.through.max(Some(month_end));
        }
        Ok(())
    }

    /// The earliest `started_at` at or after `from`.
    async fn first_record_at(&self, from: UnixMillis) -> Result<Option<UnixMillis>, StoreError> {
        self.first_record_in("usage_records", from).await
    }

    async fn first_record_in(
        &self,
        table: &str,
        from: UnixMillis,
    ) -> Result<Option<UnixMillis>, StoreError> {
        let sql = format!("SELECT MIN(started_at) FROM {table} WHERE started_at >= $1");
        Ok(sqlx::query_scalar(&sql)
            .bind(from)
            .fetch_one(&self.pool)
            .await?)
    }
}

/// The end of what is never rolled up again, as SQL: hours whose raw records or hourly roll-ups
/// are deleted (`hourly_deleted` is a day's end, so days lie wholly before or after it); `NULL`
/// before either.
const FROZEN: &str = "(SELECT MAX(through) FROM usage_rollup_marks \
     WHERE name IN ('raw_deleted', 'hourly_deleted'))";

/// Called in the transaction that stores `records`: when one belongs to an hour already rolled
/// up (a batch stored late: a spill journal replayed, a writer held up), moves the `rolled_up`
/// mark back to that hour so that the next run rolls it up again, unless its raw records or its
/// hourly roll-up are deleted already (the record is then added to the roll-ups that stand).
pub(crate) async fn reopen_hours(
    conn: &mut AnyConnection,
    records: &[UsageRecord],
) -> Result<(), StoreError> {
    let Some(earliest) = records.iter().map(|r| r.started_at).min() else {
        return Ok(());
    };
    sqlx::query(&format!(
        "UPDATE usage_rollup_marks SET through = $1 WHERE name = 'rolled_up' AND through > $1 \
         AND $1 >= COALESCE({FROZEN}, $1)"
    ))
    .bind(hour_of(earliest))
    .execute(&mut *conn)
    .await?;
    // The days holding that hour or later are summed again once their hours are.
    sqlx::query(&format!(
        "DELETE FROM usage_days WHERE day_end > $1 AND $1 >= COALESCE({FROZEN}, $1)"
    ))
    .bind(hour_of(earliest))
    .execute(&mut *conn)
    .await?;
    add_to_standing_rollups(conn, records).await
}

/// Adds each record of an hour never rolled up again to the roll-ups that stand for it instead:
/// the hour's rows while they are kept, and its day's once the day is summed (listed in
/// `usage_days`, which such a day always stays once its hourly rows are deleted). Reports read a
/// summed day from its daily rows and other hours from their hourly rows, never both, so the
/// record counts once, as it does in a report that reads it from raw records.
async fn add_to_standing_rollups(
    conn: &mut AnyConnection,
    records: &[UsageRecord],
) -> Result<(), StoreError> {
    let marks: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, through FROM usage_rollup_marks \
         WHERE name IN ('raw_deleted', 'hourly_deleted')",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mark = |name: &str| marks.iter().find(|(n, _)| n == name).map(|(_, t)| *t);
    let hourly_deleted = mark("hourly_deleted");
    let Some(frozen) = mark("raw_deleted").max(hourly_deleted) else {
        return Ok(());
    };
    let bounds = latency_bounds();
    for record in records.iter().filter(|r| hour_of(r.started_at) < frozen) {
        let hour = hour_of(record.started_at);
        if hourly_deleted.is_none_or(|deleted| hour >= deleted) {
            Standing::Hour(hour).add(conn, record, &bounds).await?;
        }
        Standing::Day(record.started_at)
            .add(conn, record, &bounds)
            .await?;
    }
    Ok(())
}

/// A roll-up a record stored late is added to.
#[derive(Debug, Clone, Copy)]
enum Standing {
    /// The hour starting then.
    Hour(UnixMillis),
    /// The summed day holding that instant, if any.
    Day(UnixMillis),
}

impl Standing {
    /// The tables' suffix and key column, the key's value as SQL, and where it is read from.
    fn target(self) -> (&'static str, &'static str, String, String) {
        match self {
            Standing::Hour(hour) => ("hourly", "hour", hour.to_string(), String::new()),
            Standing::Day(at) => (
                "daily",
                "day",
                "day".to_owned(),
                format!(" FROM usage_days WHERE day <= {at} AND day_end > {at}"),
            ),
        }
    }

    /// Adds `record`'s sums, and for a successful one its latencies' buckets (`bounds`).
    async fn add(
        self,
        conn: &mut AnyConnection,
        record: &UsageRecord,
        bounds: &[i64],
    ) -> Result<(), StoreError> {
        let (unit, key, value, from) = self.target();
        let dimensions = "entity_id, team_id, model, use_case, endpoint, error_code";
        let sums = format!(
            "INSERT INTO usage_{unit} ({key}, {dimensions}, requests, input_tokens, \
             output_tokens, cost_micros, errors, cache_hits) \
             SELECT {value}, CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), \
             CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS TEXT), 1, CAST($7 AS BIGINT), \
             CAST($8 AS BIGINT), CAST($9 AS BIGINT), {errors}, {cache_hit}{from}",
            errors = i64::from(record.error_code.is_some()),
            cache_hit = i64::from(record.cache_hit),
        );
        sqlx::query(&sums)
            .bind(record.entity_id.map(|id| id.to_string()))
            .bind(record.team_id.map(|id| id.to_string()))
            .bind(record.model.as_str())
            .bind(record.use_case.as_deref())
            .bind(record.endpoint.as_deref())
            .bind(record.error_code.as_deref())
            .bind(to_bigint("prompt_tokens", record.prompt_tokens)?)
            .bind(to_bigint("completion_tokens", record.completion_tokens)?)
            .bind(to_bigint("cost_micros", record.cost_micros)?)
            .execute(&mut *conn)
            .await?;
        if record.error_code.is_some() {
            return Ok(());
        }
        let latencies = [
            ("duration", Some(record.duration_ms)),
            ("ttft", record.ttft_ms),
        ];
        for (latency, ms) in latencies {
            let Some(ms) = ms else { continue };
            // The bucket `latency_bucket` gives in SQL: the first bound at or above, capped.
            let upper = bounds[bounds
                .partition_point(|b| *b < i64::from(ms))
                .min(bounds.len() - 1)];
            let histogram = format!(
                "INSERT INTO latency_{unit} ({key}, entity_id, model, endpoint, latency, \
                 upper_ms, requests) SELECT {value}, CAST($1 AS TEXT), CAST($2 AS TEXT), \
                 CAST($3 AS TEXT), '{latency}', {upper}, 1{from}"
            );
            sqlx::query(&histogram)
                .bind(record.entity_id.map(|id| id.to_string()))
                .bind(record.model.as_str())
                .bind(record.endpoint.as_deref())
                .execute(&mut *conn)
                .await?;
            let per_model = format!(
                "INSERT INTO latency_model_{unit} ({key}, model, latency, upper_ms, requests) \
                 SELECT {value}, CAST($1 AS TEXT), '{latency}', {upper}, 1{from}"
            );
            sqlx::query(&per_model)
                .bind(record.model.as_str())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// Months counted from year 0: `year * 12 + month - 1`, UTC.
fn month_index(at: UnixMillis) -> i64 {
    let (year, month) = civil_month(at.div_euclid(DAY));
    year * 12 + month - 1
}

/// The first instant of a month (UTC).
fn month_start(month: i64) -> UnixMillis {
    days_from_civil(month.div_euclid(12), month.rem_euclid(12) + 1) * DAY
}

/// `usage_records_p202611` for November 2026.
fn partition_name(month: i64) -> String {
    format!(
        "usage_records_p{:04}{:02}",
        month.div_euclid(12),
        month.rem_euclid(12) + 1
    )
}

fn partition_month(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("usage_records_p")?;
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, month): (i64, i64) = (digits[..4].parse().ok()?, digits[4..].parse().ok()?);
    (1..=12).contains(&month).then_some(year * 12 + month - 1)
}

/// Days since 1970-01-01 of the first of `month` (1 to 12) of `year`, proleptic Gregorian
/// (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The year and month (1 to 12) of a day counted from 1970-01-01 (`civil_from_days`).
fn civil_month(days: i64) -> (i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted = (5 * day_of_year + 2) / 153;
    let month = if shifted < 10 {
        shifted + 3
    } else {
        shifted - 9
    };
    let year = year_of_era + era * 400;
    (if month <= 2 { year + 1 } else { year }, month)
}

/// Moves a mark forward to `through`, never back; with `contiguous_from`, only when the mark is
/// at or past it already (so no hour in between is counted as done).
async fn advance(
    conn: &mut AnyConnection,
    name: &str,
    through: UnixMillis,
    contiguous_from: Option<UnixMillis>,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO usage_rollup_marks (name, through) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET through = excluded.through \
         WHERE usage_rollup_marks.through < excluded.through{}",
        contiguous_from.map_or(String::new(), |from| format!(
            " AND usage_rollup_marks.through >= {from}"
        ))
    );
    sqlx::query(&sql)
        .bind(name)
        .bind(through)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_at_most_ten_percent_wide() {
        let bounds = latency_bounds();
        assert_eq!(&bounds[..4], &[0, 1, 2, 3]);
        assert_eq!(*bounds.last().unwrap_or(&0), LATENCY_CAP_MS);
        assert!(bounds.len() < 200, "{}", bounds.len());
        for pair in bounds.windows(2) {
            // The lowest value of a bucket is the previous bound + 1.
            let (low, high) = (pair[0] + 1, pair[1]);
            assert!(high == low || high * 10 <= low * 11, "{low}..={high}");
        }
    }

    #[test]
    fn months_are_cut_at_utc_midnight_on_the_first() {
        // 2026-11-01T00:00:00Z, 2026-12-01, 2027-01-01, 2024-02-29 (a leap day).
        let november = month_index(1_793_491_200_000);
        assert_eq!(partition_name(november), "usage_records_p202611");
        assert_eq!(month_start(november), 1_793_491_200_000);
        assert_eq!(month_index(1_793_491_200_000 - 1), november - 1);
        assert_eq!(month_start(november + 1), 1_796_083_200_000);
        assert_eq!(month_start(november + 2), 1_798_761_600_000);
        assert_eq!(month_index(1_709_164_800_000), 2024 * 12 + 1);
        assert_eq!(partition_month("usage_records_p202611"), Some(november));
        assert_eq!(partition_month("usage_records_default"), None);
        assert_eq!(partition_month("usage_records_p202613"), None);
    }

    #[test]
    fn hours_start_on_the_hour_also_before_1970() {
        assert_eq!(hour_of(HOUR + 1), HOUR);
        assert_eq!(hour_of(-1), -HOUR);
    }
}
