//! Copies of a pool's state for metrics and the admin surfaces: read under the pool's lock in one
//! go, then used without it.

use std::time::Duration;

use domain::EntityId;

/// One pool at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSnapshot {
    pub capacity: u32,
    pub in_flight: u32,
    pub queued: usize,
    /// The smoothed service time that `Retry-After` estimates use.
    pub mean_service_time: Duration,
    /// Every entity the pool has seen, in the order it first saw them.
    pub entities: Vec<EntitySnapshot>,
}

/// One entity in one pool. Counts are totals since the pool started (Prometheus counters);
/// `queued` and `in_flight` are gauges.
#[derive(Debug, Clone, PartialEq)]
pub struct EntitySnapshot {
    pub entity: EntityId,
    pub weight: u32,
    pub min_share: f64,
    /// The virtual token counter (weighted tokens ÷ weight, plus idle lifts).
    pub counter: f64,
    /// Waiting requests per priority, indexed like `Priority::ALL`.
    pub queued: [usize; 3],
    pub in_flight: u32,
    pub dispatched: u64,
    /// Real counts of settled requests, estimates of those released unsettled.
    pub served_input_tokens: u64,
    pub served_output_tokens: u64,
    pub timed_out: u64,
    pub cancelled: u64,
    /// Refused or pushed out because the pool's line was full.
    pub refused_queue_full: u64,
    pub waits: WaitStats,
}

/// Time spent waiting for a sequence by dispatched requests (zero for those that went at once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitStats {
    pub count: u64,
    pub total: Duration,
    pub max: Duration,
}

impl EntitySnapshot {
    pub fn queued_total(&self) -> usize {
        self.queued.iter().sum()
    }
}
