//! Endpoint selection and health: which endpoint gets the next attempt.
//!
//! Every endpoint has an in-memory state: outstanding requests and a circuit breaker fed by passive
//! observations (each attempt's outcome) and active health checks. A configuration reload builds
//! a new set with [`Endpoints::reloaded`]: an endpoint that keeps its name and its server (engine
//! and URL, [`Server`]) keeps that state (its circuit, and the requests in flight on it, counted
//! by the leases of either set); a new one starts closed and idle, and so does one whose name
//! now points at another server — that is another endpoint, whose circuit and load say nothing
//! of the old one's. A removed or moved one lives on in the old set, for the requests that still
//! hold it, until they finish. Once the new set is in force, [`Endpoints::retire_absent`] marks
//! the removed and moved ones retired, in every set that holds them: no request is sent there
//! any more, not even one that began under the old set and waited for a sequence while it was
//! replaced.
//! Selection picks, among the
//! candidates the caller passes (a model's endpoints, already filtered for clearance), a healthy one
//! with the fewest outstanding requests per unit of weight. `affinity` adds a preference for the
//! endpoint that probably holds a prompt's prefix in its cache (`PrefixIndex`,
//! `Endpoints::pick_with_prefix`). Nothing here does I/O or holds a lock for longer than a few
//! field updates (a prefix lookup walks a prompt's blocks under one endpoint's lock).
//!
//! # Replicas sharing endpoints
//!
//! With Redis, replicas share each endpoint's capacity (crate `counters`, `allotment`): after
//! `start_allotting`, this process may use only its allotment of an endpoint (`allot`), no
//! endpoint is chosen at it (by `pick` as by `pick_with_prefix`; a lease is taken by compare and
//! increment, so requests racing for the last sequence never overshoot), and
//! `available_capacity` gives both what the endpoints serve and what of it is usable here.
//! `holding` tells the renewal what this process may be using until it applies a new allotment.
//!
//! # Prefix affinity
//!
//! **Prefix affinity** (`affinity.rs`): `PrefixIndex` remembers, per endpoint, the prompt blocks of the
//! requests routed there — at most `blocks_per_endpoint` blocks each, least recently used forgotten
//! first, as the engine's own cache forgets. `best_match(blocks, candidates)` gives the candidate with
//! the longest cached leading run; `record(endpoint, blocks)` notes a routed prompt; `forget(endpoint)`
//! drops a cold cache. `choose` (and `Endpoints::pick_with_prefix`, which adds circuits and `tried`)
//! prefers the endpoint with the longest cached prefix unless its load (outstanding ÷ capacity) exceeds
//! the least-loaded candidate's by more than `max_load_gap` (`DEFAULT_MAX_LOAD_GAP` = 0.25), else the
//! least loaded; an endpoint at capacity is never chosen. The index is an approximation: it knows what
//! Fabrique sent, not what the engine kept.

mod affinity;
mod circuit;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use domain::{EndpointIdx, EndpointKind};
use parking_lot::Mutex;

pub use affinity::{Candidate, DEFAULT_MAX_LOAD_GAP, PrefixIndex};
pub use circuit::{Circuit, CircuitState};

/// What routing needs to know about one endpoint.
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    pub name: String,
    /// What answers there: a reload that changes it makes the name another endpoint's.
    pub server: Server,
    /// The GPU pool it belongs to, for the surfaces that show endpoints by pool.
    pub pool: String,
    pub weight: u32,
    pub capacity: u32,
}

/// The server behind an endpoint: its engine and its URL. The live state of an endpoint (its
/// circuit, its requests in flight, what prefix affinity remembers) is that server's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub kind: EndpointKind,
    pub url: String,
}

/// When to open and when to probe a circuit.
#[derive(Debug, Clone, Copy)]
pub struct CircuitPolicy {
    /// Consecutive failures that open the circuit.
    pub failures: u32,
    /// How long an open circuit refuses traffic before letting one probe through.
    pub open_for: Duration,
}

/// The live state of every endpoint, indexed like the configuration's endpoint list.
#[derive(Debug)]
pub struct Endpoints {
    states: Vec<EndpointState>,
    policy: CircuitPolicy,
    /// Where the next scan starts, so equally loaded endpoints take turns.
    cursor: AtomicUsize,
    /// Whether replicas share the endpoints, each using only its allotment (`allot`): then an
    /// endpoint new to a reloaded set starts with none until the next allotment.
    allotting: AtomicBool,
}

#[derive(Debug)]
struct EndpointState {
    spec: EndpointSpec,
    live: Arc<Live>,
}

