//! The schedule stage's metrics: per pool its capacity and sequences in flight; per pool and entity
//! the requests waiting, in flight, the tokens served and the requests shed; per pool and priority a
//! histogram of the time waited for a sequence.
//!
//! The entity label is the entity's slug: entities are few (the group's legal entities), so the
//! label set stays bounded; users and keys never appear. Gauges and counters are copied from the
//! scheduler's snapshots at scrape time ([`SchedulingMetrics::record_pool`]), so the request path
//! only observes waits, through handles created at start.

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolPriorityLabels {
    pool: String,
    priority: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolEntityLabels {
    pool: String,
    entity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServedLabels {
    pool: String,
    entity: String,
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShedLabels {
    pool: String,
    entity: String,
    reason: String,
}

/// One pool as the scheduler last saw it, in plain numbers.
#[derive(Debug, Clone, Default)]
pub struct PoolFigures<'a> {
    pub pool: &'a str,
    pub capacity: u32,
    pub in_flight: u32,
    pub entities: Vec<EntityFigures<'a>>,
}

/// One entity in one pool; `queued` and `in_flight` are gauges, the rest totals since start.
#[derive(Debug, Clone, Default)]
pub struct EntityFigures<'a> {
    pub entity: &'a str,
    pub queued: u64,
    pub in_flight: u64,
    pub served_input_tokens: u64,
    pub served_output_tokens: u64,
    pub timed_out: u64,
    pub refused_queue_full: u64,
}

/// The wait histogram of one pool and priority.
#[derive(Debug, Clone)]
pub struct WaitHistogram(Histogram);

impl WaitHistogram {
    pub fn observe(&self, seconds: f64) {
        self.0.observe(seconds);
    }
}

/// The families of the schedule stage, registered in the one registry.
#[derive(Debug)]
pub struct SchedulingMetrics {
    wait: Family<PoolPriorityLabels, Histogram>,
    capacity: Family<PoolLabels, Gauge>,
    pool_in_flight: Family<PoolLabels, Gauge>,
    queued: Family<PoolEntityLabels, Gauge>,
    in_flight: Family<PoolEntityLabels, Gauge>,
    served_tokens: Family<ServedLabels, Counter>,
    shed: Family<ShedLabels, Counter>,
    /// Scrapes copy totals into counters by difference: one at a time, or two would add it twice.
    copying: Mutex<()>,
}

impl SchedulingMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = SchedulingMetrics {
            wait: Family::new_with_constructor(crate::latency_histogram as fn() -> Histogram),
            capacity: Family::default(),
            pool_in_flight: Family::default(),
            queued: Family::default(),
            in_flight: Family::default(),
            served_tokens: Family::default(),
            shed: Family::default(),
            copying: Mutex::new(()),
        };
        registry.register(
            "schedule_wait_seconds",
            "Time a dispatched request waited for a sequence of its pool, by priority",
            metrics.wait.clone(),
        );
        registry.register(
            "pool_capacity",
            "Concurrent sequences of the pool's available endpoints",
            metrics.capacity.clone(),
        );
        registry.register(
            "pool_in_flight",
            "Sequences of the pool held by requests",
            metrics.pool_in_flight.clone(),
        );
        registry.register(
            "schedule_queued",
            "Requests waiting for a sequence, by pool and entity",
            metrics.queued.clone(),
        );
        registry.register(
            "schedule_in_flight",
            "Sequences held, by pool and entity",
            metrics.in_flight.clone(),
        );
        registry.register(
            "schedule_served_tokens",
            "Tokens served, by pool, entity and direction (input, output)",
            metrics.served_tokens.clone(),
        );
        registry.register(
            "schedule_shed",
            "Requests refused by the schedule stage, by pool, entity and reason",
            metrics.shed.clone(),
        );
        metrics
    }

    /// The wait histogram of one pool and priority: take it once at start, observe on the request
    /// path without allocating.
    pub fn wait_histogram(&self, pool: &str, priority: &str) -> WaitHistogram {
        WaitHistogram(
            self.wait
                .get_or_create(&PoolPriorityLabels {
                    pool: pool.to_owned(),
                    priority: priority.to_owned(),
                })
                .clone(),
        )
    }

    /// Copies one pool's figures into the gauges and counters (at scrape time).
    pub fn record_pool(&self, figures: &PoolFigures<'_>) {
        let _one_at_a_time = self.copying.lock();
        let pool = || figures.pool.to_owned();
        self.capacity
            .get_or_create(&PoolLabels { pool: pool() })
            .set(i64::from(figures.capacity));
        self.pool_in_flight
            .get_or_create(&PoolLabels { pool: pool() })
            .set(i64::from(figures.in_flight));
        for entity in &figures.entities {
            let labels = PoolEntityLabels {
                pool: pool(),
                entity: entity.entity.to_owned(),
            };
            self.queued
                .get_or_create(&labels)
                .set(i64::try_from(entity.queued).unwrap_or(i64::MAX));
            self.in_flight
                .get_or_create(&labels)
                .set(i64::try_from(entity.in_flight).unwrap_or(i64::MAX));
            for (direction, total) in [
                ("input", entity.served_input_tokens),
                ("output", entity.served_output_tokens),
            ] {
                let counter = self.served_tokens.get_or_create(&ServedLabels {
                    pool: pool(),
                    entity: entity.entity.to_owned(),
                    direction: direction.to_owned(),
                });
                raise_to(&counter, total);
            }
            for (reason, total) in [
                ("timeout", entity.timed_out),
                ("queue_full", entity.refused_queue_full),
            ] {
                let counter = self.shed.get_or_create(&ShedLabels {
                    pool: pool(),
                    entity: entity.entity.to_owned(),
                    reason: reason.to_owned(),
                });
                raise_to(&counter, total);
            }
        }
    }
}

/// Brings a counter up to a total the scheduler keeps (totals never decrease).
fn raise_to(counter: &Counter, total: u64) {
    let current = counter.get();
    if total > current {
        counter.inc_by(total - current);
    }
}
