//! Records that leave the request path without waiting: usage records (one per request) and the
//! audit events the request path raises (access decisions). Each kind is handed to a [`Sink`] and
//! written to the store in batches by one background task.
//!
//! Durability bound: a record is in memory from the moment it is handed over until the next batch
//! commits, at most [`FLUSH_INTERVAL`] later (plus the time of one write). A crash of the process loses
//! at most the records of that window; a clean shutdown flushes everything.
//!
//! # In detail
//!
//! Records that leave the request path without waiting: usage records (`UsageSink`) and the audit events
//! the request path raises (`AuditSink`), each kind through its own channel and batch writer (`Record`
//! says how a kind is stored). **Invariant:** `Sink::record` never waits; a record reaches the store
//! within `FLUSH_INTERVAL` (200 ms) plus the write in progress and its own batch's, which bounds what a
//! crash loses. **Durability:** the gateway hands a request's record over before it answers; a batch
//! is one transaction, and SQLite runs in WAL mode with `synchronous=NORMAL`, so a committed batch
//! survives a crash of the process (not necessarily a power loss: PostgreSQL for that). The documented
//! bound is one second: after a `kill -9` under load, every request answered more than a second before
//! the kill has its usage record (and its audit event), and the database is intact
//! (`fabrique/tests/it/durability.rs` checks it on the real binary, with `PRAGMA integrity_check`,
//! the migrations table and `fabrique audit verify`). A clean shutdown writes everything. A `Record`
//! names its write target (`Record::Target`: the store, or `retention::ContentStore` for content) and
//! may shorten its queue (`Record::QUEUE_CAPACITY`). The writer wakes for a batch's first record, sleeps
//! one interval, then takes everything queued: handing a record over wakes no other thread while a
//! batch gathers. `store::insert_usage` writes a batch with power-of-two INSERTs of at most 256 rows
//! (`store::multi_row`), prepared once per connection; `store::last_seen` writes keys' last use and users' last activity as
//! one UPDATE per 500 rows joined to a VALUES list.

use std::future::Future;
use std::time::Duration;

