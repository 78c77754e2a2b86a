//! Prometheus metrics, structured logging and OpenTelemetry traces, shared by every surface.
//!
//! Label sets are bounded: entity (a slug from the directory), model (a configured public name),
//! route, status class, endpoint — never user or key. The request path counts through
//! [`EntityModelMetrics`] handles, created once per (entity, model) pair (see `by_entity`), so
//! recording a request is a few atomic additions with no allocation.
//!
//! # In detail
//!
//! Prometheus metrics, log set-up and OpenTelemetry traces. **Metrics:** labels are bounded — entity
//! (a slug from the directory), model (a configured name), route, status class, endpoint — never user
//! or key. The request path counts through `EntityModelMetrics` handles (requests by status class,
//! tokens, cost, admission rejections, latency and TTFT histograms), one set per (entity, model) pair,
//! created on the pair's first request in the model's own map (`ModelMetrics::entity`: one read lock
//! and one lookup of the slug, no allocation after the first time; the maps are sharded by model,
//! whose index the request holds). Endpoint health (`endpoint_up` from health checks,
//! `endpoint_circuit` read from `routing` at scrape time). **Traces** (`traces.rs`): `init` installs
//! the log layer (filtered by `RUST_LOG`) and, with an OTLP URL, a `tracing-opentelemetry` layer that
//! takes only the request path's spans (target `REQUEST_TARGET`, DEBUG) and a batch exporter
//! (`opentelemetry-otlp`, HTTP/protobuf; no gRPC stack). The exporter runs on its own thread; its HTTP
//! client (`OtlpHttp`) spawns each POST on the server's runtime with the workspace's reqwest.
//! **Invariant:** without an OTLP endpoint no layer wants the request spans, so they are disabled at
//! their callsite; never answer content in a span, and prompt content only as `gen_ai.input.messages`
//! on the root span, as sent to the model, for an entity whose data policy sets `trace_content`
//! (`gateway::spans::input_content`).
//! `scheduling.rs` holds the schedule stage's families: `fabrique_pool_capacity`,
//! `fabrique_pool_in_flight` (per pool), `fabrique_schedule_queued`, `fabrique_schedule_in_flight`,
//! `fabrique_schedule_served_tokens_total` (direction), `fabrique_schedule_shed_total` (reason) per pool
//! and entity (the entity's slug: entities are few, so the label is bounded), and
//! `fabrique_schedule_wait_seconds` per pool and priority.

mod by_entity;
mod evidence;
mod traces;

mod scheduling;

use std::fmt::Write as _;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use by_entity::{EntityModelMetrics, ModelMetrics, NO_ENTITY};
pub use evidence::EvidenceMetrics;
pub use scheduling::{EntityFigures, PoolFigures, SchedulingMetrics, WaitHistogram};
pub use traces::{REQUEST_TARGET, Tracing, TracingError, init, init_logging, rename};

/// Latency buckets in seconds, from 1 ms to 2 minutes: LLM requests span that range.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
];

/// The circuit states an endpoint's `fabrique_endpoint_circuit` gauges say, one of them 1.
pub const CIRCUIT_STATES: [&str; 3] = ["closed", "open", "half_open"];

/// HTTP statuses grouped as dashboards read them; the exact refusal reasons have their own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success = 0,
    ClientError = 1,
    ServerError = 2,
}

impl StatusClass {
    pub const ALL: [StatusClass; 3] = [
        StatusClass::Success,
        StatusClass::ClientError,
        StatusClass::ServerError,
    ];

