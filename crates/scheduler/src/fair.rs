//! The fair queue of one pool: the synchronous core of the scheduler, with no lock, no clock and
//! no task of its own (time is passed in), so every decision is tested exactly.
//!
//! Each entity has a **virtual token counter**: the weighted tokens it was served, divided by its
//! weight. Whenever a sequence is free, the backlogged entity (one with requests waiting) with the
//! smallest counter goes next, its highest-priority oldest request is dispatched, and its counter is
//! charged the request's estimated cost at once; `finish` later corrects it with the real counts.
//! An entity that becomes backlogged again after being idle has its counter lifted to the smallest
//! counter of the backlogged entities, so idleness earns no credit. The queue is work-conserving: a
//! sequence is never left free while any request waits.
//!
//! The generic `W` is what stands for a waiting caller: a channel to wake in the async pool, a plain
//! number in tests and simulations.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use domain::EntityId;
use tokio::time::Instant;

use crate::entity::{EntityState, Waiting};
use crate::headroom::UrgentLoad;
use crate::settings::{InvalidSettings, PoolSettings, Share};
use crate::snapshot::{EntitySnapshot, PoolSnapshot};
use crate::{Priority, Shed, Ticket};

/// The core of one pool. See the module's documentation.
#[derive(Debug)]
pub struct FairQueue<W> {
    /// `settings.capacity` is what this process may use of the pool now: all of it alone, its
    /// allotment when replicas share the endpoints (`set_usable_capacity`).
    settings: PoolSettings,
    /// The sequences the pool's available endpoints serve, whoever uses them: a request is refused
    /// at once only when this is zero, and waits while only the usable part is.
    available: u32,
    in_flight: u32,
    /// The interactive and standard part of `in_flight`, and its recent peak.
    urgent: UrgentLoad,
    queued: usize,
    entities: Vec<EntityState<W>>,
    index: HashMap<EntityId, usize, foldhash::fast::RandomState>,
    /// The highest counter an entity had when it stopped being backlogged: the counter given to an
    /// entity that arrives while nobody is backlogged, so it cannot claim service nobody competed for.
    floor: f64,
    next_id: u64,
    /// Smoothed service time (dispatch to finish), for `Retry-After`.
    mean_service: Duration,
}

/// A request given a sequence. Hand it back to `finish` exactly once.
#[derive(Debug)]
#[must_use = "a granted sequence must be finished, or the pool loses it"]
pub struct Grant {
    entity: usize,
    priority: Priority,
    input_estimate: u64,
    output_estimate: u64,
    /// The entity's weight when charged, so the correction is divided by the same weight.
    weight: u32,
    /// The input and output token weights it was charged with, so a reconfigured pool settles
    /// it as it charged it.
    token_weights: (f64, f64),
    enqueued_at: Instant,
    dispatched_at: Instant,
}

/// Where a waiting request sits, to withdraw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    entity: usize,
    priority: Priority,
    id: u64,
}

/// A request now waiting.
#[derive(Debug)]
pub struct Queued<W> {
    pub place: Place,
    /// When it must be dispatched by, or be shed with `Shed::Timeout`.
    pub deadline: Instant,
    /// Another waiter pushed out to make room, with the refusal to give it.
    pub evicted: Option<(W, Shed)>,
}

/// Why a waiter left the queue without a sequence, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    TimedOut,
    Cancelled,
}

/// The real token counts of a finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// `Retry-After` is never less than this (the header counts whole seconds)…
const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);
/// …nor more than this: past a few minutes an estimate says nothing useful.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Weight of a new observation in the smoothed service time (as TCP's smoothed round-trip time).
const SERVICE_SMOOTHING: u32 = 8;

