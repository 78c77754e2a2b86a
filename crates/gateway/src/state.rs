//! The gateway's state, built once from the configuration: each stage's compiled state, composed.
//! Everything the request path reads is here, in memory; each stage is handed only its part.

use std::sync::Arc;

use configuration::Config;
use identity::Directory;
use routing::{CircuitPolicy, EndpointSpec, Endpoints};
use telemetry::Metrics;
use upstream::{UpstreamClient, UpstreamError};

use crate::cache::ResponseCache;
use crate::catalog::Catalog;
use crate::classify::Classifier;
use crate::meter::{Meter, Sinks};
use crate::policies::Inspector;
use crate::resolve::ModelAccess;
use crate::route::Routing;
use crate::schedule::Scheduling;

/// Everything the inference routes share.
#[derive(Debug)]
pub struct Gateway {
    pub config: Arc<Config>,
    /// The models and endpoints (resolve, route, meter).
    pub(crate) catalog: Catalog,
    /// Who is the caller (authenticate) and in which teams (attribute).
    pub(crate) directory: Arc<Directory>,
    /// Sign-in with the identity provider, when `[oidc]` is configured: access tokens and session
    /// cookies authenticate besides API keys.
    pub(crate) sign_in: Option<Arc<dyn access::SignIn>>,
    /// Who holds a seat (license), shared with the admin API and SCIM that change it.
    pub(crate) seats: Arc<seats::Seats>,
    /// Which models each entity may use (resolve).
    pub(crate) access: ModelAccess,
    pub(crate) classifier: Classifier,
    /// The data policies (inspect) and the declared use cases (attribute).
    pub(crate) inspector: Inspector,
    /// The AI Factory's live registry: who may name or invoke each use case (stages 3 and 5),
    /// its priority class, its deployed versions. Swapped whole by the admin API.
    pub factory: Arc<factory::Live>,
    /// Each entity's retention mode: what is kept of its requests.
    pub(crate) retention: retention::RetentionPolicies,
    /// Rate limits and budgets, shared with the admin API that sets them.
    pub admission: Arc<admission::Admission>,
    /// Where they are counted (count, admit, meter): here, or once for all replicas in Redis.
    pub(crate) counters: counters::Counters,
    /// The GPU pools' schedulers (schedule) and the placement settings routing reads.
    pub scheduling: Scheduling,
    /// The endpoints, their health and the client that calls them (route).
    pub(crate) routing: Routing,
    /// Answers served again to the same entity for the same request (cache).
    pub(crate) cache: Arc<ResponseCache>,
    /// Where usage, audit events and kept content leave the request path (meter).
    pub(crate) sinks: Sinks,
    pub(crate) metrics: Arc<Metrics>,
}

impl Gateway {
    /// Builds the state. Every endpoint must have a URL by now (the binary fills in the embedded
    /// simulator's address before calling this).
    #[expect(
        clippy::too_many_arguments,
        reason = "the shared parts the binary builds and hands over, one each"
    )]
    pub fn new(
        config: Arc<Config>,
        directory: Arc<Directory>,
        sign_in: Option<Arc<dyn access::SignIn>>,
        seats: Arc<seats::Seats>,
        sinks: Sinks,
        metrics: Arc<Metrics>,
        counters: counters::Counters,
        factory: Arc<factory::Live>,
    ) -> Result<Arc<Self>, UpstreamError> {
        let health = Endpoints::new(
            config
                .endpoints
                .iter()
                .map(|e| EndpointSpec {
                    name: e.name.clone(),
                    pool: e.pool.clone(),
                    weight: e.weight,
                    capacity: e.capacity,
                })
                .collect(),
            CircuitPolicy {
                failures: config.routing.circuit_failures,
                open_for: config.routing.circuit_open,
            },
        );
        let routing = Routing {
            client: UpstreamClient::new(config.routing.connect_timeout),
            health: Arc::clone(&health),
            settings: config.routing.clone(),
            metrics: Arc::clone(&metrics),
        };
        let catalog = Catalog::new(&config)?;
        Ok(Arc::new(Gateway {
            cache: Arc::new(ResponseCache::new(&config.cache, &catalog)),
            catalog,
            scheduling: Scheduling::new(&config, &metrics, health),
            access: ModelAccess::new(&config),
            classifier: Classifier::new(&config),
            inspector: Inspector::new(&config),
            factory,
            retention: retention::RetentionPolicies::new(&config),
            routing,
            admission: Arc::clone(counters.admission()),
            counters,
            sinks,
            directory,
            sign_in,
            seats,
            metrics,
            config,
        }))
    }

    /// The endpoints' live state (health, circuits, requests in flight), shared read-only with
    /// the surfaces that show it (the admin API's pools): they read snapshots, `Endpoints::status`.
    pub fn endpoints(&self) -> &Arc<routing::Endpoints> {
        &self.routing.health
    }

    /// Where rate limits and budgets are counted.
    pub fn counters(&self) -> &counters::Counters {
        &self.counters
    }

    /// Where records leave the request path: the surfaces beside it (the libraries' chat
    /// extension) hand their request-path audit events to the same sink.
    pub fn sinks(&self) -> &Sinks {
        &self.sinks
    }

    /// What the meter writes to.
    pub(crate) fn meter(&self) -> Meter<'_> {
        Meter {
            sinks: &self.sinks,
            metrics: &self.metrics,
            counters: &self.counters,
            catalog: &self.catalog,
            classifier: &self.classifier,
        }
    }
}
