//! Stage 11, schedule: a request waits here, not in a backend's FIFO, for a sequence of its model's
//! GPU pool; entities share each pool token-fairly by weight (the `scheduler` crate).
//!
//! - **Pools.** One `scheduler::Pool` per `pool` named by the endpoints; a model is scheduled in
//!   the pool of its first endpoint. A pool's capacity is the sum of its available endpoints'
//!   capacities (`routing::Endpoints::available_capacity`), refreshed after every health check
//!   and every failed attempt, so an endpoint whose circuit opens stops counting. A reloaded
//!   configuration keeps each pool it still names (its line, shares and counters), sizes it by
//!   its new endpoints and schedules it by its new `[scheduling]` settings, makes the pools it
//!   names for the first time and forgets the others, whose queued requests are still served
//!   there ([`Scheduling::place`], `resize`); whether scheduling is on at all is read at start.
//! - **The ticket.** The caller's entity (principals of no entity are scheduled as one "group"
//!   entity); the priority from `x-fabrique-priority` (default `standard`, read with the other
//!   headers by the attribute stage); the request's estimate, as admission's (`price::Estimate`: body bytes ÷
//!   4 in, `max_tokens` or `admission.default_completion_tokens` out, none for embeddings); an
//!   optional shorter wait from `x-fabrique-max-queue-ms`.
//! - **Priority classes.** Classes order work only within the caller's own entity, so a higher
//!   class competes with nobody else's work; it also carries a shorter maximum wait. A key may
//!   carry a class: its requests get it when they name none, and may name the same or a lower
//!   class, never a more urgent one (a `batch` key cannot claim `interactive`: 403
//!   `priority_not_allowed`). A key without a class, or a signed-in user, gets `standard` by
//!   default and may name any class; misuse then costs the caller's own colleagues only.
//! - **The dispatch** is held by the request's context through route and relay (inside the
//!   streamed body), so whatever ends the request — its last byte, an error, the caller going
//!   away — frees the sequence; metering settles it with the real token counts.
//! - **Fallbacks.** When the model's pool has no endpoint available at all, the request waits in
//!   the pool of the first model of its chain (`resolve::Chain`) that has; routing to a model of
//!   another pool takes a sequence there only if one is free at once ([`Scheduling::fallback`]).
//! - **Shedding.** `Shed::Timeout` and `Shed::QueueFull` become 429 `capacity_exhausted` with
//!   `Retry-After`; a pool with no available endpoint becomes 503 `no_endpoint_available` (after
//!   one capacity refresh, so an endpoint whose circuit just turned half-open gets its probe).
//! - **Replicas.** With `[redis]`, a pool is sized by this replica's allotments of its
//!   endpoints, and entities' counters include what the other replicas served them (`sharing`).
//!
//! With `[scheduling] enabled = false`, no request waits here: backends queue them first come,
//! first served.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use configuration::{Config, SchedulingConfig};
use domain::{EndpointIdx, EntityId, ModelIdx};
use http::HeaderMap;
use identity::Principal;
use parking_lot::RwLock;
use routing::{Endpoints, PrefixIndex};
use scheduler::{
    Dispatch, MaxWait, Pool, PoolSettings, Priority, Scheduler, Shed, Ticket, WaitObserver,
};
use telemetry::{EntityFigures, Metrics, PoolFigures, WaitHistogram};

use crate::catalog::Catalog;
use crate::error::GatewayError;
use crate::headers::{MAX_QUEUE_HEADER, PRIORITY_HEADER};
use crate::price::Estimate;
use crate::resolve::Chain;

/// The entity that requests of principals belonging to no entity are scheduled as.
const GROUP_ENTITY: EntityId = EntityId(uuid::Uuid::nil());

/// The schedule stage's state and the placement settings routing reads: one for the server's
/// life, its pools kept across configuration reloads.
#[derive(Debug)]
pub struct Scheduling {
    /// `None` when scheduling is off.
    scheduler: Option<Arc<Scheduler>>,
    /// Each pool with its endpoints, of the endpoint set in force, to size it; swapped by a
    /// reload, so a request that started before it sizes the pools of the new set too.
    sizing: ArcSwap<Sizing>,
    /// Entity slugs for the metrics' `entity` label, learned from the requests' principals.
    entity_names: RwLock<HashMap<EntityId, Arc<str>>>,
    metrics: Arc<Metrics>,
}

/// The pools of one endpoint set, each with its endpoints, and the `[scheduling]` settings
/// they are scheduled by.
#[derive(Debug)]
pub(crate) struct Sizing {
    endpoints: Arc<Endpoints>,
    pools: Vec<(Pool, Vec<EndpointIdx>)>,
    settings: SchedulingConfig,
}

