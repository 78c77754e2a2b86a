//! Keys' and web sessions' last use: the directory notes it in memory on the request path (one
//! atomic per key, at minute precision; one per session); this task stores what changed every
//! [`FLUSH_INTERVAL`], and the server stores the rest at shutdown. A crash loses at most one
//! interval of it. Each write is bounded by the store (`store::STORE_WRITE_TIMEOUT`): a silent
//! database fails it, to be tried again next time, and holds neither this task nor the shutdown.
//! A session's stored last use is what its idle timeout counts from on a replica that has not
//! served it since.

use std::sync::Arc;
use std::time::Duration;

use identity::Directory;
use store::Store;
use tokio::task::JoinHandle;

/// How often last uses are stored.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// Starts the flush task; it runs until aborted.
pub fn spawn_flush(directory: Arc<Directory>, store: Store) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            flush(&directory, &store).await;
        }
    })
}

/// Stores the last uses of keys and web sessions not stored yet, each in one transaction; a
/// failed write is tried again next time, since the directory still holds them as unstored.
pub async fn flush(directory: &Directory, store: &Store) {
    let uses = directory.unstored_key_use();
    if !uses.is_empty() {
        match store.record_key_use(&uses).await {
            Ok(()) => directory.mark_key_use_stored(&uses),
            Err(error) => {
                tracing::warn!(%error, keys = uses.len(), "could not store keys' last use; will retry");
            }
        }
    }
    let uses = directory.unstored_session_use();
    if !uses.is_empty() {
        match store.record_session_use(&uses).await {
            Ok(()) => directory.mark_session_use_stored(&uses),
            Err(error) => {
                tracing::warn!(%error, sessions = uses.len(), "could not store sessions' last use; will retry");
            }
        }
    }
}
