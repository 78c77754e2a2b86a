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
//! the first renewal answers, a request waits in its pool's line; while renewals fail, the last
//! allotments hold until the lease runs out, then each endpoint's `[redis] replicas` share, and
//! the counters count this replica's service alone. Alone (no `[redis]`), nothing of this runs.

use std::sync::Arc;

use counters::{Allotments, Claim, Exchange, RENEWAL_PERIOD, Service};
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
    let allotments = Allotments::new(Arc::clone(shared), replica.clone(), counters::LEASE);
    let exchange = Exchange::new(Arc::clone(shared), replica);
    gateway.scheduling.sizing().endpoints().start_allotting();
    gateway.scheduling.refresh_capacity();
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(RENEWAL_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lease = Lease::None;
        loop {
            ticker.tick().await;
            let sizing = gateway.scheduling.sizing();
            renew(&sizing, &allotments, &mut lease).await;
            gateway.scheduling.refresh_capacity();
            exchange_service(&sizing, &exchange).await;
        }
    }))
}

/// What this replica knows of its lease.
#[derive(Debug, Clone, Copy)]
enum Lease {
    /// Never renewed, or run out: the fallback shares are in force.
    None,
    /// Renewed, valid until then.
    Until(Instant),
}

/// Claims every scheduled endpoint of `sizing` and applies the answer, or, once the lease ran
/// out, the fallback.
async fn renew(sizing: &Sizing, allotments: &Allotments, lease: &mut Lease) {
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
    match allotments.renew(&claims).await {
        Ok(allotted) => {
            if matches!(lease, Lease::None) {
                tracing::info!(
                    replica = allotments.replica(),
                    "the GPU endpoints' capacity is shared with the other replicas through Redis"
                );
            }
            *lease = Lease::Until(allotted.until);
            for (&(index, ..), sequences) in claimed.iter().zip(allotted.sequences) {
                endpoints.allot(index, sequences);
            }
        }
        Err(error) => match *lease {
            Lease::Until(until) if Instant::now() < until => {
                tracing::warn!(%error, "the allotments of the GPU endpoints' capacity could not be renewed; the last ones hold until the lease runs out");
            }
            Lease::Until(_) | Lease::None => {
                if matches!(lease, Lease::Until(_)) {
                    tracing::error!(%error, "the lease on the GPU endpoints' capacity ran out: each endpoint's `[redis] replicas` share applies");
                }
                *lease = Lease::None;
                for &(index, holding, _) in &claimed {
                    endpoints.allot(index, allotments.fallback(holding.capacity));
                }
            }
        },
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