/// Where one configuration's models are scheduled and placed: part of the request path's
/// configuration (`configured`), so a request keeps the one it started with.
#[derive(Debug)]
pub(crate) struct Placement {
    /// Each model's pool, in configuration order; `None` when scheduling is off.
    model_pools: Vec<Option<Pool>>,
    /// What routing remembers of the prompts it placed; holds nothing when prefix affinity is off.
    pub(crate) prefixes: PrefixIndex,
    /// Chat prompts are cut into blocks and placed where their prefix probably is.
    pub(crate) prefix_affinity: bool,
    pub(crate) prefix_max_load_gap: f64,
    /// Send the priority class to `vllm` endpoints.
    pub(crate) forward_priority: bool,
}

/// What the caller asked of the schedule stage, read from the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub priority: Priority,
    pub max_wait: Option<Duration>,
}

impl Scheduling {
    /// The schedule stage of `config`, with no pool yet: [`Scheduling::place`] makes them.
    pub(crate) fn new(config: &Config, metrics: &Arc<Metrics>, endpoints: Arc<Endpoints>) -> Self {
        let settings = &config.scheduling;
        Scheduling {
            scheduler: settings.enabled.then(|| Arc::new(Scheduler::default())),
            sizing: ArcSwap::from_pointee(Sizing {
                endpoints,
                pools: Vec::new(),
                settings: settings.clone(),
            }),
            entity_names: RwLock::new(HashMap::new()),
            metrics: Arc::clone(metrics),
        }
    }

    /// Where `config`'s models go on `endpoints`: a pool per pool name, the one of that name kept
    /// when it exists (its line, shares and counters whole), a new one sized by all its endpoints
    /// until the first refresh; every one scheduled by `config`'s `[scheduling]`. Nothing changes
    /// until the sizing returned is put in force with [`Scheduling::resize`].
    pub(crate) fn place(
        &self,
        config: &Config,
        endpoints: &Arc<Endpoints>,
        prefixes: PrefixIndex,
    ) -> (Placement, Sizing) {
        let mut by_pool: BTreeMap<&str, Vec<EndpointIdx>> = BTreeMap::new();
        for (index, endpoint) in config.endpoints.iter().enumerate() {
            by_pool
                .entry(endpoint.pool.as_str())
                .or_default()
                .push(EndpointIdx::new(index));
        }
        let pools: Vec<(Pool, Vec<EndpointIdx>)> = match &self.scheduler {
            None => Vec::new(),
            Some(scheduler) => by_pool
                .into_iter()
                .filter_map(|(name, members)| {
                    let capacity = members
                        .iter()
                        .map(|i| config.endpoints[i.get()].capacity)
                        .fold(0_u32, u32::saturating_add);
                    if let Some(kept) = scheduler.pool(name) {
                        return Some((kept, members));
                    }
                    let observer = wait_observer(name, &self.metrics);
                    let settings = pool_settings(&config.scheduling, capacity);
                    match Pool::new(name, settings, Some(observer)) {
                        Ok(pool) => Some((pool, members)),
                        Err(error) => {
                            // Unreachable: the configuration's validation checks the same rules.
                            tracing::error!(%error, pool = name, "scheduling settings refused; the pool's requests are not scheduled");
                            None
                        }
                    }
                })
                .collect(),
        };
        let model_pools = config
            .models
            .iter()
            .map(|model| {
                let pool = &config.endpoints.get(*model.endpoints.first()?)?.pool;
                let (found, _) = pools.iter().find(|(p, _)| p.name() == pool.as_str())?;
                Some(found.clone())
            })
            .collect();
        let settings = config.scheduling.clone();
        let placement = Placement {
            model_pools,
            prefixes,
            prefix_affinity: settings.prefix_affinity_blocks > 0,
            prefix_max_load_gap: settings.prefix_max_load_gap,
            forward_priority: settings.forward_priority,
        };
        let endpoints = Arc::clone(endpoints);
        let sizing = Sizing {
            endpoints,
            pools,
            settings,
        };
        (placement, sizing)
    }

