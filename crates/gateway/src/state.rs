//! The gateway's shared state, built once from the configuration: everything the request path reads
//! is here, in memory.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use configuration::Config;
use domain::{Classification, EndpointKind, Hosting, ModelKind};
use identity::{Directory, Principal};
use routing::{CircuitPolicy, EndpointSpec, Endpoints};
use telemetry::Metrics;
use upstream::{EndpointTarget, UpstreamClient, UpstreamError};
use usage::{AuditSink, UsageSink};

use crate::classify::Classifier;

/// One configured model, ready for the request path.
#[derive(Debug)]
pub struct ModelRoute {
    pub name: String,
    pub kind: ModelKind,
    /// The model's name as its backends know it.
    pub upstream_name: String,
    /// How to put the public name back into responses, when the backends use another one.
    /// Shared, so a stream can hold it without copying its patterns per request.
    pub rename: Option<Arc<crate::relay::ModelRename>>,
    pub endpoints: Vec<usize>,
    /// For each classification level (by rank), the model's endpoints cleared for it.
    pub cleared: Vec<Vec<usize>>,
    pub fallbacks: Vec<usize>,
    pub input_micros_per_million: u64,
    pub output_micros_per_million: u64,
    /// Every endpoint is the GPU-backend simulator.
    pub simulated: bool,
    pub context_length: Option<u32>,
}

/// One configured endpoint, ready to be called.
#[derive(Debug)]
pub struct EndpointRoute {
    pub name: String,
    pub kind: EndpointKind,
    pub target: EndpointTarget,
    pub hosting: Hosting,
    /// Path of the active health check: at the origin, or `None` to use `GET {url}/models`.
    pub health_path: Option<String>,
}

/// Which models each entity may use; entities not listed may use every model.
#[derive(Debug, Default)]
pub struct ModelAccess {
    by_entity: HashMap<String, HashSet<usize>>,
}

/// Whether a principal may use a model, and if not, who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// The entity may not: the model is treated as absent, so other entities' models never show.
    DeniedToEntity,
    /// The key is scoped to other models: its holder is told so.
    DeniedToKey,
}

impl ModelAccess {
    /// The one access decision of resolve and of `/v1/models`: the entity's models, then the
    /// key's scope.
    pub fn decide(&self, principal: &Principal, model: usize, name: &str) -> Access {
        if !self.allows(principal.entity_slug.as_deref(), model) {
            Access::DeniedToEntity
        } else if !principal.may_use_model(name) {
            Access::DeniedToKey
        } else {
            Access::Allowed
        }
    }

    pub fn allows(&self, entity_slug: Option<&str>, model: usize) -> bool {
        match entity_slug.and_then(|slug| self.by_entity.get(slug)) {
            Some(allowed) => allowed.contains(&model),
            None => true,
        }
    }
}

/// Everything the inference routes share.
#[derive(Debug)]
pub struct Gateway {
    pub config: Arc<Config>,
    pub models: Vec<ModelRoute>,
    pub model_index: HashMap<String, usize>,
    pub endpoints: Vec<EndpointRoute>,
    pub health: Arc<Endpoints>,
    pub client: UpstreamClient,
    pub directory: Arc<Directory>,
    /// Sign-in with the identity provider, when `[oidc]` is configured: access tokens and session
    /// cookies authenticate besides API keys.
    pub sign_in: Option<Arc<dyn access::SignIn>>,
    /// Who holds a seat (stage 3), shared with the admin API and SCIM that change it.
    pub seats: Arc<seats::Seats>,
    pub usage: UsageSink,
    /// Access decisions made on the request path, written off it.
    pub audit: AuditSink,
    /// Content of requests whose entity keeps it (`full`); `None` when no entity does.
    pub content: Option<retention::ContentSink>,
    /// Each entity's retention mode.
    pub retention: retention::RetentionPolicies,
    pub metrics: Arc<Metrics>,
    pub access: ModelAccess,
    pub classifier: Classifier,
    /// The data policies (stage 6, inspect).
    pub inspector: crate::inspect::Inspector,
    /// Rate limits and budgets, shared with the admin API that sets them.
    pub admission: Arc<admission::Admission>,
    /// The GPU pools' schedulers and the placement settings (`schedule.rs`).
    pub scheduling: crate::schedule::Scheduling,
}

