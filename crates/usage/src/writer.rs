//! The writer task of one kind of record: takes what the sinks hand over, journals it at once (for
//! a journaled kind), tells the sinks' waiters, and writes it to the store in batches, one flush
//! interval after a batch's first record. A batch that fails is kept and tried again, with a
//! growing pause and an error each time, for as long as the process runs; only at shutdown does a
//! journaled kind leave its unwritten records to the journal, and a kind without one give up after
//! a few tries.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use store::StoreError;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::journal::{Appended, Journal};
use crate::{FLUSH_INTERVAL, Loss, MAX_BATCH, Record, Shared, Through};

/// The pause after a first failed write, doubled up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);
/// Tries at shutdown for a kind without a journal.
const SHUTDOWN_TRIES: u32 = 5;

/// A batch on its way to the store: the records, and their numbers.
struct Batch<R> {
    records: Vec<R>,
    seqs: Vec<u64>,
    /// The number of its last record as taken, kept when a try finds records stored already.
    last: Option<u64>,
}

impl<R> Batch<R> {
    /// Leaves out the records numbered up to `stored`, which the store holds.
    fn stored_through(&mut self, stored: u64) {
        let held = self.seqs.partition_point(|seq| *seq <= stored);
        self.seqs.drain(..held);
        self.records.drain(..held);
    }
}

type Write<R> = Pin<Box<dyn Future<Output = (Batch<R>, Result<(), StoreError>)> + Send>>;

pub(crate) struct Task<R: Record> {
    pub target: R::Target,
    pub rx: mpsc::Receiver<(u64, R)>,
    pub journal: Option<Journal<R>>,
    pub shared: Arc<Shared>,
    /// Records read back from the journal at start, and then what waits for the store.
    pub pending: VecDeque<(u64, R)>,
}

impl<R: Record> Task<R> {
    pub(crate) async fn run(mut self) {
        let mut incoming = Vec::with_capacity(MAX_BATCH);
        let mut writing: Option<Write<R>> = None;
        let mut due = (!self.pending.is_empty()).then(Instant::now);
        let mut pause = FIRST_PAUSE;
        let mut failures = 0_u32;
        // Failed tries since the sinks went away.
        let mut closing_failures = 0_u32;
        let mut open = true;
        loop {
            let done = self.pending.is_empty() || self.gives_up(closing_failures);
            if !open && writing.is_none() && done {
                break;
            }
            tokio::select! {
                received = self.rx.recv_many(&mut incoming, MAX_BATCH), if open => {
                    if received == 0 {
                        open = false;
                        due = Some(Instant::now());
                        continue;
                    }
                    self.take(&mut incoming);
                    if due.is_none() && !self.pending.is_empty() {
                        due = Some(Instant::now() + FLUSH_INTERVAL);
                    }
                }
                (batch, result) = wait(&mut writing), if writing.is_some() => {
                    writing = None;
                    match result {
                        Ok(()) => {
                            pause = FIRST_PAUSE;
                            failures = 0;
                            self.shared.failed(0);
                            if let (Some(journal), Some(last)) = (self.journal.as_mut(), batch.last) {
                                journal.retire(last);
                            }
                            due = (!self.pending.is_empty()).then(Instant::now);
                        }
                        Err(error) => {
                            failures += 1;
                            closing_failures += u32::from(!open);
                            self.shared.failed(failures);
                            tracing::error!(
                                %error,
                                kind = R::KIND,
                                records = batch.records.len(),
                                failures,
                                retry_in_ms = pause.as_millis() as u64,
                                "batch not written; kept and tried again"
                            );
                            for numbered in batch.seqs.into_iter().zip(batch.records).rev() {
                                self.pending.push_front(numbered);
                            }
                            due = Some(Instant::now() + pause);
                            pause = (pause * 2).min(LONGEST_PAUSE);
                        }
                    }
                }
                () = sleep_until(due), if writing.is_none() && due.is_some() => {
                    due = None;
                    if !self.pending.is_empty() {
                        writing = Some(self.write(failures > 0));
                    }
                }
            }
        }
        self.finish();
    }