    /// Puts `sizing` in force: its pools are the scheduler's, each scheduled by its settings from
    /// the next request on (`scheduler::Pool::reconfigure`), a pool no longer named is forgotten
    /// (the requests it holds or queues are served and released there all the same), and every
    /// pool is sized by its endpoints available now, so a changed capacity applies at once.
    pub(crate) fn resize(&self, sizing: Sizing) {
        if let Some(scheduler) = &self.scheduler {
            scheduler.replace(sizing.pools.iter().map(|(pool, _)| pool.clone()));
        }
        for (pool, _) in &sizing.pools {
            // The pool's own capacity stands: `refresh_capacity` sets it below.
            if let Err(error) = pool.reconfigure(pool_settings(&sizing.settings, 0)) {
                // Unreachable: the configuration's validation checks the same rules.
                tracing::error!(%error, pool = pool.name(), "scheduling settings refused; the pool keeps its own");
            }
        }
        self.sizing.store(Arc::new(sizing));
        self.refresh_capacity();
    }

    /// The pools, to set entity shares at start and from the admin API; `None` when scheduling
    /// is off.
    pub fn scheduler(&self) -> Option<&Arc<Scheduler>> {
        self.scheduler.as_ref()
    }

    /// Requests wait in the gateway and endpoints never get more than their capacity.
    pub(crate) fn gates_capacity(&self) -> bool {
        self.scheduler.is_some()
    }

    /// Sizes every pool of the endpoint set in force by its endpoints available now (and of
    /// those, by this replica's allotments when replicas share them).
    pub(crate) fn refresh_capacity(&self) {
        let sizing = self.sizing.load();
        for (pool, endpoints) in &sizing.pools {
            let capacity = sizing.endpoints.available_capacity(endpoints);
            pool.set_usable_capacity(capacity.usable, capacity.available);
        }
    }

    /// The endpoint set and pools in force, for the replicas' allotments (`sharing`).
    pub(crate) fn sizing(&self) -> Arc<Sizing> {
        self.sizing.load_full()
    }

    /// Copies every pool's state into the metrics (at scrape time).
    pub(crate) fn record_metrics(&self, metrics: &Metrics) {
        let names = self.entity_names.read();
        let sizing = self.sizing.load();
        for (pool, _) in &sizing.pools {
            let snapshot = pool.snapshot();
            let labels: Vec<String> = snapshot
                .entities
                .iter()
                .map(|e| {
                    names
                        .get(&e.entity)
                        .map_or_else(|| e.entity.to_string(), |n| n.to_string())
                })
                .collect();
            let figures = PoolFigures {
                pool: pool.name(),
                capacity: snapshot.capacity,
                in_flight: snapshot.in_flight,
                entities: snapshot
                    .entities
                    .iter()
                    .zip(&labels)
                    .map(|(e, label)| EntityFigures {
                        entity: label,
                        queued: e.queued_total() as u64,
                        in_flight: u64::from(e.in_flight),
                        served_input_tokens: e.served_input_tokens,
                        served_output_tokens: e.served_output_tokens,
                        timed_out: e.timed_out,
                        refused_queue_full: e.refused_queue_full,
                    })
                    .collect(),
            };
            metrics.scheduling.record_pool(&figures);
        }
    }

    /// Notes an entity's slug the first time it is seen (a read lock afterwards).
    fn remember(&self, entity: EntityId, slug: Option<&str>) {
        if self.entity_names.read().contains_key(&entity) {
            return;
        }
        let name: Arc<str> = Arc::from(slug.unwrap_or("group"));
        self.entity_names.write().insert(entity, name);
    }
}

/// What a pool of `capacity` sequences is scheduled by under `settings`.
fn pool_settings(settings: &SchedulingConfig, capacity: u32) -> PoolSettings {
    PoolSettings {
        max_queued: settings.max_queued,
        input_weight: settings.input_token_weight,
        output_weight: settings.output_token_weight,
        max_wait: MaxWait {
            interactive: settings.max_wait_interactive,
            standard: settings.max_wait_standard,
            batch: settings.max_wait_batch,
        },
        batch_headroom: settings.batch_headroom,
        ..PoolSettings::new(capacity)
    }
}

