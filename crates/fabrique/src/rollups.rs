//! The usage roll-up job: every five minutes, on the replica that runs the background jobs
//! (`cluster::Leading`), the hours closed at least ten minutes ago are rolled up
//! (`store::Store::roll_up_usage`: reports, chargeback and entity budgets read the roll-ups), the
//! days of the group's time zone whose hours are all rolled up are summed into daily roll-ups
//! (`store::Store::roll_up_day`, what month-long reports read), then,
//! with `[retention] raw_usage_days`, raw records older than that are deleted, only from hours
//! already rolled up (`store::Store::delete_raw_usage`). A record stored after its hour was rolled
//! up moves the roll-up mark back in its own transaction, so the next run counts it.

use std::time::Duration;

use domain::{UnixMillis, now_millis};
use reports::Zone;
use store::{Store, StoreError};
use tokio::task::JoinHandle;

use crate::cluster::Leading;

/// How often the job runs.
pub const ROLLUP_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// How long after its end an hour is rolled up: the batch writer stores records within seconds,
/// and what comes later (a spill journal replayed) reopens the hour.
pub const ROLLUP_DELAY_MS: UnixMillis = 10 * 60 * 1000;

const DAY_MS: UnixMillis = 86_400_000;

/// Days summed in one run at most (a first run over years of records takes a few runs).
const DAYS_PER_RUN: usize = 400;

/// Starts the job; it runs until aborted. A failed run is logged and retried at the next tick.
pub fn spawn_rollups(
    store: Store,
    zone: Zone,
    raw_usage_days: Option<u32>,
    leading: Leading,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ROLLUP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if leading.now() {
                run(&store, &zone, raw_usage_days, now_millis()).await;
            }
        }
    })
}

/// One run at `now`: create the coming months' partitions (PostgreSQL), roll up hours, then
/// days, then delete what is past `raw_usage_days`.
pub async fn run(store: &Store, zone: &Zone, raw_usage_days: Option<u32>, now: UnixMillis) {
    match store.prepare_usage_partitions(now).await {
        Ok(0) => {}
        Ok(created) => tracing::info!(created, "usage records' month partitions created"),
        Err(error) => tracing::error!(%error, "creating usage records' month partitions failed"),
    }
    match store.roll_up_usage(now - ROLLUP_DELAY_MS).await {
        Ok(run) if run.hours > 0 => {
            tracing::info!(hours = run.hours, through = run.through, "usage rolled up");
        }
        Ok(_) => {}
        Err(error) => {
            tracing::error!(%error, "usage roll-up failed");
            return;
        }
    }
    match roll_up_days(store, zone).await {
        Ok(0) => {}
        Ok(days) => tracing::info!(days, "daily usage rolled up"),
        Err(error) => tracing::error!(%error, "daily usage roll-up failed"),
    }
    let Some(days) = raw_usage_days else {
        return;
    };
    match store.delete_raw_usage(now - i64::from(days) * DAY_MS).await {
        Ok(run) if run.hours > 0 => {
            tracing::info!(
                hours = run.hours,
                through = run.through,
                "raw usage records deleted"
            );
        }
        Ok(_) => {}
        Err(error) => tracing::error!(%error, "raw usage records' deletion failed"),
    }
}

/// Sums every day of `zone` whose hours are all rolled up and that is not summed yet; days that
/// are not whole hours (zones half an hour off UTC) are left to the hourly roll-ups.
async fn roll_up_days(store: &Store, zone: &Zone) -> Result<usize, StoreError> {
    let (Some(from), Some(through)) = (
        store.next_day_to_roll_up().await?,
        store.rollup_marks().await?.rolled_up,
    ) else {
        return Ok(0);
    };
    let whole_hours = |at: UnixMillis| at.rem_euclid(3_600_000) == 0;
    let mut done = 0;
    for (day, end) in zone.whole_days(from, through, DAYS_PER_RUN) {
        if whole_hours(day) && whole_hours(end) {
            store.roll_up_day(day, end).await?;
            done += 1;
        }
    }
    Ok(done)
}