impl<W> FairQueue<W> {
    pub fn new(settings: PoolSettings) -> Result<Self, InvalidSettings> {
        settings.validate()?;
        Ok(FairQueue {
            mean_service: settings.initial_service_time,
            available: settings.capacity,
            settings,
            in_flight: 0,
            urgent: UrgentLoad::default(),
            queued: 0,
            entities: Vec::new(),
            index: HashMap::default(),
            floor: 0.0,
            next_id: 0,
        })
    }

    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    /// Changes the capacity (endpoints came or went). Sequences beyond a lowered capacity finish
    /// normally; nothing new is dispatched until the pool is below it. Call `next_dispatch` after a
    /// raise.
    pub fn set_capacity(&mut self, capacity: u32) {
        self.set_usable_capacity(capacity, capacity);
    }

    /// Puts `settings` in force but for the capacity, which follows the endpoints: the next
    /// request is queued, charged and dispatched by them. Requests waiting keep their deadline
    /// (a lowered `max_queued` turns newcomers away, or evicts, until the line is below it);
    /// requests dispatched are settled with the token weights they were charged with.
    pub fn reconfigure(&mut self, settings: PoolSettings) -> Result<(), InvalidSettings> {
        settings.validate()?;
        self.settings = PoolSettings {
            capacity: self.settings.capacity,
            ..settings
        };
        Ok(())
    }

    /// Like `set_capacity`, for a pool whose endpoints other replicas use too: `usable` of the
    /// `available` sequences are this process's now. With none usable but some available, a
    /// request waits (another replica holds them for now) instead of being refused.
    pub fn set_usable_capacity(&mut self, usable: u32, available: u32) {
        self.settings.capacity = usable.min(available);
        self.available = available;
    }

    /// Sets an entity's share; its counter is unchanged, so the new weight applies from the next
    /// charge on.
    pub fn set_share(&mut self, entity: EntityId, share: Share) -> Result<(), InvalidSettings> {
        share.validate()?;
        let others: f64 = self
            .entities
            .iter()
            .filter(|state| state.entity != entity)
            .map(|state| state.share.min_share)
            .sum();
        let total = others + share.min_share;
        if total > 1.0 + 1e-9 {
            return Err(InvalidSettings::MinSharesAboveOne(total));
        }
        let slot = self.entity_slot(entity);
        self.entities[slot].share = share;
        Ok(())
    }

    /// The fast path: a sequence is free and nobody waits, so the request goes at once.
    pub fn try_dispatch_now(&mut self, ticket: &Ticket, now: Instant) -> Option<Grant> {
        self.urgent.roll(now);
        if self.queued > 0 || !self.has_room(ticket.priority) {
            return None;
        }
        let slot = self.entity_slot(ticket.entity);
        // Arriving to an empty queue is becoming backlogged for an instant: the idle lift applies,
        // and with nobody backlogged it lifts to the floor (no scan needed).
        let floor = self.floor;
        let state = &mut self.entities[slot];
        state.counter = state.counter.max(floor);
        let grant = self.charge(
            slot,
            ticket.priority,
            ticket.input_tokens_estimate,
            ticket.output_tokens_estimate,
            now,
            now,
        );
        self.leave_backlog_if_idle(slot);
        Some(grant)
    }

    /// Puts a request in line, or refuses it. When the pool's line is full, the entity holding the
    /// most waiting requests loses its newest, least urgent one (possibly this very request): one
    /// entity's burst cannot crowd the others out of the line.
    pub fn enqueue(
        &mut self,
        ticket: &Ticket,
        waiter: W,
        now: Instant,
    ) -> Result<Queued<W>, (W, Shed)> {
        if self.available == 0 {
            return Err((waiter, Shed::NoCapacity));
        }
        let slot = self.entity_slot(ticket.entity);
        let mut evicted = None;
        if self.queued >= self.settings.max_queued {
            let shed = Shed::QueueFull {
                retry_after: self.retry_after(),
            };
            match self.evict_for(slot, ticket.priority) {
                Some(victim) => evicted = Some((victim, shed)),
                None => {
                    self.entities[slot].refused_queue_full += 1;
                    return Err((waiter, shed));
                }
            }
        }
        if self.entities[slot].queued() == 0 {
            self.lift(slot);
        }
        let id = self.next_id;
        self.next_id += 1;
        let wait = match ticket.max_wait {
            Some(asked) => asked.min(self.settings.max_wait.of(ticket.priority)),
            None => self.settings.max_wait.of(ticket.priority),
        };
        self.entities[slot].queues[ticket.priority.index()].push_back(Waiting {
            id,
            waiter,
            enqueued_at: now,
            input_estimate: ticket.input_tokens_estimate,
            output_estimate: ticket.output_tokens_estimate,
        });
        self.queued += 1;
        Ok(Queued {
            place: Place {
                entity: slot,
                priority: ticket.priority,
                id,
            },
            deadline: now.checked_add(wait).unwrap_or(now),
            evicted,
        })
    }

