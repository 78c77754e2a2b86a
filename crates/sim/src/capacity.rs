//! Decoding slots: at most `capacity` sequences decode at once and the rest queue, first come first
//! served, so queueing delay under load is as real as on a GPU with a full batch.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::stats::Counters;

/// The pool of decoding slots. tokio's semaphore is fair: waiters are served in FIFO order, even
/// those asking for several permits at once.
#[derive(Debug)]
pub(crate) struct Slots {
    semaphore: Arc<Semaphore>,
    capacity: usize,
    counters: Arc<Counters>,
}

/// Slots held by one request. Dropping it (request done, client gone, task aborted) frees them.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    sequences: usize,
    counters: Arc<Counters>,
}

/// The semaphore was closed; it never is, but the type says it could be.
#[derive(Debug, thiserror::Error)]
#[error("the simulator's decoding slots are closed")]
pub(crate) struct SlotsClosed;

impl Slots {
    pub(crate) fn new(capacity: usize, counters: Arc<Counters>) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        Slots {
            semaphore: Arc::new(Semaphore::new(capacity)),
            capacity,
            counters,
        }
    }

    /// Waits in line for slots for `sequences` sequences (a request with `n` choices decodes `n`).
    /// A request asking for more than the capacity gets the whole capacity rather than waiting forever.
    pub(crate) async fn acquire(&self, sequences: usize) -> Result<Slot, SlotsClosed> {
        let sequences = sequences.clamp(1, self.capacity);
        let permits = u32::try_from(sequences).unwrap_or(u32::MAX);
        let waiting = Waiting::enter(&self.counters);
        let permit = Arc::clone(&self.semaphore)
            .acquire_many_owned(permits)
            .await
            .map_err(|_| SlotsClosed)?;
        drop(waiting);
        let now = self
            .counters
            .in_flight
            .fetch_add(sequences, Ordering::Relaxed)
            + sequences;
        self.counters
            .max_concurrent
            .fetch_max(now, Ordering::Relaxed);
        Ok(Slot {
            _permit: permit,
            sequences,
            counters: Arc::clone(&self.counters),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Counted down before the permit is returned (fields drop after this body), so the in-flight
        // count can never exceed the capacity, even for an instant.
        self.counters
            .in_flight
            .fetch_sub(self.sequences, Ordering::Relaxed);
    }
}

/// Counts a request in the queue for as long as it waits, including when it gives up waiting.
struct Waiting<'a> {
    counters: &'a Counters,
}

impl<'a> Waiting<'a> {
    fn enter(counters: &'a Counters) -> Self {
        counters.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting { counters }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.counters.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}
