//! Replicas sharing the GPU pools, with `[redis]` and scheduling on. A background task does, every
//! `counters::RENEWAL_PERIOD`, one round trip for each of:
//!
//! - **capacity**: this replica uses only the part of each endpoint's capacity Redis allots it
//!   (`counters::Allotments`, which states the rules and the bound), so what all replicas send to
//!   an endpoint never exceeds its capacity; the pools are sized by the allotments;
//! - **fairness**: it tells the others what its pools served each entity and charges each
//!   entity's counter with what they served it (`counters::Exchange`, with the bound), so
//!   token-fair shares hold across replicas.
//!
//! The request path makes no round trip for either: it reads the allotments
//! (`routing::Endpoints::allot`, the pools' usable capacity) and the counters from memory. Until
//! the first renewal, a request waits in its pool's line; while renewals fail, the last
//! allotments hold until the lease runs out, and each endpoint's `[redis] replicas` share from
//! then on (or at once, when the first renewal fails: `counters::Allotments::renew_lease`), and
//! the counters count this replica's service alone. Alone (no `[redis]`), nothing of this runs.

use std::sync::Arc;

use counters::{Allotments, Claim, Exchange, RENEWAL_PERIOD, Renewal, Service};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::schedule::Sizing;
use crate::state::Gateway;

/// Starts the renewals, or returns `None` when this replica does not share its endpoints (no
/// `[redis]`) or does not gate their capacity (scheduling off). The replica is named afresh
/// (a random id) for each process.
pub fn spawn_sharing(gateway: Arc<Gateway>) -> Option<JoinHandle<()>> {
    let shared = gateway.counters.redis()?;
    if !gateway.scheduling.gates_capacity() {
        return None;
    }
    let replica = uuid::Uuid::new_v4().to_string();
    let mut allotments = Allotments::new(Arc::clone(shared), replica.clone(), counters::LEASE);
    let exchange = Exchange::new(Arc::clone(shared), replica);
    gateway.scheduling.sizing().endpoints().start_allotting();
    gateway.scheduling.refresh_capacity();
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(RENEWAL_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let sizing = gateway.scheduling.sizing();
            renew(&sizing, &mut allotments).await;
            gateway.scheduling.refresh_capacity();
            exchange_service(&sizing, &exchange).await;
        }
    }))
}

/// Claims every scheduled endpoint of `sizing` and applies what the renewal says: the new
/// allotments, the last ones, or the fallback shares.
async fn renew(sizing: &Sizing, allotments: &mut Allotments) {
    let endpoints = sizing.endpoints();
    let claimed: Vec<_> = sizing
        .demands()
        .filter_map(|(index, demand)| Some((index, endpoints.holding(index)?, demand)))
        .collect();
    let claims: Vec<Claim<'_>> = claimed
        .iter()
        .map(|&(index, holding, demand)| Claim {
            endpoint: endpoints.name(index),
            capacity: holding.capacity,
            held: holding.held,
            demand,
        })
        .collect();
    let sequences = match allotments.renew_lease(&claims, Instant::now).await {
        Renewal::Allotted(sequences) | Renewal::FellBack(sequences) => sequences,
        Renewal::Held => return,
    };
    for (&(index, ..), sequences) in claimed.iter().zip(sequences) {
        endpoints.allot(index, sequences);
    }
}

/// Tells the others what each pool served here, and charges what they served.
async fn exchange_service(sizing: &Sizing, exchange: &Exchange) {
    let mine: Vec<(&str, Service)> = sizing
        .pools()
        .map(|pool| (pool.name(), pool.service()))
        .collect();
    match exchange.exchange(&mine).await {
        Ok(served) => {
            for (pool, elsewhere) in sizing.pools().zip(served) {
                pool.absorb(&elsewhere);
            }
        }
        Err(error) => {
            tracing::debug!(%error, "the service served elsewhere could not be exchanged");
        }
    }
}