    /// Dispatches the next request if a sequence is free: the one to wake, and its grant. Call it
    /// until it returns `None` whenever capacity frees up or grows.
    pub fn next_dispatch(&mut self, now: Instant) -> Option<(W, Grant)> {
        if self.in_flight >= self.settings.capacity {
            return None;
        }
        self.urgent.roll(now);
        let slot = self.pick()?;
        let state = &mut self.entities[slot];
        let (priority, waiting) = Priority::ALL
            .into_iter()
            .find_map(|priority| Some((priority, state.queues[priority.index()].pop_front()?)))?;
        self.queued -= 1;
        let grant = self.charge(
            slot,
            priority,
            waiting.input_estimate,
            waiting.output_estimate,
            waiting.enqueued_at,
            now,
        );
        self.leave_backlog_if_idle(slot);
        Some((waiting.waiter, grant))
    }

    /// Takes a waiting request out of line (it timed out or its caller went away). `None` when it
    /// is no longer waiting: it was dispatched or evicted, and its waiter was told so.
    pub fn withdraw(&mut self, place: Place, why: Withdrawal) -> Option<W> {
        let state = self.entities.get_mut(place.entity)?;
        let queue = &mut state.queues[place.priority.index()];
        let position = queue.iter().position(|waiting| waiting.id == place.id)?;
        let waiting = queue.remove(position)?;
        match why {
            Withdrawal::TimedOut => state.timed_out += 1,
            Withdrawal::Cancelled => state.cancelled += 1,
        }
        self.queued -= 1;
        self.leave_backlog_if_idle(place.entity);
        Some(waiting.waiter)
    }

    /// A dispatched request is over: its sequence is free again, and its charge is corrected with
    /// the real counts when they are known (`None` keeps the estimate, e.g. a caller gone mid-way).
    pub fn finish(&mut self, grant: Grant, served: Option<Served>, now: Instant) {
        self.release(&grant);
        self.observe_service(now.saturating_duration_since(grant.dispatched_at));
        let (input_weight, output_weight) = grant.token_weights;
        let Some(state) = self.entities.get_mut(grant.entity) else {
            return;
        };
        state.in_flight = state.in_flight.saturating_sub(1);
        let served = served.unwrap_or(Served {
            input_tokens: grant.input_estimate,
            output_tokens: grant.output_estimate,
        });
        let estimated = cost(
            input_weight,
            output_weight,
            grant.input_estimate,
            grant.output_estimate,
        );
        let real = cost(
            input_weight,
            output_weight,
            served.input_tokens,
            served.output_tokens,
        );
        state.counter += (real - estimated) / f64::from(grant.weight.max(1));
        state.cost += real - estimated;
        state.served_input_tokens += served.input_tokens;
        state.served_output_tokens += served.output_tokens;
    }

    /// A grant that was never used (its waiter was gone before it could be told): the sequence is
    /// freed and the charge taken back entirely.
    pub fn undo(&mut self, grant: Grant) {
        self.release(&grant);
        let charge = Self::charge_of(&grant);
        if let Some(state) = self.entities.get_mut(grant.entity) {
            state.in_flight = state.in_flight.saturating_sub(1);
            state.counter -= charge;
            state.cost -= charge * f64::from(grant.weight.max(1));
            state.dispatched = state.dispatched.saturating_sub(1);
        }
    }