    /// Journals what arrived and tells the waiters; keeps it for the store unless it is lost.
    fn take(&mut self, incoming: &mut Vec<(u64, R)>) {
        let Some((last, _)) = incoming.last() else {
            return;
        };
        let last = *last;
        let appended = match self.journal.as_mut() {
            Some(journal) => journal.append(incoming),
            None => Appended::Written,
        };
        let room = R::QUEUE_CAPACITY.saturating_sub(self.pending.len());
        let lost = match appended {
            Appended::Written => None,
            Appended::Full => Some(Loss::JournalFull),
            Appended::Failed(error) => {
                tracing::error!(%error, kind = R::KIND, "journal not written");
                Some(Loss::JournalFailed)
            }
        };
        match lost {
            // A full journal keeps nothing more: what it holds waits for the store.
            Some(Loss::JournalFull) => self.lose(Loss::JournalFull, incoming.len()),
            // Not journaled, still kept in memory for the store, within the queue's bound.
            Some(loss) => {
                self.shared.lost(loss, incoming.len());
                self.keep(incoming, room);
            }
            None => self.keep(incoming, room),
        }
        incoming.clear();
        self.shared.settle(last);
    }

    fn keep(&mut self, incoming: &mut Vec<(u64, R)>, room: usize) {
        if incoming.len() > room {
            self.lose(Loss::QueueFull, incoming.len() - room);
        }
        self.pending.extend(incoming.drain(..).take(room));
    }

    fn lose(&self, loss: Loss, records: usize) {
        self.shared.lost(loss, records);
        tracing::error!(
            kind = R::KIND,
            records,
            reason = loss.as_str(),
            "records lost"
        );
    }

    /// Starts writing the oldest pending records, up to a batch. After a failed try (`again`), a
    /// journaled kind first reads its mark: a try whose answer was lost may have been stored.
    fn write(&mut self, again: bool) -> Write<R> {
        let take = self.pending.len().min(MAX_BATCH);
        let (seqs, records): (Vec<u64>, Vec<R>) = self.pending.drain(..take).unzip();
        let last = seqs.last().copied();
        let mut batch = Batch {
            records,
            seqs,
            last,
        };
        let mut through = None;
        if let Some(journal) = self.journal.as_mut() {
            // The whole journal goes to the store: new records start a segment of their own,
            // so the present ones can go once it is written.
            if journal.last() == last {
                journal.rotate();
            }
            journal.sync();
            through = last.map(|seq| Through {
                mark: Arc::clone(journal.mark()),
                seq,
            });
        }
        let target = self.target.clone();
        Box::pin(async move {
            let attempt = async {
                if let (true, Some(through)) = (again, &through) {
                    batch.stored_through(R::mark(&target, &through.mark).await?);
                }
                match batch.records.is_empty() {
                    true => Ok(()),
                    false => R::write(&target, &batch.records, through).await,
                }
            };
            // Dropped unanswered, the try leaves the batch whole; the mark read before the next
            // one tells whether it was stored.
            let result = store::answered_in_time(attempt).await;
            (batch, result)
        })
    }

    /// At shutdown, after `failures` tries: the journal keeps what is left for the next start.
    fn gives_up(&self, failures: u32) -> bool {
        let tries = if self.journal.is_some() {
            1
        } else {
            SHUTDOWN_TRIES
        };
        failures >= tries
    }

    /// At shutdown: what the store did not take stays in the journal, or is lost and counted.
    fn finish(&mut self) {
        self.shared.settle(u64::MAX);
        if self.pending.is_empty() {
            return;
        }
        match self.journal {
            Some(_) => tracing::warn!(
                kind = R::KIND,
                records = self.pending.len(),
                "records left in the journal for the next start"
            ),
            None => self.lose(Loss::StoreUnavailable, self.pending.len()),
        }
    }
}

async fn wait<R>(writing: &mut Option<Write<R>>) -> (Batch<R>, Result<(), StoreError>) {
    match writing {
        Some(write) => write.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
