//! [`Exchange`]: token-fair shares across replicas. Each replica's scheduler counts what *it*
//! served each entity of a pool; the replicas tell each other those totals through Redis every
//! renewal period (`exchange.lua`, one round trip for all pools, off the request path), and each
//! charges an entity's counter with what the others served it since they last told, so an entity
//! sending through several replicas is charged for all of its service, not per replica.
//!
//! **The bound.** A replica's counters include the others' service up to the exchange's lag:
//! what they served in the last two periods at most (one to publish it, one to read it). So where
//! one replica serves two backlogged entities, their counters — in the whole group's service —
//! differ by at most the scheduler's bound `U` plus `Λ`, the service (÷ weight) the other replicas
//! gave one entity in two periods; over an interval, `2U + 2Λ`. A replica can only serve the
//! entities that send to it, and only with its allotment of the endpoints (`allotment.rs`), so an
//! entity that reaches fewer replicas than another gets its share within what those replicas'
//! allotments allow.
//!
//! A replica starting counts what the others served before it as history, not as service to
//! charge: like a process alone, it starts every entity level. A replica's totals leave Redis
//! with its lease.

use std::collections::HashMap;
use std::sync::Arc;

use domain::EntityId;
use parking_lot::Mutex;
use redis::Script;

use crate::allotment::LEASE;
use crate::shared::Shared;
use crate::status::Unreachable;

/// One replica's side of the service exchange.
pub struct Exchange {
    shared: Arc<Shared>,
    script: Script,
    replica: String,
    /// What it last heard of each other replica's entity in each pool (`None` before the first
    /// exchange, which only listens).
    heard: Mutex<Option<HashMap<(String, String), f64>>>,
}

/// One pool's service, by entity: weighted tokens.
pub type Service = Vec<(EntityId, f64)>;

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

impl Exchange {
    /// The exchange of the replica named `replica`, the name its allotments renew its lease under.
    pub fn new(shared: Arc<Shared>, replica: impl Into<String>) -> Exchange {
        Exchange {
            shared,
            script: Script::new(include_str!("exchange.lua")),
            replica: replica.into(),
            heard: Mutex::new(None),
        }
    }

    /// Tells the others what this replica served in each pool (`mine`: the pool's name and its
    /// service since the replica started), and answers what they served each pool's entities
    /// since the last exchange, in the same order: the service to charge.
    pub async fn exchange(&self, mine: &[(&str, Service)]) -> Result<Vec<Service>, Unreachable> {
        let keys = self.shared.keys();
        let keep = LEASE * 10;
        let mut call = self.script.prepare_invoke();
        call.key(keys.live_replicas())
            .arg(&self.replica)
            .arg(u64::try_from(keep.as_millis()).unwrap_or(u64::MAX));
        for (pool, service) in mine {
            call.key(keys.service(pool)).arg(service.len());
            for (entity, served) in service {
                call.arg(entity.to_string()).arg(served.to_string());
            }
        }
        // Per pool, a flat list: field, value, field, value…
        let answers: Vec<Vec<String>> = self.shared.invoke(&call).await?;
        let mut heard = self.heard.lock();
        let listening = heard.is_none();
        let last = heard.get_or_insert_with(HashMap::new);
        let mut now_heard = HashMap::with_capacity(last.len());
        let charges = mine
            .iter()
            .zip(answers)
            .map(|((pool, _), fields)| {
                let mut charges: HashMap<EntityId, f64> = HashMap::new();
                for pair in fields.chunks_exact(2) {
                    let (field, value) = (&pair[0], &pair[1]);
                    let (Some((_, entity)), Ok(total)) =
                        (field.split_once('|'), value.parse::<f64>())
                    else {
                        continue;
                    };
                    let Ok(entity) = entity.parse::<EntityId>() else {
                        continue;
                    };
                    let key = ((*pool).to_owned(), field.clone());
                    let before = last.get(&key).copied().unwrap_or(0.0);
                    if !listening {
                        *charges.entry(entity).or_default() += total - before;
                    }
                    now_heard.insert(key, total);
                }
                charges.into_iter().collect()
            })
            .collect();
        *last = now_heard;
        Ok(charges)
    }
}
