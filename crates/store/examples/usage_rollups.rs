//! Fills PostgreSQL with a month of usage records by SQL `generate_series` (100,000 users in 40
//! entities and 400 teams, 6 models on 3 endpoints, 50 use cases, 1 % errors, spread evenly over
//! November 2026 in Europe/Paris), then times the month's chargeback and a 30-day chart per model
//! with the same store calls the admin API makes (`usage_groups`, with the bounds and buckets of
//! `reports::Zone`): first from raw records, then after the roll-ups the background job makes
//! (`roll_up_usage`, and `roll_up_day` for each day of the zone). For `bench/usage-rollups.sh`:
//!
//! `BENCH_POSTGRES_URL=postgres://… RECORDS=10000000 cargo run --release -p store --example usage_rollups`
//!
//! The records are kept between runs when their count is `RECORDS` (`FRESH=1` fills again).

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark tool")]

use std::time::{Duration, Instant};

use reports::{Interval, Month, Zone};
use sqlx::Row;
use store::{Store, UsageDimension, UsageSelection};

/// Records inserted per statement.
const CHUNK: i64 = 1_000_000;
/// Timed runs of each report.
const RUNS: usize = 5;

#[tokio::main]
async fn main() {
    let url = std::env::var("BENCH_POSTGRES_URL").expect("BENCH_POSTGRES_URL");
    let records: i64 = std::env::var("RECORDS")
        .map_or(Ok(10_000_000), |n| n.parse())
        .expect("RECORDS must be a number");
    let fresh = std::env::var("FRESH").is_ok_and(|v| v == "1");
    let zone = Zone::new("Europe/Paris").unwrap();
    let month = Month::parse("2026-11").unwrap();
    let (from, to) = zone.month_bounds(month).unwrap();

    let store = Store::connect(&url).await.unwrap();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM usage_records")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("n");
    if fresh || count != records {
        for table in [
            "usage_records",
            "usage_hourly",
            "latency_hourly",
            "latency_model_hourly",
            "usage_daily",
            "latency_daily",
            "latency_model_daily",
            "usage_days",
            "usage_rollup_marks",
        ] {
            sqlx::query(&format!("TRUNCATE {table}"))
                .execute(&pool)
                .await
                .unwrap();
        }
        let started = Instant::now();
        let mut first = 1;
        while first <= records {
            let last = (first + CHUNK - 1).min(records);
            sqlx::query(&fill(first, last, records, from, to))
                .execute(&pool)
                .await
                .unwrap();
            eprintln!(
                "filled {last} of {records} records ({:.0?})",
                started.elapsed()
            );
            first = last + 1;
        }
        sqlx::query("ANALYZE usage_records")
            .execute(&pool)
            .await
            .unwrap();
        println!("fill\t{records} records\t{:.1} s", secs(started.elapsed()));
    }

    let chart = zone.buckets(Interval::Day, from, to).unwrap();
    let month_selection = UsageSelection {
        from,
        to,
        entity: None,
    };
    let reports = [("chargeback", None), ("chart_30_days", Some(&chart[..]))];
    let measure = async |label: &str| {
        for (name, buckets) in reports {
            let mut times = Vec::with_capacity(RUNS);
            let mut lines = 0;
            for _ in 0..RUNS {
                let started = Instant::now();
                lines = report(&store, &month_selection, buckets).await;
                times.push(started.elapsed());
            }
            times.sort_unstable();
            println!(
                "{label}\t{name}\t{lines} lines\tmedian {:.3} s\tmax {:.3} s",
                secs(times[RUNS / 2]),
                secs(times[RUNS - 1])
            );
        }
    };
    if store.rollup_marks().await.unwrap().rolled_up.is_none() {
        measure("raw").await;
        let started = Instant::now();
        let run = store.roll_up_usage(to).await.unwrap();
        println!(
            "roll_up_hours\t{} hours\t{:.1} s",
            run.hours,
            secs(started.elapsed())
        );
        let started = Instant::now();
        let days = zone.whole_days(from, to, 400);
        for (day, end) in &days {
            store.roll_up_day(*day, *end).await.unwrap();
        }
        println!(
            "roll_up_days\t{} days\t{:.1} s",
            days.len(),
            secs(started.elapsed())
        );
        for table in [
            "usage_hourly",
            "latency_hourly",
            "latency_model_hourly",
            "usage_daily",
            "latency_daily",
            "latency_model_daily",
        ] {
            sqlx::query(&format!("ANALYZE {table}"))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    measure("rolled_up").await;
    for table in [
        "usage_records",
        "usage_hourly",
        "latency_hourly",
        "latency_model_hourly",
        "usage_daily",
        "latency_daily",
        "latency_model_daily",
    ] {
        // A partitioned table's size is its partitions'.
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) AS n, CAST(pg_total_relation_size('{table}') + COALESCE((SELECT \
             SUM(pg_total_relation_size(inhrelid)) FROM pg_inherits \
             WHERE inhparent = CAST('{table}' AS regclass)), 0) AS BIGINT) AS bytes FROM {table}"
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        let (rows, bytes): (i64, i64) = (row.get("n"), row.get("bytes"));
        println!("size\t{table}\t{rows} rows\t{} MB", bytes / 1_000_000);
    }
}

/// What the admin API asks for the report: the chargeback's lines and the pool's totals, or the
/// chart's groups per bucket and the totals. Returns the number of lines.
async fn report(store: &Store, selection: &UsageSelection, buckets: Option<&[i64]>) -> usize {
    let dimensions = match buckets {
        None => vec![
            UsageDimension::Entity,
            UsageDimension::Team,
            UsageDimension::Model,
            UsageDimension::UseCase,
        ],
        Some(_) => vec![UsageDimension::Model],
    };
    let lines = store
        .usage_groups(selection, &dimensions, buckets, 100_001)
        .await
        .unwrap();
    let whole = store.usage_groups(selection, &[], None, 1).await.unwrap();
    assert_eq!(
        lines.iter().map(|g| g.totals.requests).sum::<u64>(),
        whole[0].totals.requests
    );
    lines.len()
}

/// Records `first..=last` of `total`, evenly spread over `[from, to)`: user `u` is in entity
/// `u % 40` and team `u % 400`, uses one or two models, the team's use case (none for a fifth of
/// teams), one request in a hundred fails.
fn fill(first: i64, last: i64, total: i64, from: i64, to: i64) -> String {
    format!(
        "INSERT INTO usage_records (request_id, started_at, entity_id, user_id, key_id, \
         operation, model, endpoint, stream, prompt_tokens, completion_tokens, cost_micros, \
         ttft_ms, duration_ms, status, error_code, attempts, team_id, use_case, usage_estimated, \
         cache_hit) \
         SELECT 'req_' || g, {from} + (g - 1) * ({to} - {from}) / {total}, 'ent_' || (u % 40), \
           'usr_' || u, 'key_' || u, 'chat', \
           (ARRAY['mistral-small', 'mistral-large', 'llama-70b', 'qwen-32b', 'codestral', \
             'mixtral'])[1 + m], 'gpu-' || (m % 3), 0, p, c, p * 2 + c * 6, \
           CASE WHEN e THEN NULL ELSE 150 + g % 700 END, \
           CASE WHEN e THEN 30000 ELSE 400 + (g * 37) % 9000 END, \
           CASE WHEN e THEN 502 ELSE 200 END, \
           CASE WHEN e THEN 'upstream_error' END, 1, 'team_' || (u % 400), \
           CASE WHEN u % 400 % 5 = 0 THEN NULL ELSE 'uc-' || (u % 400 % 50) END, 0, 0 \
         FROM (SELECT g, u, (u + CASE WHEN g % 3 = 0 THEN 1 ELSE 0 END) % 6 AS m, \
                 200 + g % 1800 AS p, 50 + (g * 7) % 600 AS c, g % 100 = 0 AS e \
               FROM (SELECT g, (g * 7919) % 100000 AS u \
                     FROM generate_series({first}::bigint, {last}::bigint) AS g) AS users) AS s"
    )
}

fn secs(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64()
}