    /// The `Retry-After` for a request refused now: the time for the pool to work through its line,
    /// `queued × mean service time ÷ capacity`, in whole seconds between 1 and 300.
    pub fn retry_after(&self) -> Duration {
        let capacity = self.settings.capacity.max(1);
        let depth = u32::try_from(self.queued.max(1)).unwrap_or(u32::MAX);
        let drain = self.mean_service.saturating_mul(depth) / capacity;
        let whole = Duration::from_secs(drain.as_secs() + u64::from(drain.subsec_nanos() > 0));
        whole.clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER)
    }

    pub fn capacity(&self) -> u32 {
        self.settings.capacity
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Each entity's weighted tokens served by this process, for the other replicas (`absorb`).
    pub fn service(&self) -> Vec<(EntityId, f64)> {
        self.entities
            .iter()
            .map(|state| (state.entity, state.cost))
            .collect()
    }

    /// Charges `entity` with `cost` weighted tokens the other replicas served it, so an entity
    /// sending through several replicas is charged for all of its service. Its counter moves as
    /// a dispatch here would move it.
    pub fn absorb(&mut self, entity: EntityId, cost: f64) {
        if !cost.is_finite() {
            return;
        }
        let slot = self.entity_slot(entity);
        let state = &mut self.entities[slot];
        state.counter += cost / f64::from(state.share.weight.max(1));
    }

    /// Everything the counters and gauges need, copied out.
    pub fn snapshot(&self) -> PoolSnapshot {
        PoolSnapshot {
            capacity: self.settings.capacity,
            in_flight: self.in_flight,
            queued: self.queued,
            mean_service_time: self.mean_service,
            entities: self.entities.iter().map(EntityState::snapshot).collect(),
        }
    }

    /// One entity's snapshot, if it was ever seen.
    pub fn entity(&self, entity: EntityId) -> Option<EntitySnapshot> {
        let slot = *self.index.get(&entity)?;
        self.entities.get(slot).map(EntityState::snapshot)
    }

    /// The backlogged entity to serve next: first one below its guaranteed minimum, else the one
    /// with the smallest counter; ties go to the entity seen first. An entity whose most urgent
    /// request is over its priority's limit (a batch, in the batch headroom) waits its turn.
    fn pick(&self) -> Option<usize> {
        let capacity = self.settings.capacity;
        let mut fair: Option<(usize, f64)> = None;
        let mut guaranteed: Option<(usize, f64)> = None;
        for (slot, state) in self.entities.iter().enumerate() {
            let Some(priority) = state.most_urgent() else {
                continue;
            };
            if !self.has_room(priority) {
                continue;
            }
            if fair.is_none_or(|(_, counter)| state.counter < counter) {
                fair = Some((slot, state.counter));
            }
            if state.in_flight < state.share.guaranteed_slots(capacity)
                && guaranteed.is_none_or(|(_, counter)| state.counter < counter)
            {
                guaranteed = Some((slot, state.counter));
            }
        }
        guaranteed.or(fair).map(|(slot, _)| slot)
    }

    /// Whether a request of `priority` may be dispatched now (see `headroom`).
    fn has_room(&self, priority: Priority) -> bool {
        let capacity = self.settings.capacity;
        match priority {
            Priority::Interactive | Priority::Standard => self.in_flight < capacity,
            Priority::Batch => {
                let batch_held = self.in_flight.saturating_sub(self.urgent.in_flight);
                self.in_flight < capacity
                    && (batch_held == 0
                        || batch_held + self.urgent.recent_peak() < self.settings.batch_limit())
            }
        }
    }

    fn release(&mut self, grant: &Grant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if grant.priority != Priority::Batch {
            self.urgent.finished();
        }
    }

    fn charge(
        &mut self,
        slot: usize,
        priority: Priority,
        input_estimate: u64,
        output_estimate: u64,
        enqueued_at: Instant,
        now: Instant,
    ) -> Grant {
        self.in_flight += 1;
        if priority != Priority::Batch {
            self.urgent.dispatched(now);
        }
        let (input_weight, output_weight) =
            (self.settings.input_weight, self.settings.output_weight);
        let state = &mut self.entities[slot];
        let weight = state.share.weight.max(1);
        let charge = cost(input_weight, output_weight, input_estimate, output_estimate);
        state.counter += charge / f64::from(weight);
        state.cost += charge;
        state.in_flight += 1;
        state.dispatched += 1;
        state
            .waits
            .observe(now.saturating_duration_since(enqueued_at));
        Grant {
            entity: slot,
            priority,
            input_estimate,
            output_estimate,
            weight,
            token_weights: (input_weight, output_weight),
            enqueued_at,
            dispatched_at: now,
        }
    }

    fn charge_of(grant: &Grant) -> f64 {
        let (input_weight, output_weight) = grant.token_weights;
        cost(
            input_weight,
            output_weight,
            grant.input_estimate,
            grant.output_estimate,
        ) / f64::from(grant.weight.max(1))
    }

    /// The idle lift, for an entity about to become backlogged.
    fn lift(&mut self, slot: usize) {
        let smallest_backlogged = self
            .entities
            .iter()
            .enumerate()
            .filter(|(other, state)| *other != slot && state.queued() > 0)
            .map(|(_, state)| state.counter)
            .reduce(f64::min);
        let floor = smallest_backlogged.unwrap_or(self.floor);
        let state = &mut self.entities[slot];
        state.counter = state.counter.max(floor);
    }

    fn leave_backlog_if_idle(&mut self, slot: usize) {
        if let Some(state) = self.entities.get(slot)
            && state.queued() == 0
        {
            self.floor = self.floor.max(state.counter);
        }
    }

    /// Makes room in a full line for a request of `priority` from `slot`; `None` refuses it.
    fn evict_for(&mut self, slot: usize, priority: Priority) -> Option<W> {
        let arriving = self.entities[slot].queued();
        let longest = self
            .entities
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != slot)
            .max_by_key(|(_, state)| state.queued())
            .filter(|(_, state)| state.queued() > arriving)
            .map(|(other, _)| other);
        let victim = match longest {
            Some(other) => other,
            // This entity holds (one of) the longest lines: it may only replace its own less
            // urgent work.
            None => {
                let lowest = self.entities[slot].lowest_waiting_priority()?;
                if lowest <= priority {
                    return None;
                }
                slot
            }
        };
        let state = &mut self.entities[victim];
        let lowest = state.lowest_waiting_priority()?;
        let waiting = state.queues[lowest.index()].pop_back()?;
        state.refused_queue_full += 1;
        self.queued -= 1;
        self.leave_backlog_if_idle(victim);
        Some(waiting.waiter)
    }

    fn observe_service(&mut self, took: Duration) {
        let smoothing = SERVICE_SMOOTHING;
        self.mean_service = (self.mean_service.saturating_mul(smoothing - 1) + took) / smoothing;
    }

    fn entity_slot(&mut self, entity: EntityId) -> usize {
        if let Some(&slot) = self.index.get(&entity) {
            return slot;
        }
        let slot = self.entities.len();
        self.entities.push(EntityState::new(entity));
        self.index.insert(entity, slot);
        slot
    }
}

impl Grant {
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// How long the request waited for its sequence.
    pub fn waited(&self) -> Duration {
        self.dispatched_at
            .saturating_duration_since(self.enqueued_at)
    }

    pub fn dispatched_at(&self) -> Instant {
        self.dispatched_at
    }
}

/// The weighted cost of a request, at least one token's worth so that requests estimated at zero
/// tokens still move their entity's counter and entities take turns.
pub(crate) fn cost(input_weight: f64, output_weight: f64, input: u64, output: u64) -> f64 {
    (input as f64 * input_weight + output as f64 * output_weight).max(1.0)
}

/// A waiting line per priority, oldest first.
pub(crate) type Line<W> = VecDeque<Waiting<W>>;

#[cfg(test)]
mod tests;