/// What requests change of an endpoint: carried from one set to the next while the endpoint
/// keeps its name and its server.
#[derive(Debug)]
struct Live {
    outstanding: AtomicU32,
    circuit: Mutex<Circuit>,
    /// The sequences of the endpoint this process may use: `u32::MAX` (all) alone, its allotment
    /// when replicas share the endpoint.
    allotted: AtomicU32,
    /// The allotment before it, still held in Redis until the next renewal: a request the pool
    /// granted just before a lowered allotment arrived may still be sent within it.
    previous: AtomicU32,
    /// Removed from the configuration in force: no new request, whichever set picks.
    retired: AtomicBool,
}

impl Live {
    fn allotted(allotted: u32) -> Arc<Live> {
        Arc::new(Live {
            outstanding: AtomicU32::new(0),
            circuit: Mutex::default(),
            allotted: AtomicU32::new(allotted),
            previous: AtomicU32::new(allotted),
            retired: AtomicBool::new(false),
        })
    }
}

/// A reservation of one request slot on an endpoint; releases it when dropped, in whatever set
/// is in force by then.
#[derive(Debug)]
pub struct Lease {
    live: Arc<Live>,
    policy: CircuitPolicy,
    index: EndpointIdx,
    /// Set when this lease is the half-open probe of a circuit, so its outcome decides the circuit.
    probe: bool,
}

/// Sequences of some endpoints: those they serve now, and those this process may use of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    pub available: u32,
    pub usable: u32,
}

/// One endpoint's capacity, and the most of it this process may be using.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    pub capacity: u32,
    pub held: u32,
}

/// A snapshot of one endpoint, for metrics and the admin surfaces: read field by field (an
/// atomic, then the circuit's lock for one read), never holding a lock past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStatus {
    pub name: String,
    pub pool: String,
    /// Requests sent to it and not yet answered (streams until their last chunk).
    pub outstanding: u32,
    pub capacity: u32,
    pub weight: u32,
    pub state: CircuitState,
}

impl Endpoints {
    pub fn new(specs: Vec<EndpointSpec>, policy: CircuitPolicy) -> Arc<Self> {
        let states = specs
            .into_iter()
            .map(|spec| EndpointState {
                spec,
                live: Live::allotted(u32::MAX),
            })
            .collect();
        Arc::new(Endpoints {
            states,
            policy,
            cursor: AtomicUsize::new(0),
            allotting: AtomicBool::new(false),
        })
    }

    /// The set `specs` describes, for a reloaded configuration: an endpoint of this set that
    /// `continued` finds keeps its circuit and its requests in flight, with its new weight,
    /// capacity and pool; every circuit follows `policy` from then on.
    pub fn reloaded(&self, specs: Vec<EndpointSpec>, policy: CircuitPolicy) -> Arc<Self> {
        let allotting = self.allotting.load(Ordering::Acquire);
        let fresh = if allotting { 0 } else { u32::MAX };
        let states = specs
            .into_iter()
            .map(|spec| {
                let live = self
                    .continued(&spec)
                    .and_then(|index| self.state(index))
                    .map_or_else(|| Live::allotted(fresh), |old| Arc::clone(&old.live));
                EndpointState { spec, live }
            })
            .collect();
        Arc::new(Endpoints {
            states,
            policy,
            cursor: AtomicUsize::new(0),
            allotting: AtomicBool::new(allotting),
        })
    }

    /// Marks retired the endpoints of this set that `next`, the set now in force, no longer
    /// has — removed, or moved to another server: the requests holding them finish there, and
    /// none is sent there again.
    pub fn retire_absent(&self, next: &Endpoints) {
        let absent = self.states.iter().filter(|old| {
            !next
                .states
                .iter()
                .any(|new| Arc::ptr_eq(&new.live, &old.live))
        });
        for state in absent {
            state.live.retired.store(true, Ordering::Release);
        }
    }

    /// The position in this set of the endpoint `spec` continues: of the same name on the same
    /// server. Its live state and what prefix affinity remembers of it carry over a reload.
    pub fn continued(&self, spec: &EndpointSpec) -> Option<EndpointIdx> {
        self.states
            .iter()
            .position(|state| state.spec.name == spec.name && state.spec.server == spec.server)
            .map(EndpointIdx::new)
    }

