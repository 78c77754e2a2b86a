//! The seat reclaim job: every hour, seats whose holders have been idle longer than
//! `[seats] reclaim_after_days` go back to the pool (`seats::Seats::reclaim`, which tests call
//! directly with the time they want), on the replica that runs the background jobs
//! (`cluster::Leading`).

use std::sync::Arc;
use std::time::Duration;

use domain::now_millis;
use seats::Seats;
use tokio::task::JoinHandle;

use crate::cluster::Leading;

/// How often idle seats are looked for. Reclaiming is measured in days: an hour late is nothing.
pub const RECLAIM_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Starts the job; it runs until aborted.
pub fn spawn_reclaim(seats: Arc<Seats>, leading: Leading) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RECLAIM_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !leading.now() {
                continue;
            }
            let reclaimed = seats.reclaim(now_millis()).await;
            if reclaimed > 0 {
                tracing::info!(reclaimed, "idle seats reclaimed");
            }
        }
    })
}
