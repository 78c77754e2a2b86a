//! Fabrique's schedule stage (the request path's stage 9): entities share each GPU
//! pool's concurrent sequences token-fairly, by weight, without idling capacity.
//!
//! The algorithm is the Virtual Token Counter (VTC) of Sheng et al., "Fairness in Serving Large
//! Language Models" (OSDI 2024), over a pool's sequences instead of one engine's batch:
//!
//! - each entity has a counter of the service it received, `input × input_weight + output ×
//!   output_weight`, divided by its weight (`Share::weight`);
//! - whenever a sequence is free, the backlogged entity (one with a request waiting) with the
//!   smallest counter is served; the request's *estimated* cost is charged at dispatch, and
//!   `Dispatch::settle` corrects it with the real token counts;
//! - an entity that becomes backlogged after being idle has its counter lifted to the smallest
//!   counter among the backlogged entities (or, when none is, to the highest counter an entity had
//!   when it last left the backlog), so idleness earns no credit to spend later in a burst;
//! - work-conserving: a sequence is never free while a request waits, so a lone entity gets the
//!   whole pool — except for `batch` requests (`headroom`): they fill what interactive and
//!   standard work left idle at its recent peak, less `PoolSettings::batch_headroom`, so a
//!   person's question finds a free sequence instead of waiting for a batch line to end.
//!
//! **Fairness bound.** Let `U` be the largest charge of one request, `(input × input_weight +
//! output × output_weight) ÷ weight` of its entity. At every instant, the counters of any two
//! backlogged entities differ by at most `U` (an entity is only charged while it has the smallest
//! counter, and a newly backlogged one is lifted into the range). Hence, over any interval during
//! which entities `f` and `g` are both backlogged, their weighted service (charges at dispatch)
//! differs by at most `2U`:
//! `| service_f ÷ weight_f − service_g ÷ weight_g | ≤ 2U`.
//! This holds exactly for charges; when estimates differ from real counts, each settlement moves
//! its entity's counter by the estimation error, and the bound on real service widens by the
//! errors of the requests still unsettled at the interval's two ends. Guaranteed minimum shares
//! (`Share::min_share`) take precedence over counters and so may exceed the bound, by design.
//!
//! **Replicas.** Several gateway replicas each run their own pools; with Redis they share them
//! (crate `counters`, `allotment` and `service`): `Pool::set_usable_capacity` sizes a pool by this
//! replica's allotment of its endpoints (a request waits while the allotment is zero and the
//! endpoints are up, rather than being refused), and `Pool::service` / `Pool::absorb` carry each
//! entity's weighted tokens between replicas, so an entity's counter counts what every replica
//! served it. The bound across replicas is `U` plus what the others served one entity during the
//! exchange's lag (`counters`' `service` states it); alone, nothing changes.
//!
//! **Priorities.** Within one entity, strictly Interactive, then Standard, then Batch: an entity's
//! batch work never delays its own interactive work. Between entities, only counters decide: an
//! entity cannot gain on others by labelling its work interactive.
//!
//! **Shedding.** A request waits at most its `max_wait` (its priority's limit in `MaxWait`, or less
//! if the caller asks), then gets `Shed::Timeout`. The pool's line holds at most `max_queued`
//! requests, all entities together; when it is full, the entity with the most waiting requests loses
//! its newest, least urgent one to make room (`Shed::QueueFull`), and an arrival from that very
//! entity is refused unless it is more urgent than some of its own waiting work. A pool of zero
//! capacity refuses at once (`Shed::NoCapacity`). `Retry-After` is `queued × mean service time ÷
//! capacity`, rounded up to whole seconds, between 1 and 300, where the mean service time (dispatch
//! to release) is smoothed over recent requests (each new observation weighs 1/8).
//!
//! **Reconfiguring.** `Pool::reconfigure` puts new settings in force under a running pool (a
//! configuration reload), its capacity, line, shares and counters kept: a request waiting keeps
//! its deadline, one dispatched is settled with the token weights it was charged with.
//!
//! Reading order: `ticket` (what a request asks), `settings`, `headroom`, `fair` (the synchronous core, with no
//! lock or clock of its own), `pool` (the async face: `Pool::admit`, `Dispatch`), `scheduler` (pools by
//! name), `snapshot` (what metrics read).
//!
//! # Invariants, metrics and cost
//!
//! - **Invariants.** No lock across an `.await`; the fast path (free sequence, empty line) takes the lock
//!   once and allocates nothing, a waiting request one oneshot channel. Cancel safety: a waiter is in
//!   line exactly while its future lives; grants are sent under the lock, and a waiter that gives up
//!   either withdraws itself or finds its grant and hands the sequence on — no interleaving leaks a
//!   sequence (`tests/it`: dropped waiter, waiter dropped after its grant was sent). A `Dispatch` frees
//!   its sequence on drop (keeping the estimated charge) or on `settle`.
//! - **Metrics.** `Pool::snapshot()` → `PoolSnapshot` (capacity, in flight, queued, mean service time)
//!   and per entity `EntitySnapshot` (queued per priority, in flight, counter, dispatched, served input
//!   and output tokens, timed out, cancelled, refused for a full line, wait count/sum/max); an optional
//!   `WaitObserver` callback hears each dispatched request's wait, outside the lock, for a histogram.
//! - **Scenario.** `examples/scenario.rs` runs the `FairQueue` in virtual time before a simulated
//!   pool with a bursting entity; `fabrique simulate` runs scenario files (`bench/scenario/`) through
//!   the real gateway (`bench/README.md`).
//! - **Cost.** `examples/scheduler_bench.rs` (release, on the shared 2-core machine, noisy): about
//!   0.35–0.45 µs per admit + settle on the fast path; about 1.2–1.8 µs of wall time per cycle with 512
//!   tasks contending for 64 sequences on two threads.

mod entity;
mod fair;
mod headroom;
mod pool;
mod scheduler;
mod settings;
mod snapshot;
mod ticket;

pub use fair::{FairQueue, Grant, Place, Queued, Served, Withdrawal};
pub use pool::{Dispatch, Pool, WaitObservation, WaitObserver};
pub use scheduler::Scheduler;
pub use settings::{InvalidSettings, MaxWait, PoolSettings, Share};
pub use snapshot::{EntitySnapshot, PoolSnapshot, WaitStats};
pub use ticket::{Priority, Shed, Ticket};