    /// Picks the least-loaded available endpoint among `candidates`, skipping those in `tried`.
    ///
    /// Load is outstanding requests divided by weight; among equally loaded endpoints the scan's
    /// starting point rotates, so an idle pool spreads requests instead of piling them on the first
    /// endpoint. An open circuit is skipped until its open
    /// period ends; then exactly one request is let through as a probe. While replicas share the
    /// endpoints (`start_allotting`), an endpoint at this process's allotment is skipped too: the
    /// others use the rest of it.
    pub fn pick(&self, candidates: &[EndpointIdx], tried: &[EndpointIdx]) -> Option<Lease> {
        let now = Instant::now();
        let allotting = self.allotting.load(Ordering::Acquire);
        let mut best: Option<(EndpointIdx, u64)> = None;
        for &index in self.rotated(candidates) {
            if tried.contains(&index) {
                continue;
            }
            let Some(state) = self.state(index).filter(|s| !s.retired()) else {
                continue;
            };
            let outstanding = state.live.outstanding.load(Ordering::Relaxed);
            if allotting && outstanding >= state.ceiling() {
                continue;
            }
            if !state.live.circuit.lock().admits(now) {
                continue;
            }
            // Compare outstanding/weight without division: scaled by a common factor.
            let load = u64::from(outstanding) * 1_000_000 / u64::from(state.spec.weight.max(1));
            if best.is_none_or(|(_, b)| load < b) {
                best = Some((index, load));
            }
        }
        let (index, _) = best?;
        self.lease(index, now)
    }

    /// Like `pick`, preferring the endpoint that probably holds the prompt's prefix in its cache
    /// (`PrefixIndex::choose`: the longest cached prefix unless that endpoint's load exceeds the
    /// least loaded's by more than `max_load_gap`). Skips tried endpoints, open circuits and
    /// endpoints at capacity; `None` when none remains, in which case `pick` may still find one
    /// above capacity. Record the prompt with `PrefixIndex::record` once the attempt is sent.
    pub fn pick_with_prefix(
        &self,
        candidates: &[EndpointIdx],
        tried: &[EndpointIdx],
        prefixes: &PrefixIndex,
        blocks: &[prefix::BlockHash],
        max_load_gap: f64,
    ) -> Option<Lease> {
        let now = Instant::now();
        // Among equally loaded endpoints the first wins: the rotation spreads an idle pool's requests.
        let open: smallvec::SmallVec<[Candidate; 8]> = self
            .rotated(candidates)
            .filter(|index| !tried.contains(index))
            .filter_map(|&index| {
                let state = self.state(index).filter(|s| !s.retired())?;
                state.live.circuit.lock().admits(now).then(|| Candidate {
                    index,
                    outstanding: state.live.outstanding.load(Ordering::Relaxed),
                    capacity: state.usable(),
                })
            })
            .collect();
        let index = prefixes.choose(blocks, &open, max_load_gap)?;
        self.lease(index, now)
    }