    pub fn of(status: u16) -> StatusClass {
        match status {
            0..=399 => StatusClass::Success,
            400..=499 => StatusClass::ClientError,
            _ => StatusClass::ServerError,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatusClass::Success => "2xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    entity: String,
    model: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntityModelLabels {
    entity: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    entity: String,
    model: String,
    direction: String,
}

/// The model label of a request refused before its model was known.
const UNKNOWN_MODEL: &str = "unknown";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    entity: String,
    model: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    endpoint: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendErrorLabels {
    endpoint: String,
    reason: String,
}

/// Why request-path records were lost (`usage::Loss`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DroppedLabels {
    reason: &'static str,
}

/// The families the per-(entity, model) handles belong to; clones share the series.
#[derive(Debug, Clone)]
struct Families {
    requests: Family<RequestLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<EntityModelLabels, Counter>,
    rejections: Family<RejectionLabels, Counter>,
    duration: Family<EntityModelLabels, Histogram>,
    ttft: Family<EntityModelLabels, Histogram>,
}

/// Every metric Fabrique exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    families: Families,
    /// Each model's handles by name, so a reloaded configuration's models find theirs.
    models: parking_lot::Mutex<std::collections::HashMap<String, std::sync::Arc<ModelMetrics>>>,
    endpoint_up: Family<EndpointLabels, Gauge>,
    endpoint_circuit: Family<CircuitLabels, Gauge>,
    backend_errors: Family<BackendErrorLabels, Counter>,
    usage_records_dropped: Family<DroppedLabels, Counter>,
    audit_events_dropped: Family<DroppedLabels, Counter>,
    /// Content records (retention `full`) lost because the content writer's queue was full.
    pub content_records_dropped: Counter,
    /// 1 while this replica holds the background jobs' lease (it runs seat reclaim, the content
    /// purge, audit checkpoints and canary checks), 0 while another replica does.
    pub background_jobs_leader: Gauge,
    /// 1 while the replicas' shared counters (`[redis]`) answer, 0 while they cannot be reached
    /// (hard budgets then refuse, rate limits fall back to this replica's share).
    pub shared_counters_up: Gauge,
    /// Round trips to the shared counters that failed or timed out, and writes dropped for them.
    pub shared_counters_failures: Counter,
    /// The schedule stage's families (`scheduling.rs`).
    pub scheduling: SchedulingMetrics,
    /// The audit checkpoints' health (`evidence.rs`).
    pub evidence: EvidenceMetrics,
}

impl Metrics {
    /// Registers every family; `models` are the configured models' names with the route each
    /// serves, and `endpoints` the endpoints' names, in configuration order.
    pub fn new(models: &[(String, &'static str)], endpoints: &[String]) -> Self {
        let mut registry = Registry::with_prefix("fabrique");
        let families = Families {
            requests: Family::default(),
            tokens: Family::default(),
            cost: Family::default(),
            rejections: Family::default(),
            duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            ttft: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        };
        registry.register(
            "requests",
            "Inference requests by entity, model, route and status class (2xx, 4xx, 5xx)",
            families.requests.clone(),
        );
        registry.register(
            "tokens",
            "Tokens processed, by entity, model and direction (input, output)",
            families.tokens.clone(),
        );
        registry.register(
            "cost_micros",
            "Cost of the tokens at the model's internal price, in micro-units of the currency",
            families.cost.clone(),
        );
        registry.register(
            "admission_rejections",
            "Requests refused at admission, by entity, model and reason (rate_limit_exceeded, budget_exceeded)",
            families.rejections.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request to last byte, answered requests, by entity and model",
            families.duration.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "Time from request to the first byte from the backend, by entity and model",
            families.ttft.clone(),
        );
        let endpoint_up = Family::<EndpointLabels, Gauge>::default();
        registry.register(
            "endpoint_up",
            "1 when the endpoint's last active health check succeeded, 0 when it failed",
            endpoint_up.clone(),
        );
        let endpoint_circuit = Family::<CircuitLabels, Gauge>::default();
        registry.register(
            "endpoint_circuit",
            "1 for the state the endpoint's circuit breaker is in (closed, open, half_open), 0 for the others",
            endpoint_circuit.clone(),
        );
        let backend_errors = Family::<BackendErrorLabels, Counter>::default();
        registry.register(
            "backend_errors",
            "Failed attempts against an endpoint, by reason",
            backend_errors.clone(),
        );
        let usage_records_dropped = Family::<DroppedLabels, Counter>::default();
        registry.register(
            "usage_records_dropped",
            "Usage records lost, by reason (queue_full, journal_full, journal_failed: kept in memory only)",
            usage_records_dropped.clone(),
        );
        let audit_events_dropped = Family::<DroppedLabels, Counter>::default();
        registry.register(
            "audit_events_dropped",
            "Request-path audit events lost, by reason (queue_full, journal_full, journal_failed: kept in memory only)",
            audit_events_dropped.clone(),
        );

        let content_records_dropped = Counter::default();
        registry.register(
            "content_records_dropped",
            "Prompt and completion content records lost because the content writer could not keep up",
            content_records_dropped.clone(),
        );
        let background_jobs_leader = Gauge::default();
        registry.register(
            "background_jobs_leader",
            "1 while this replica runs the background jobs (seat reclaim, content purge, audit checkpoints, canary checks), 0 while another replica does",
            background_jobs_leader.clone(),
        );

        let shared_counters_up = Gauge::default();
        registry.register(
            "shared_counters_up",
            "1 while the shared counters in Redis answer (or none are configured), 0 while they cannot be reached",
            shared_counters_up.clone(),
        );
        shared_counters_up.set(1);
        let shared_counters_failures = Counter::default();
        registry.register(
            "shared_counters_failures",
            "Round trips to the shared counters in Redis that failed or timed out, and writes dropped for them",
            shared_counters_failures.clone(),
        );

        let models = models
            .iter()
            .map(|(name, route)| {
                let handles = ModelMetrics::new(name.clone(), route, families.clone());
                (name.clone(), std::sync::Arc::new(handles))
            })
            .collect();
        let models = parking_lot::Mutex::new(models);
        let scheduling = SchedulingMetrics::register(&mut registry);
        let evidence = EvidenceMetrics::register(&mut registry);
        let metrics = Metrics {
            scheduling,
            evidence,
            registry,
            families,
            models,
            endpoint_up,
            endpoint_circuit,
            backend_errors,
            usage_records_dropped,
            audit_events_dropped,
            content_records_dropped,
            background_jobs_leader,
            shared_counters_up,
            shared_counters_failures,
        };
        for endpoint in endpoints {
            metrics.set_endpoint_up(endpoint, true);
            metrics.set_circuit(endpoint, "closed");
        }
        metrics
    }

    /// Handles of the model `name`, which serves `route`: looked up when the configuration is
    /// compiled (at start and at each reload), never on the request path.
    pub fn model(&self, name: &str, route: &'static str) -> std::sync::Arc<ModelMetrics> {
        let mut models = self.models.lock();
        let handles = models.entry(name.to_owned()).or_insert_with(|| {
            std::sync::Arc::new(ModelMetrics::new(
                name.to_owned(),
                route,
                self.families.clone(),
            ))
        });
        std::sync::Arc::clone(handles)
    }

    /// Counts a finished request whose model did not resolve (the slow path: it allocates), and
    /// its admission refusal, if it was refused by a limit before its model was known.
    /// Requests of a configured model go through [`ModelMetrics::entity`] instead.
    pub fn unresolved_request(
        &self,
        route: &'static str,
        entity: Option<&str>,
        status: u16,
        rejection: Option<&str>,
    ) {
        let entity = entity.unwrap_or(NO_ENTITY);
        let labels = RequestLabels {
            entity: entity.to_owned(),
            model: UNKNOWN_MODEL.to_owned(),
            route: route.to_owned(),
            status: StatusClass::of(status).as_str().to_owned(),
        };
        self.families.requests.get_or_create(&labels).inc();
        if let Some(reason) = rejection {
            let labels = RejectionLabels {
                entity: entity.to_owned(),
                model: UNKNOWN_MODEL.to_owned(),
                reason: reason.to_owned(),
            };
            self.families.rejections.get_or_create(&labels).inc();
        }
    }

    /// Counts usage records lost for `reason`.
    pub fn usage_records_dropped(&self, reason: &'static str, records: u64) {
        let labels = DroppedLabels { reason };
        self.usage_records_dropped
            .get_or_create(&labels)
            .inc_by(records);
    }

    /// Counts request-path audit events lost for `reason`.
    pub fn audit_events_dropped(&self, reason: &'static str, records: u64) {
        let labels = DroppedLabels { reason };
        self.audit_events_dropped
            .get_or_create(&labels)
            .inc_by(records);
    }

    pub fn backend_error(&self, endpoint: &str, reason: &'static str) {
        let labels = BackendErrorLabels {
            endpoint: endpoint.to_owned(),
            reason: reason.to_owned(),
        };
        self.backend_errors.get_or_create(&labels).inc();
    }

    pub fn set_endpoint_up(&self, endpoint: &str, up: bool) {
        self.endpoint_up
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_owned(),
            })
            .set(i64::from(up));
    }

    /// Sets the endpoint's circuit gauges to `state`, one of [`CIRCUIT_STATES`].
    pub fn set_circuit(&self, endpoint: &str, state: &str) {
        for candidate in CIRCUIT_STATES {
            self.endpoint_circuit
                .get_or_create(&CircuitLabels {
                    endpoint: endpoint.to_owned(),
                    state: candidate.to_owned(),
                })
                .set(i64::from(candidate == state));
        }
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            let _ = writeln!(out, "# encoding error");
        }
        out
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

#[cfg(test)]
mod tests;
