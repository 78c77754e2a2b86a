//! The request path's configuration, compiled: the models and endpoints (`catalog`), which
//! entities may use which models (`resolve`), the classification ladder (`classify`), the data
//! policies and declared use cases (`policies`), retention, the response cache, the endpoints'
//! live set, the client and `[routing]` settings that call them, and where models are scheduled
//! and placed — one immutable value, [`Configured`].
//!
//! The gateway holds the one in force behind an `ArcSwap`; a request loads it once when it
//! arrives (one atomic load) and every stage reads that one until the request's last byte, so a
//! request sees one coherent configuration from start to end. A reload ([`Gateway::prepare`])
//! compiles the next one whole before putting it in force, so a configuration that fails to
//! compile changes nothing; requests already in flight, streams included, finish on theirs.
//!
//! What carries over from one configuration to the next, by name: an endpoint's circuit (under
//! the new circuit policy), its requests in flight (`routing::Endpoints::reloaded`) and what
//! prefix affinity remembers of it, while its engine and URL stay the same; a pool's scheduler
//! with its line and shares, under the new `[scheduling]` settings (`schedule::Scheduling::place`);
//! a model's metric series; the HTTP client while the connect timeout is the same. An endpoint
//! whose engine or URL changes is another server: a new endpoint under the old name, the old one
//! removed. A removed endpoint takes no new request; the requests holding it finish on it. Once
//! the new configuration is in force, the endpoints it removed or moved are retired in the old
//! ones too (`routing::Endpoints::retire_absent`): a request that waited in a pool's line across
//! the reload routes on its own configuration, but never to an endpoint no longer configured, nor
//! to an endpoint's old URL — when none of its endpoints is left, it is answered 503
//! `no_endpoint_available`. The response cache starts empty: a model of the same name may now be
//! served otherwise.
//!
//! [`Gateway::prepare`]: crate::Gateway::prepare

use std::sync::Arc;

use configuration::{Config, RoutingConfig};
use domain::EndpointIdx;
use routing::{CircuitPolicy, EndpointSpec, Endpoints, PrefixIndex, Server};
use telemetry::Metrics;
use upstream::UpstreamClient;

use crate::cache::ResponseCache;
use crate::catalog::{Catalog, InvalidEndpoints};
use crate::classify::Classifier;
use crate::policies::Inspector;
use crate::resolve::ModelAccess;
use crate::schedule::{Placement, Scheduling, Sizing};

/// One configuration of the request path, compiled. Never changed once built: a reload builds
/// another.
#[derive(Debug)]
pub(crate) struct Configured {
    /// The configuration in force it was compiled from.
    pub config: Arc<Config>,
    /// The models and endpoints (resolve, route, meter).
    pub catalog: Catalog,
    /// Which models each entity may use (resolve).
    pub access: ModelAccess,
    pub classifier: Classifier,
    /// The data policies (inspect) and the declared use cases (attribute).
    pub inspector: Inspector,
    /// Each entity's retention mode: what is kept of its requests.
    pub retention: retention::RetentionPolicies,
    /// Answers served again to the same entity for the same request (cache).
    pub cache: Arc<ResponseCache>,
    /// The endpoints, their health and the client that calls them (route).
    pub routing: Routing,
    /// Each model's pool and what routing remembers of the prompts it placed (schedule, route).
    pub placement: Placement,
}

/// What the route stage calls endpoints with: the HTTP client, their health, the attempt limits.
#[derive(Debug)]
pub(crate) struct Routing {
    pub client: UpstreamClient,
    pub health: Arc<Endpoints>,
    pub settings: RoutingConfig,
    pub metrics: Arc<Metrics>,
}

/// What a compiled configuration changes outside itself when it is put in force.
pub(crate) struct Compiled {
    pub configured: Configured,
    /// The pools of its endpoint set, to size them.
    pub sizing: Sizing,
}

impl Configured {
    /// Compiles `config`. `previous`, the configuration in force when there is one, hands over
    /// its endpoints' live state and prefix memory by name, and its client while the connect
    /// timeout is the same. Only the catalog can refuse, and it is built first: a refused
    /// configuration leaves no trace (no pool made).
    pub fn compile(
        config: Arc<Config>,
        previous: Option<&Configured>,
        scheduling: &Scheduling,
        metrics: &Arc<Metrics>,
    ) -> Result<Compiled, InvalidEndpoints> {
        let catalog = Catalog::new(&config, metrics)?;
        let specs = endpoint_specs(&config);
        let blocks = config.scheduling.prefix_affinity_blocks;
        let policy = CircuitPolicy {
            failures: config.routing.circuit_failures,
            open_for: config.routing.circuit_open,
        };
        let connect_timeout = config.routing.connect_timeout;
        let client = match previous {
            Some(previous) if previous.routing.settings.connect_timeout == connect_timeout => {
                previous.routing.client.clone()
            }
            // Connections already open keep serving the requests of the configuration before.
            _ => UpstreamClient::new(connect_timeout),
        };
        let (endpoints, prefixes) = match previous {
            Some(previous) => {
                let before = &previous.routing.health;
                let kept: Vec<Option<EndpointIdx>> =
                    specs.iter().map(|spec| before.continued(spec)).collect();
                let prefixes = previous.placement.prefixes.reloaded(&kept, blocks);
                (before.reloaded(specs, policy), prefixes)
            }
            None => {
                let count = specs.len();
                (
                    Endpoints::new(specs, policy),
                    PrefixIndex::new(count, blocks),
                )
            }
        };
        let (placement, sizing) = scheduling.place(&config, &endpoints, prefixes);
        let routing = Routing {
            client,
            health: endpoints,
            settings: config.routing.clone(),
            metrics: Arc::clone(metrics),
        };
        let configured = Configured {
            cache: Arc::new(ResponseCache::new(&config.cache, &catalog)),
            catalog,
            access: ModelAccess::new(&config),
            classifier: Classifier::new(&config),
            inspector: Inspector::new(&config),
            retention: retention::RetentionPolicies::new(&config),
            routing,
            placement,
            config,
        };
        Ok(Compiled { configured, sizing })
    }
}

/// What routing needs to know of each configured endpoint.
fn endpoint_specs(config: &Config) -> Vec<EndpointSpec> {
    config
        .endpoints
        .iter()
        .map(|e| EndpointSpec {
            name: e.name.clone(),
            server: Server {
                kind: e.kind,
                // Filled in for the embedded simulator before the gateway is built.
                url: e.url.clone().unwrap_or_default(),
            },
            pool: e.pool.clone(),
            weight: e.weight,
            capacity: e.capacity,
        })
        .collect()
}
