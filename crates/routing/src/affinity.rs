//! Prefix affinity: send a prompt to the endpoint that most probably still holds its prefix in its
//! KV cache, unless that endpoint is much busier than another.
//!
//! Engines with prefix caching (vLLM, SGLang) skip the prefill of a prompt's cached leading blocks;
//! a conversation's next turn repeats the whole conversation so far, so sending it where the
//! previous turn went saves most of its prefill. Fabrique cannot see the engines' caches, so it
//! keeps an approximate index of what it routed where: per endpoint, the prompt blocks (`prefix`
//! crate, the simulator's cutting too) of the requests sent there, bounded in number, least
//! recently used forgotten first, as the engine's cache would forget them.
//!
//! **Invariant:** no I/O, no clock; memory is at most `blocks_per_endpoint` blocks per endpoint.

use std::sync::Arc;

use domain::EndpointIdx;
use parking_lot::Mutex;
use prefix::{BlockHash, BlockLru};

/// What routing remembers of the prompts sent to each endpoint, indexed like `Endpoints`.
#[derive(Debug)]
pub struct PrefixIndex {
    /// Shared with the index of the next configuration, for the endpoints it keeps.
    endpoints: Vec<Arc<Mutex<BlockLru>>>,
}

/// One endpoint the affinity choice may pick, with its load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub index: EndpointIdx,
    /// Requests in flight there now.
    pub outstanding: u32,
    /// Concurrent sequences it serves; an endpoint with `outstanding >= capacity` is never chosen.
    pub capacity: u32,
}

/// The default tolerance of the affinity choice: the endpoint holding the prefix may be busier than
/// the least loaded by a quarter of its capacity, no more. A cached prefix saves prefill; a queue on
/// a busy endpoint costs more than that.
pub const DEFAULT_MAX_LOAD_GAP: f64 = 0.25;

impl PrefixIndex {
    /// An empty index for `endpoints` endpoints, each remembering at most `blocks_per_endpoint`
    /// blocks (about 64 tokens each; match it to the engines' cache size where known).
    pub fn new(endpoints: usize, blocks_per_endpoint: usize) -> Self {
        PrefixIndex {
            endpoints: (0..endpoints)
                .map(|_| Arc::new(Mutex::new(BlockLru::new(blocks_per_endpoint))))
                .collect(),
        }
    }

    /// The index of a reloaded endpoint set: `previous[i]` is the position endpoint `i` had in
    /// this index, when it was there already, and keeps what it remembered; the others start
    /// empty.
    pub fn reloaded(&self, previous: &[Option<EndpointIdx>], blocks_per_endpoint: usize) -> Self {
        PrefixIndex {
            endpoints: previous
                .iter()
                .map(|kept| {
                    kept.and_then(|old| self.endpoints.get(old.get()))
                        .map_or_else(
                            || Arc::new(Mutex::new(BlockLru::new(blocks_per_endpoint))),
                            Arc::clone,
                        )
                })
                .collect(),
        }
    }

    /// The candidate holding the longest leading run of `blocks`, and that run's length in blocks;
    /// `None` when no candidate holds even the first block. Ties go to the earlier candidate.
    pub fn best_match(
        &self,
        blocks: &[BlockHash],
        candidates: &[EndpointIdx],
    ) -> Option<(EndpointIdx, usize)> {
        if blocks.is_empty() {
            return None;
        }
        let mut best: Option<(EndpointIdx, usize)> = None;
        for &index in candidates {
            let Some(endpoint) = self.endpoints.get(index.get()) else {
                continue;
            };
            let matched = endpoint.lock().matched(blocks);
            if matched > 0 && best.is_none_or(|(_, longest)| matched > longest) {
                best = Some((index, matched));
            }
        }
        best
    }

    /// Remembers that a prompt of these blocks was sent to `endpoint`.
    pub fn record(&self, endpoint: EndpointIdx, blocks: &[BlockHash]) {
        if let Some(endpoint) = self.endpoints.get(endpoint.get()) {
            endpoint.lock().insert_prompt(blocks);
        }
    }

    /// Forgets what an endpoint held (it restarted, or its circuit opened: its cache is cold).
    pub fn forget(&self, endpoint: EndpointIdx) {
        if let Some(endpoint) = self.endpoints.get(endpoint.get()) {
            endpoint.lock().clear();
        }
    }

    /// Blocks remembered for `endpoint`.
    pub fn len(&self, endpoint: EndpointIdx) -> usize {
        self.endpoints
            .get(endpoint.get())
            .map_or(0, |endpoint| endpoint.lock().len())
    }

    /// Chooses among `candidates`: the one holding the longest cached prefix, unless its load
    /// (outstanding ÷ capacity) exceeds the least-loaded candidate's by more than `max_load_gap`;
    /// otherwise, or with no prefix cached anywhere, the least loaded. Never a candidate at
    /// capacity; `None` when all are.
    pub fn choose(
        &self,
        blocks: &[BlockHash],
        candidates: &[Candidate],
        max_load_gap: f64,
    ) -> Option<EndpointIdx> {
        let open = || candidates.iter().filter(|c| c.outstanding < c.capacity);
        let least_loaded = open().min_by(|a, b| load(a).total_cmp(&load(b)))?;
        let open_indexes: smallvec::SmallVec<[EndpointIdx; 8]> = open().map(|c| c.index).collect();
        let Some((preferred, _)) = self.best_match(blocks, &open_indexes) else {
            return Some(least_loaded.index);
        };
        let preferred_load = open()
            .find(|c| c.index == preferred)
            .map_or(f64::INFINITY, load);
        if preferred_load - load(least_loaded) > max_load_gap {
            Some(least_loaded.index)
        } else {
            Some(preferred)
        }
    }
}

/// Outstanding requests as a fraction of capacity.
fn load(candidate: &Candidate) -> f64 {
    f64::from(candidate.outstanding) / f64::from(candidate.capacity.max(1))
}
