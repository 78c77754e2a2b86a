//! Usage records: handed over on the request path without waiting, written to the store in batches
//! by one background task.
//!
//! Durability bound: a record is in memory from the moment the request finishes until the next batch
//! commits, at most [`FLUSH_INTERVAL`] later (plus the time of one write). A crash of the process loses
//! at most the records of that window; a clean shutdown flushes everything.

use std::time::Duration;

use domain::UsageRecord;
use store::Store;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Longest time a finished request's record waits in memory before its batch is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// Largest batch written in one transaction.
const MAX_BATCH: usize = 2_000;

/// Records buffered between the request path and the writer; beyond this, records are dropped and
/// counted rather than letting memory grow without bound when the database stalls.
const QUEUE_CAPACITY: usize = 200_000;

/// The request path's handle: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<UsageRecord>,
}

/// The background writer; `shutdown` flushes what is queued and waits for it.
#[derive(Debug)]
pub struct UsageWriter {
    task: JoinHandle<()>,
}

impl UsageSink {
    /// Queues a record. Returns false when the queue is full or the writer is gone (the record is lost).
    pub fn record(&self, record: UsageRecord) -> bool {
        self.tx.try_send(record).is_ok()
    }
}

/// Starts the writer task for `store`.
pub fn start(store: Store) -> (UsageSink, UsageWriter) {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let task = tokio::spawn(write_batches(store, rx));
    (UsageSink { tx }, UsageWriter { task })
}

impl UsageWriter {
    /// Waits until every record queued by now-dropped sinks is written. Call after the server stops.
    pub async fn shutdown(self) {
        let _ = self.task.await;
    }
}

async fn write_batches(store: Store, mut rx: mpsc::Receiver<UsageRecord>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // Wait for the first record, then gather for at most one flush interval.
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + FLUSH_INTERVAL;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(record)) => batch.push(record),
                Ok(None) | Err(_) => break,
            }
        }
        write_with_retry(&store, &mut batch).await;
    }
}

/// Writes a batch, retrying a transient database failure a few times before giving the batch up.
async fn write_with_retry(store: &Store, batch: &mut Vec<UsageRecord>) {
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=5 {
        match store.insert_usage(batch).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(error) => {
                tracing::warn!(%error, attempt, records = batch.len(), "usage batch write failed");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    tracing::error!(
        records = batch.len(),
        "usage batch lost after repeated write failures"
    );
    batch.clear();
}