/// Where records leave the request path: usage, audit events and kept content.
#[derive(Debug)]
pub struct Sinks {
    pub usage: UsageSink,
    pub audit: AuditSink,
    /// Present when some entity (or the group's default) keeps content.
    pub content: Option<retention::ContentSink>,
}

impl ModelRoute {
    /// The model's endpoints whose clearance is at least `level`.
    pub fn cleared_for(&self, level: Classification) -> &[usize] {
        self.cleared
            .get(usize::from(level.0))
            .map_or(&[], Vec::as_slice)
    }
}

impl Gateway {
    /// Builds the state. Every endpoint must have a URL by now (the binary fills in the embedded
    /// simulator's address before calling this).
    pub fn new(
        config: Arc<Config>,
        directory: Arc<Directory>,
        sign_in: Option<Arc<dyn access::SignIn>>,
        seats: Arc<seats::Seats>,
        sinks: Sinks,
        metrics: Arc<Metrics>,
        admission: Arc<admission::Admission>,
    ) -> Result<Arc<Self>, UpstreamError> {
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| {
                let url = e.url.as_deref().ok_or_else(|| {
                    UpstreamError::InvalidUrl(format!("endpoint `{}` has no URL", e.name))
                })?;
                Ok(EndpointRoute {
                    name: e.name.clone(),
                    kind: e.kind,
                    target: EndpointTarget::new(url, e.credential.as_deref())?,
                    hosting: e.hosting,
                    health_path: e.health_path.clone(),
                })
            })
            .collect::<Result<Vec<_>, UpstreamError>>()?;
        let models: Vec<ModelRoute> = config
            .models
            .iter()
            .map(|m| ModelRoute {
                name: m.name.clone(),
                kind: m.kind,
                upstream_name: m.upstream_name.clone(),
                rename: crate::relay::ModelRename::new(&m.upstream_name, &m.name).map(Arc::new),
                endpoints: m.endpoints.clone(),
                cleared: (0..config.classifications.names().len())
                    .map(|rank| {
                        let level = Classification(u8::try_from(rank).unwrap_or(u8::MAX));
                        m.endpoints
                            .iter()
                            .copied()
                            .filter(|&i| {
                                config
                                    .endpoints
                                    .get(i)
                                    .is_some_and(|e| e.clearance >= level)
                            })
                            .collect()
                    })
                    .collect(),
                fallbacks: m.fallbacks.clone(),
                input_micros_per_million: m.price.input_micros_per_million,
                output_micros_per_million: m.price.output_micros_per_million,
                context_length: m.context_length,
                simulated: m.endpoints.iter().all(|&i| {
                    config
                        .endpoints
                        .get(i)
                        .is_some_and(|e| e.kind == EndpointKind::Simulator)
                }),
            })
            .collect();
        let model_index = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        let health = Endpoints::new(
            config
                .endpoints
                .iter()
                .map(|e| EndpointSpec {
                    name: e.name.clone(),
                    weight: e.weight,
                    capacity: e.capacity,
                })
                .collect(),
            CircuitPolicy {
                failures: config.routing.circuit_failures,
                open_for: config.routing.circuit_open,
            },
        );
        let access = ModelAccess {
            by_entity: config
                .entities
                .iter()
                .filter_map(|seed| {
                    let allowed = seed.models.as_ref()?;
                    let indexes = allowed
                        .iter()
                        .filter_map(|name| config.model(name).map(|(i, _)| i))
                        .collect();
                    Some((seed.slug.clone(), indexes))
                })
                .collect(),
        };
        let scheduling = crate::schedule::Scheduling::new(&config, &metrics);
        Ok(Arc::new(Gateway {
            scheduling,
            classifier: Classifier::new(&config),
            inspector: crate::inspect::Inspector::new(&config),
            admission,
            audit: sinks.audit,
            content: sinks.content,
            retention: retention::RetentionPolicies::new(&config),
            client: UpstreamClient::new(config.routing.connect_timeout),
            config,
            models,
            model_index,
            endpoints,
            health,
            directory,
            sign_in,
            seats,
            usage: sinks.usage,
            metrics,
            access,
        }))
    }
}