use domain::{AuditEvent, UsageRecord};
use store::{Store, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Longest time a record waits in memory before its batch is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// Largest batch written in one transaction.
const MAX_BATCH: usize = 2_000;

/// Records buffered between the request path and the writer; beyond this, records are dropped and
/// counted rather than letting memory grow without bound when the database stalls.
const QUEUE_CAPACITY: usize = 200_000;

/// A kind of record the writer knows how to store, all or nothing per batch.
pub trait Record: Send + Sync + Sized + 'static {
    /// Names the kind in logs.
    const KIND: &'static str;
    /// Records buffered between the request path and the writer.
    const QUEUE_CAPACITY: usize = QUEUE_CAPACITY;
    /// What the writer writes through: the store, or something holding it (and keys, say).
    type Target: Send + Sync + 'static;
    fn write(
        target: &Self::Target,
        batch: &[Self],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl Record for UsageRecord {
    const KIND: &'static str = "usage";
    type Target = Store;
    fn write(store: &Store, batch: &[Self]) -> impl Future<Output = Result<(), StoreError>> + Send {
        store.insert_usage(batch)
    }
}

impl Record for AuditEvent {
    const KIND: &'static str = "audit";
    type Target = Store;
    fn write(store: &Store, batch: &[Self]) -> impl Future<Output = Result<(), StoreError>> + Send {
        store.append_audit_batch(batch)
    }
}

impl Record for domain::Feedback {
    const KIND: &'static str = "feedback";
    type Target = Store;
    fn write(store: &Store, batch: &[Self]) -> impl Future<Output = Result<(), StoreError>> + Send {
        store.insert_feedback(batch)
    }
}

/// The request path's handle: cheap to clone, never blocks.
#[derive(Debug)]
pub struct Sink<R> {
    tx: mpsc::Sender<R>,
}

impl<R> Clone for Sink<R> {
    fn clone(&self) -> Self {
        Sink {
            tx: self.tx.clone(),
        }
    }
}

pub type UsageSink = Sink<UsageRecord>;
pub type AuditSink = Sink<AuditEvent>;
pub type FeedbackSink = Sink<domain::Feedback>;

/// The background writer; `shutdown` flushes what is queued and waits for it.
#[derive(Debug)]
pub struct Writer {
    task: JoinHandle<()>,
}

impl<R: Record> Sink<R> {
    /// Queues a record. Returns false when the queue is full or the writer is gone (the record is lost).
    pub fn record(&self, record: R) -> bool {
        self.tx.try_send(record).is_ok()
    }
}

/// Starts the writer task of one kind of record, writing through `target`.
pub fn start_writer<R: Record>(target: R::Target) -> (Sink<R>, Writer) {
    let (tx, rx) = mpsc::channel(R::QUEUE_CAPACITY);
    let task = tokio::spawn(write_batches(target, rx));
    (Sink { tx }, Writer { task })
}

impl Writer {
    /// Waits until every record queued by now-dropped sinks is written. Call after the server stops.
    pub async fn shutdown(self) {
        let _ = self.task.await;
    }
}

async fn write_batches<R: Record>(target: R::Target, mut rx: mpsc::Receiver<R>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut backlog = false;
    loop {
        // Wait for the first record, then let one flush interval's records gather in the channel
        // and take them at once: the writer wakes once per batch, not once per request, so the
        // request path's hand-over wakes no other thread while a batch is gathering. A backlog
        // left by a full batch is written without waiting again.
        if !backlog {
            let Some(first) = rx.recv().await else { break };
            batch.push(first);
            tokio::time::sleep(FLUSH_INTERVAL).await;
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(record) => batch.push(record),
                // Empty, or every sink gone: what is left was taken.
                Err(_) => break,
            }
        }
        backlog = !rx.is_empty();
        if !batch.is_empty() {
            write_with_retry(&target, &mut batch).await;
        }
    }
}

/// Writes a batch, retrying a transient database failure a few times before giving the batch up.
async fn write_with_retry<R: Record>(target: &R::Target, batch: &mut Vec<R>) {
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=5 {
        match R::write(target, batch).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(error) => {
                tracing::warn!(%error, attempt, kind = R::KIND, records = batch.len(), "batch write failed");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    tracing::error!(
        kind = R::KIND,
        records = batch.len(),
        "batch lost after repeated write failures"
    );
    batch.clear();
}

#[cfg(test)]
mod tests {
    use domain::{Operation, UsageRecord, now_millis};

    use super::*;

    fn record(index: usize) -> UsageRecord {
        UsageRecord {
            request_id: format!("req-{index}"),
            client_request_id: None,
            started_at: now_millis(),
            entity_id: None,
            user_id: None,
            service_account_id: None,
            key_id: None,
            team_id: None,
            use_case: None,
            use_case_version: None,
            operation: Operation::Chat,
            model: "mistral-small".into(),
            endpoint: None,
            stream: false,
            prompt_tokens: 1,
            completion_tokens: 1,
            cost_micros: 0,
            ttft_ms: None,
            duration_ms: 1,
            status: 200,
            error_code: None,
            attempts: 1,
            classification: None,
            hosting: None,
            usage_estimated: false,
        }
    }

    #[tokio::test]
    async fn more_than_a_batch_is_written_whole_and_a_clean_shutdown_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_dir(dir.path()).await.unwrap();
        let (sink, writer) = start_writer::<UsageRecord>(store.clone());
        let handed = 2 * MAX_BATCH + 7;
        for index in 0..handed {
            assert!(sink.record(record(index)));
        }
        drop(sink);
        writer.shutdown().await;
        let stored = store.list_usage(u32::MAX).await.unwrap();
        assert_eq!(stored.len(), handed);
    }
}