/// Reads `x-fabrique-priority` and `x-fabrique-max-queue-ms`; a malformed value is the caller's
/// error (400), never silently ignored. `key_class` is the class of the caller's key: the default,
/// and the most urgent class the header may ask for.
pub(crate) fn wanted(
    headers: &HeaderMap,
    key_class: Option<Priority>,
    use_case_class: Option<Priority>,
) -> Result<Wanted, GatewayError> {
    // The most urgent class the request may have: the less urgent of its key's and its use
    // case's (`Priority` orders the most urgent first).
    let key_class = match (key_class, use_case_class) {
        (Some(key), Some(use_case)) => Some(key.max(use_case)),
        (key, use_case) => key.or(use_case),
    };
    let priority = match headers.get(PRIORITY_HEADER) {
        None => key_class.unwrap_or(Priority::Standard),
        Some(value) => {
            let text = value.to_str().unwrap_or("").trim();
            let asked = Priority::parse(text).ok_or_else(|| GatewayError::InvalidField {
                param: PRIORITY_HEADER,
                message: format!(
                    "header `{PRIORITY_HEADER}` must be `interactive`, `standard` or `batch`, not `{text}`"
                ),
            })?;
            // `Priority` orders the most urgent first.
            match key_class {
                Some(allowed) if asked < allowed => {
                    return Err(GatewayError::PriorityNotAllowed {
                        asked: asked.as_str(),
                        allowed: allowed.as_str(),
                    });
                }
                _ => asked,
            }
        }
    };
    let max_wait = match headers.get(MAX_QUEUE_HEADER) {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or("").trim();
            let millis: u64 = text.parse().map_err(|_| GatewayError::InvalidField {
                param: MAX_QUEUE_HEADER,
                message: format!(
                    "header `{MAX_QUEUE_HEADER}` must be a whole number of milliseconds, not `{text}`"
                ),
            })?;
            Some(Duration::from_millis(millis))
        }
    };
    Ok(Wanted { priority, max_wait })
}

/// What the request asks of a pool, for its model's pool and for a fallback's.
pub(crate) fn ticket(principal: &Principal, wanted: Wanted, estimate: Estimate) -> Ticket {
    Ticket {
        entity: principal.entity_id.unwrap_or(GROUP_ENTITY),
        priority: wanted.priority,
        input_tokens_estimate: estimate.prompt_tokens,
        output_tokens_estimate: estimate.completion_tokens,
        max_wait: wanted.max_wait,
    }
}

/// Waits for a sequence of the pool of the chain's model. `None` when scheduling is off.
pub(crate) async fn schedule(
    scheduling: &Scheduling,
    (placement, catalog): (&Placement, &Catalog),
    chain: &Chain,
    principal: &Principal,
    ticket: &Ticket,
) -> Result<Option<Dispatch>, GatewayError> {
    let model = chain.model();
    let Some(pool) = placement.pool_of(model) else {
        return Ok(None);
    };
    scheduling.remember(ticket.entity, principal.entity_slug.as_deref());
    let mut admitted = scheduling.admit(pool, ticket).await;
    // The model's pool has no endpoint available at all: the request waits in the first
    // fallback's pool that has, as routing would send it there anyway.
    if admitted
        .as_ref()
        .is_err_and(|shed| *shed == Shed::NoCapacity)
    {
        for &fallback in chain.fallbacks() {
            let Some(other) = placement.pool_of(fallback) else {
                continue;
            };
            if other.name() != pool.name() {
                admitted = scheduling.admit(other, ticket).await;
                if !admitted
                    .as_ref()
                    .is_err_and(|shed| *shed == Shed::NoCapacity)
                {
                    break;
                }
            }
        }
    }
    let model = || catalog.model(model).name.clone();
    admitted.map(Some).map_err(|shed| match shed {
        Shed::NoCapacity => GatewayError::NoEndpointAvailable { model: model() },
        shed => GatewayError::CapacityExhausted {
            model: model(),
            shed,
        },
    })
}

impl Sizing {
    pub(crate) fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub(crate) fn pools(&self) -> impl Iterator<Item = &Pool> {
        self.pools.iter().map(|(pool, _)| pool)
    }

    /// Each scheduled endpoint with the demand of its pool here: its requests in flight and
    /// waiting.
    pub(crate) fn demands(&self) -> impl Iterator<Item = (EndpointIdx, u32)> + '_ {
        self.pools.iter().flat_map(|(pool, endpoints)| {
            let snapshot = pool.snapshot();
            let waiting = u32::try_from(snapshot.queued).unwrap_or(u32::MAX);
            let demand = snapshot.in_flight.saturating_add(waiting);
            endpoints.iter().map(move |&index| (index, demand))
        })
    }
}

impl Placement {
    fn pool_of(&self, model: ModelIdx) -> Option<&Pool> {
        self.model_pools.get(model.get()).and_then(Option::as_ref)
    }
}

impl Scheduling {
    /// Waits in `pool`'s line, its capacity refreshed from endpoint health once if it has none.
    async fn admit(&self, pool: &Pool, ticket: &Ticket) -> Result<Dispatch, Shed> {
        match pool.admit(ticket.clone()).await {
            Err(Shed::NoCapacity) => {
                self.refresh_capacity();
                pool.admit(ticket.clone()).await
            }
            other => other,
        }
    }
}

/// Whether a scheduled request may be sent to one of its candidate models (the requested one or
/// a fallback).
pub(crate) enum FallbackSequence {
    /// The candidate is served by the pool the request holds a sequence of (or is not scheduled).
    Covered,
    /// The candidate's pool had a free sequence and nobody waiting: the request holds it now.
    Taken(Dispatch),
    /// The candidate's pool is busy: the request does not jump its line, it skips the candidate.
    Busy,
}