    /// The candidates from a starting point that moves one step per call, so equally loaded
    /// endpoints take turns.
    fn rotated<'a>(&self, candidates: &'a [EndpointIdx]) -> impl Iterator<Item = &'a EndpointIdx> {
        let start = if candidates.is_empty() {
            0
        } else {
            self.cursor.fetch_add(1, Ordering::Relaxed) % candidates.len()
        };
        candidates[start..].iter().chain(&candidates[..start])
    }

    /// Takes a request slot on `index`, as the circuit's probe when it is half-open.
    /// While allotting, never beyond the allotment, even when requests race for its last sequence.
    fn lease(&self, index: EndpointIdx, now: Instant) -> Option<Lease> {
        let state = self.state(index)?;
        let bound = match self.allotting.load(Ordering::Acquire) {
            true => state.ceiling(),
            false => u32::MAX,
        };
        let outstanding = &state.live.outstanding;
        outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < bound).then_some(n + 1)
            })
            .ok()?;
        let probe = {
            let mut circuit = state.live.circuit.lock();
            if !circuit.admits(now) {
                // Another request took the probe slot between the scan and now.
                outstanding.fetch_sub(1, Ordering::AcqRel);
                return None;
            }
            circuit.begin(now)
        };
        Some(Lease {
            live: Arc::clone(&state.live),
            policy: self.policy,
            index,
            probe,
        })
    }

    /// Sequences the endpoints among `indexes` can take now: an endpoint's whole capacity while its
    /// circuit is closed, one (the probe) while half-open, none while open; and of those, the ones
    /// this process may use (its allotments, when replicas share the endpoints). The schedule
    /// stage sizes a pool with it.
    pub fn available_capacity(&self, indexes: &[EndpointIdx]) -> Capacity {
        let now = Instant::now();
        indexes
            .iter()
            .filter_map(|&index| self.state(index))
            .map(|state| {
                let available = match state.live.circuit.lock().state(now) {
                    CircuitState::Closed => state.spec.capacity,
                    CircuitState::HalfOpen => state.spec.capacity.min(1),
                    CircuitState::Open => 0,
                };
                Capacity {
                    available,
                    usable: available.min(state.live.allotted.load(Ordering::Acquire)),
                }
            })
            .fold(Capacity::default(), |sum, one| Capacity {
                available: sum.available.saturating_add(one.available),
                usable: sum.usable.saturating_add(one.usable),
            })
    }

    /// From now on replicas share the endpoints: each endpoint's allotment is none until `allot`
    /// sets it (requests wait meanwhile), and so is that of an endpoint a reload adds.
    pub fn start_allotting(&self) {
        self.allotting.store(true, Ordering::Release);
        for state in &self.states {
            state.live.allotted.store(0, Ordering::Release);
            state.live.previous.store(0, Ordering::Release);
        }
    }

    /// Sets the sequences of `index` this process may use. Requests beyond a lowered allotment
    /// finish normally; none is sent there until the endpoint is below it.
    pub fn allot(&self, index: EndpointIdx, sequences: u32) {
        if let Some(state) = self.state(index) {
            let before = state.live.allotted.swap(sequences, Ordering::AcqRel);
            state.live.previous.store(before, Ordering::Release);
        }
    }

    /// What this process asks of `index`'s capacity: the endpoint's capacity, and the sequences
    /// it may have there until it learns of a new allotment — its last two allotments, or more
    /// while requests from before a lowered one are still outstanding.
    pub fn holding(&self, index: EndpointIdx) -> Option<Holding> {
        let state = self.state(index)?;
        let outstanding = state.live.outstanding.load(Ordering::Acquire);
        Some(Holding {
            capacity: state.spec.capacity,
            held: outstanding.max(state.ceiling()),
        })
    }

    /// Records an observation from outside a request (active health checks).
    pub fn observe_health(&self, index: EndpointIdx, healthy: bool) {
        if let Some(state) = self.state(index) {
            let mut circuit = state.live.circuit.lock();
            if healthy {
                circuit.health_check_passed();
            } else {
                circuit.record_failure(Instant::now(), self.policy, false);
            }
        }
    }

    /// Every endpoint as it is now, in configuration order.
    pub fn status(&self) -> Vec<EndpointStatus> {
        let now = Instant::now();
        self.states
            .iter()
            .map(|s| EndpointStatus {
                name: s.spec.name.clone(),
                pool: s.spec.pool.clone(),
                outstanding: s.live.outstanding.load(Ordering::Relaxed),
                capacity: s.spec.capacity,
                weight: s.spec.weight,
                state: s.live.circuit.lock().state(now),
            })
            .collect()
    }

    pub fn name(&self, index: EndpointIdx) -> &str {
        self.state(index)
            .map(|s| s.spec.name.as_str())
            .unwrap_or("unknown")
    }

    fn state(&self, index: EndpointIdx) -> Option<&EndpointState> {
        self.states.get(index.get())
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

impl EndpointState {
    fn retired(&self) -> bool {
        self.live.retired.load(Ordering::Acquire)
    }

    /// The capacity this process may use: what new requests are sized and routed by.
    fn usable(&self) -> u32 {
        self.spec
            .capacity
            .min(self.live.allotted.load(Ordering::Acquire))
    }

    /// The most this process ever sends the endpoint: its allotment, or the one before while the
    /// requests the pool granted under that one are routed.
    fn ceiling(&self) -> u32 {
        let allotted = self.live.allotted.load(Ordering::Acquire);
        let previous = self.live.previous.load(Ordering::Acquire);
        self.spec.capacity.min(allotted.max(previous))
    }
}

impl Lease {
    pub fn index(&self) -> EndpointIdx {
        self.index
    }

    /// The attempt succeeded (the backend answered in time with a non-retryable status).
    pub fn succeeded(&self) {
        self.live.circuit.lock().record_success();
    }

    /// The attempt failed in a way that says the endpoint is unwell (connect error, timeout, 5xx).
    pub fn failed(&self) {
        self.live
            .circuit
            .lock()
            .record_failure(Instant::now(), self.policy, self.probe);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.live.outstanding.fetch_sub(1, Ordering::Relaxed);
        if self.probe {
            // A probe that ended without a verdict (caller went away) frees the probe slot.
            self.live.circuit.lock().probe_abandoned();
        }
    }
}

#[cfg(test)]
mod tests;
