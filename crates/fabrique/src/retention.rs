//! The content purge job: every hour, content older than its entity's `[entities.retention] days`
//! is deleted (`retention::ContentStore::purge`, which tests and `POST /admin/v1/retention/purge`
//! call directly with the time they want), on the replica that runs the background jobs
//! (`cluster::Leading`).

use std::sync::Arc;
use std::time::Duration;

use domain::now_millis;
use retention::ContentStore;
use tokio::task::JoinHandle;

use crate::cluster::Leading;

/// How often the purge runs. Retention is counted in days: an hour late is nothing.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Starts the job; it runs until aborted. A failed run is logged and retried at the next tick.
pub fn spawn_purge(content: Arc<ContentStore>, leading: Leading) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !leading.now() {
                continue;
            }
            if let Err(error) = content.purge(now_millis(), retention::SYSTEM_ACTOR).await {
                tracing::error!(%error, "content purge failed");
            }
        }
    })
}
