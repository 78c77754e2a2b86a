//! The GPU's shared capacity: decoding slots (at most `capacity` sequences decode at once) and,
//! when configured, KV-cache tokens (each sequence holds its prompt plus its completion). The rest
//! queue, first come first served, so queueing delay under load is as real as on a GPU whose batch
//! or KV cache is full.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::stats::Counters;

/// The decoding slots and the KV cache. tokio's semaphore is fair: waiters are served in FIFO
/// order, even those asking for several permits at once.
#[derive(Debug)]
pub(crate) struct Slots {
    semaphore: Arc<Semaphore>,
    capacity: usize,
    /// KV-cache tokens, one permit each; `None` when the cache is unlimited.
    kv: Option<(Arc<Semaphore>, u32)>,
    counters: Arc<Counters>,
}

/// What one request holds: slots for its sequences and their KV cache. Dropping it (request done,
/// client gone, task aborted) frees both.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    _kv: Option<OwnedSemaphorePermit>,
    sequences: usize,
    kv_tokens: u64,
    counters: Arc<Counters>,
}

/// The semaphore was closed; it never is, but the type says it could be.
#[derive(Debug, thiserror::Error)]
#[error("the simulator's decoding slots are closed")]
pub(crate) struct SlotsClosed;

impl Slots {
    /// `kv_cache_tokens` of zero means an unlimited KV cache.
    pub(crate) fn new(capacity: usize, kv_cache_tokens: u64, counters: Arc<Counters>) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        let kv = (kv_cache_tokens > 0).then(|| {
            // `acquire_many` counts in u32; a bigger cache than 4 billion tokens is as good as unlimited.
            let tokens = u32::try_from(kv_cache_tokens).unwrap_or(u32::MAX);
            let permits = usize::try_from(tokens)
                .unwrap_or(Semaphore::MAX_PERMITS)
                .min(Semaphore::MAX_PERMITS);
            (Arc::new(Semaphore::new(permits)), tokens)
        });
        Slots {
            semaphore: Arc::new(Semaphore::new(capacity)),
            capacity,
            kv,
            counters,
        }
    }

    /// Waits in line for slots for `sequences` sequences (a request with `n` choices decodes `n`)
    /// holding `kv_tokens` of KV cache. A request asking for more than the capacity (or the whole
    /// cache) gets the whole of it rather than waiting forever.
    ///
    /// The KV cache is reserved first, then the slots: a sequence whose memory is ready waits only
    /// for a place in the batch. Both are counted as in use only once both are held, so the stats
    /// describe running sequences.
    pub(crate) async fn acquire(
        &self,
        sequences: usize,
        kv_tokens: u64,
    ) -> Result<Slot, SlotsClosed> {
        let sequences = sequences.clamp(1, self.capacity);
        let permits = u32::try_from(sequences).unwrap_or(u32::MAX);
        let waiting = Waiting::enter(&self.counters);
        let kv = match &self.kv {
            Some((semaphore, total)) => {
                let tokens = u32::try_from(kv_tokens)
                    .unwrap_or(u32::MAX)
                    .clamp(1, *total);
                let permit = Arc::clone(semaphore)
                    .acquire_many_owned(tokens)
                    .await
                    .map_err(|_| SlotsClosed)?;
                Some((permit, u64::from(tokens)))
            }
            None => None,
        };
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
        let (kv_permit, kv_tokens) = match kv {
            Some((permit, tokens)) => (Some(permit), tokens),
            None => (None, kv_tokens),
        };
        let held = self
            .counters
            .kv_tokens_in_use
            .fetch_add(kv_tokens, Ordering::Relaxed)
            + kv_tokens;
        self.counters
            .max_kv_tokens_in_use
            .fetch_max(held, Ordering::Relaxed);
        Ok(Slot {
            _permit: permit,
            _kv: kv_permit,
            sequences,
            kv_tokens,
            counters: Arc::clone(&self.counters),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Counted down before the permits are returned (fields drop after this body), so the
        // in-flight counts can never exceed the capacity, even for an instant.
        self.counters
            .in_flight
            .fetch_sub(self.sequences, Ordering::Relaxed);
        self.counters
            .kv_tokens_in_use
            .fetch_sub(self.kv_tokens, Ordering::Relaxed);
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
