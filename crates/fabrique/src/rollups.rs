//! The usage roll-up job: every five minutes, on the replica that runs the background jobs
//! (`cluster::Leading`), the hours closed at least ten minutes ago are rolled up
//! (`store::Store::roll_up_usage`: reports, chargeback and entity budgets read the roll-ups), the
//! days of the group's time zone whose hours are all rolled up are summed into daily roll-ups
//! (`store::Store::roll_up_day`, what month-long reports read), then,
//! with `[retention] raw_usage_days`, raw records older than that are deleted, only from hours
//! already rolled up (`store::Store::delete_raw_usage`), and with `[retention]
//! hourly_rollup_days`, hourly roll-ups of days summed into daily ones and older than that
//! (`store::Store::delete_hourly_rollups`). A record stored after its hour was rolled up moves the
//! roll-up mark back in its own transaction, so the next run counts it.

use std::time::Duration;

use configuration::RetentionConfig;
use domain::{UnixMillis, now_millis};
use reports::Zone;
use store::{RollupRun, Store, StoreError};
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

/// How long usage is kept in detail (`[retention]`): raw records and hourly roll-ups.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kept {
    pub raw_usage_days: Option<u32>,
    pub hourly_rollup_days: Option<u32>,
}

impl From<&RetentionConfig> for Kept {
    fn from(retention: &RetentionConfig) -> Self {
        Kept {
            raw_usage_days: retention.raw_usage_days,
            hourly_rollup_days: retention.hourly_rollup_days,
        }
    }
}

/// Starts the job; it runs until aborted. A failed run is logged and retried at the next tick.
pub fn spawn_rollups(store: Store, zone: Zone, kept: Kept, leading: Leading) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ROLLUP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if leading.now() {
                run(&store, &zone, kept, now_millis()).await;
            }
        }
    })
}

/// One run at `now`: create the coming months' partitions (PostgreSQL), roll up hours, then
/// days, then delete what is past `kept`'s periods.
pub async fn run(store: &Store, zone: &Zone, kept: Kept, now: UnixMillis) {
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
    let before = |days: u32| now - i64::from(days) * DAY_MS;
    if let Some(days) = kept.raw_usage_days {
        let deleted = store.delete_raw_usage(before(days)).await;
        report_deletion(deleted, "raw usage records");
    }
    if let Some(days) = kept.hourly_rollup_days {
        let deleted = store.delete_hourly_rollups(before(days)).await;
        report_deletion(deleted, "hourly usage roll-ups");
    }
}

fn report_deletion(deleted: Result<RollupRun, StoreError>, what: &'static str) {
    match deleted {
        Ok(run) if run.hours > 0 => {
            tracing::info!(hours = run.hours, through = run.through, "{what} deleted");
        }
        Ok(_) => {}
        Err(error) => tracing::error!(%error, "{what}' deletion failed"),
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
