//! One entity's state in one pool: its counter, its waiting lines, and its tallies.

use std::time::Duration;

use domain::EntityId;
use tokio::time::Instant;

use crate::Priority;
use crate::fair::Line;
use crate::settings::Share;
use crate::snapshot::{EntitySnapshot, WaitStats};

#[derive(Debug)]
pub(crate) struct EntityState<W> {
    pub(crate) entity: EntityId,
    pub(crate) share: Share,
    /// Weighted tokens served, divided by the weight, plus idle lifts (and, when replicas share
    /// the pool, what the others served, `FairQueue::absorb`).
    pub(crate) counter: f64,
    /// Weighted tokens this process served (charges at dispatch, corrected at settlement), not
    /// divided by the weight: what it tells the other replicas.
    pub(crate) cost: f64,
    /// One line per priority, indexed by `Priority::index`.
    pub(crate) queues: [Line<W>; 3],
    pub(crate) in_flight: u32,
    pub(crate) dispatched: u64,
    pub(crate) served_input_tokens: u64,
    pub(crate) served_output_tokens: u64,
    pub(crate) timed_out: u64,
    pub(crate) cancelled: u64,
    pub(crate) refused_queue_full: u64,
    pub(crate) waits: WaitStats,
}

/// A request in line.
#[derive(Debug)]
pub(crate) struct Waiting<W> {
    pub(crate) id: u64,
    pub(crate) waiter: W,
    pub(crate) enqueued_at: Instant,
    pub(crate) input_estimate: u64,
    pub(crate) output_estimate: u64,
}

impl<W> EntityState<W> {
    pub(crate) fn new(entity: EntityId) -> Self {
        EntityState {
            entity,
            share: Share::default(),
            counter: 0.0,
            cost: 0.0,
            queues: Default::default(),
            in_flight: 0,
            dispatched: 0,
            served_input_tokens: 0,
            served_output_tokens: 0,
            timed_out: 0,
            cancelled: 0,
            refused_queue_full: 0,
            waits: WaitStats::default(),
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.queues.iter().map(Line::len).sum()
    }

    /// The priority this entity's next dispatch would serve (within an entity, strictly the most
    /// urgent first).
    pub(crate) fn most_urgent(&self) -> Option<Priority> {
        Priority::ALL
            .into_iter()
            .find(|priority| !self.queues[priority.index()].is_empty())
    }

    pub(crate) fn lowest_waiting_priority(&self) -> Option<Priority> {
        Priority::ALL
            .into_iter()
            .rev()
            .find(|priority| !self.queues[priority.index()].is_empty())
    }

    pub(crate) fn snapshot(&self) -> EntitySnapshot {
        EntitySnapshot {
            entity: self.entity,
            weight: self.share.weight,
            min_share: self.share.min_share,
            counter: self.counter,
            queued: [
                self.queues[0].len(),
                self.queues[1].len(),
                self.queues[2].len(),
            ],
            in_flight: self.in_flight,
            dispatched: self.dispatched,
            served_input_tokens: self.served_input_tokens,
            served_output_tokens: self.served_output_tokens,
            timed_out: self.timed_out,
            cancelled: self.cancelled,
            refused_queue_full: self.refused_queue_full,
            waits: self.waits,
        }
    }
}

impl WaitStats {
    pub(crate) fn observe(&mut self, waited: Duration) {
        self.count += 1;
        self.total = self.total.saturating_add(waited);
        self.max = self.max.max(waited);
    }
}
