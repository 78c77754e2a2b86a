//! The purge job: every hour, content older than its entity's `[entities.retention] days` is
//! deleted (`retention::ContentStore::purge`, which tests and `POST /admin/v1/retention/purge`
//! call directly with the time they want), and so are library documents older than their
//! library's retention (`knowledge::Libraries::purge_expired`), and files' contents in the
//! database that no file came for (`store::Store::purge_orphan_file_chunks`: an upload a crash cut
//! short, a failed batch's spool), on the replica that runs the background jobs
//! (`cluster::Leading`).

use std::sync::Arc;
use std::time::Duration;

use domain::now_millis;
use retention::ContentStore;
use tokio::task::JoinHandle;

use crate::cluster::Leading;

/// How often the purge runs. Retention is counted in days: an hour late is nothing.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// How old files' contents without a file must be to go: far beyond an upload's longest read.
const ORPHAN_AGE_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Starts the job; it runs until aborted. A failed run is logged and retried at the next tick.
pub fn spawn_purge(
    content: Arc<ContentStore>,
    libraries: Arc<knowledge::Libraries>,
    leading: Leading,
) -> JoinHandle<()> {
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
            let expired = libraries.purge_expired(now_millis(), retention::SYSTEM_ACTOR);
            if let Err(error) = expired.await {
                tracing::error!(%error, "library documents' purge failed");
            }
            let before = now_millis().saturating_sub(ORPHAN_AGE_MILLIS);
            match libraries.store().purge_orphan_file_chunks(before).await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "files' contents no file came for purged"),
                Err(error) => tracing::error!(%error, "files' contents purge failed"),
            }
        }
    })
}