impl Placement {
    /// A sequence of `candidate`'s pool for a request holding one of `held_pool` with `ticket`.
    /// A model served by another pool is only tried where that pool has room at once, so a failing
    /// model's requests never push past the other pool's own line nor beyond its capacity, and
    /// what they are served counts in that pool's fairness.
    pub(crate) fn fallback(
        &self,
        held_pool: Option<&str>,
        candidate: ModelIdx,
        ticket: Option<&Ticket>,
    ) -> FallbackSequence {
        let pool = self.pool_of(candidate);
        match (ticket, held_pool, pool) {
            (Some(ticket), Some(held), Some(pool)) if pool.name() != held => {
                match pool.try_admit(ticket) {
                    Some(dispatch) => FallbackSequence::Taken(dispatch),
                    None => FallbackSequence::Busy,
                }
            }
            _ => FallbackSequence::Covered,
        }
    }
}

/// The observer that puts each request dispatched by `pool` into its priority's wait histogram.
fn wait_observer(pool: &str, metrics: &Metrics) -> WaitObserver {
    let of = |p: Priority| metrics.scheduling.wait_histogram(pool, p.as_str());
    let by_priority: [WaitHistogram; 3] = [
        of(Priority::Interactive),
        of(Priority::Standard),
        of(Priority::Batch),
    ];
    Arc::new(move |observation: &scheduler::WaitObservation<'_>| {
        let index = match observation.priority {
            Priority::Interactive => 0,
            Priority::Standard => 1,
            Priority::Batch => 2,
        };
        by_priority[index].observe(observation.waited.as_secs_f64());
    })
}

/// The body's `priority` for vLLM's priority scheduling: lower is served first.
pub(crate) fn vllm_priority(priority: Priority) -> u8 {
    match priority {
        Priority::Interactive => 0,
        Priority::Standard => 1,
        Priority::Batch => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(class: Option<&str>, key_class: Option<Priority>) -> Result<Priority, &'static str> {
        asked_for_use_case(class, key_class, None)
    }

    fn asked_for_use_case(
        class: Option<&str>,
        key_class: Option<Priority>,
        use_case_class: Option<Priority>,
    ) -> Result<Priority, &'static str> {
        let mut headers = HeaderMap::new();
        if let Some(class) = class {
            headers.insert(PRIORITY_HEADER, class.parse().expect("header value"));
        }
        wanted(&headers, key_class, use_case_class)
            .map(|w| w.priority)
            .map_err(|e| e.code())
    }

    #[test]
    fn a_use_cases_class_is_the_default_and_bounds_the_request_with_the_keys() {
        use Priority::{Batch, Interactive, Standard};
        assert_eq!(asked_for_use_case(None, None, Some(Batch)), Ok(Batch));
        // The less urgent of the two classes wins, whichever it comes from.
        assert_eq!(
            asked_for_use_case(None, Some(Interactive), Some(Standard)),
            Ok(Standard)
        );
        assert_eq!(
            asked_for_use_case(None, Some(Batch), Some(Interactive)),
            Ok(Batch)
        );
        assert_eq!(
            asked_for_use_case(Some("interactive"), None, Some(Batch)),
            Err("priority_not_allowed")
        );
        assert_eq!(
            asked_for_use_case(Some("batch"), Some(Interactive), Some(Standard)),
            Ok(Batch)
        );
    }

    #[test]
    fn a_keys_class_is_the_default_and_the_most_urgent_a_request_may_ask() {
        use Priority::{Batch, Interactive, Standard};
        assert_eq!(asked(None, None), Ok(Standard));
        assert_eq!(asked(None, Some(Batch)), Ok(Batch));
        assert_eq!(asked(None, Some(Interactive)), Ok(Interactive));
        assert_eq!(asked(Some("interactive"), None), Ok(Interactive));
        assert_eq!(asked(Some("batch"), Some(Standard)), Ok(Batch));
        assert_eq!(asked(Some("Standard"), Some(Standard)), Ok(Standard));
        assert_eq!(asked(Some("batch"), Some(Interactive)), Ok(Batch));
        assert_eq!(
            asked(Some("interactive"), Some(Batch)),
            Err("priority_not_allowed")
        );
        assert_eq!(
            asked(Some("standard"), Some(Batch)),
            Err("priority_not_allowed")
        );
        assert_eq!(asked(Some("urgent"), Some(Batch)), Err("invalid_value"));
    }
}
