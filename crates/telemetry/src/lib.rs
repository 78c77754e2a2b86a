//! Prometheus metrics and structured logging, shared by every surface.
//!
//! Label sets are bounded: model, endpoint, route and status, never user or key. The handles for
//! the success path of each model and endpoint are created once at start, so recording a request
//! is a few atomic additions with no allocation and no map lookup.

mod scheduling;

use std::fmt::Write as _;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use scheduling::{EntityFigures, PoolFigures, SchedulingMetrics, WaitHistogram};

/// Latency buckets in seconds, from 1 ms to 2 minutes: LLM requests span that range.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    model: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendErrorLabels {
    endpoint: String,
    reason: String,
}

/// Pre-created handles for one model's success path.
#[derive(Debug, Clone)]
pub struct ModelMetrics {
    /// Requests answered 200 on the model's own route.
    pub ok_requests: Counter,
    pub input_tokens: Counter,
    pub output_tokens: Counter,
    pub duration: Histogram,
    pub time_to_first_token: Histogram,
}

/// Every metric Fabrique exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    models: Vec<ModelMetrics>,
    endpoint_up: Family<EndpointLabels, Gauge>,
    backend_errors: Family<BackendErrorLabels, Counter>,
    pub usage_records_dropped: Counter,
    /// The schedule stage's families (`scheduling.rs`).
    pub scheduling: SchedulingMetrics,
}

impl Metrics {
    /// Registers every family; `models` are the configured models' names with the route each
    /// serves, and `endpoints` the endpoints' names, in configuration order.
    pub fn new(models: &[(String, &'static str)], endpoints: &[String]) -> Self {
        let mut registry = Registry::with_prefix("fabrique");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Inference requests by route, model and HTTP status",
            requests.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens processed, by model and direction (input, output)",
            tokens.clone(),
        );
        let duration = Family::<ModelLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from request to last byte, successful requests",
            duration.clone(),
        );
        let ttft = Family::<ModelLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "time_to_first_token_seconds",
            "Time from request to the first byte from the backend",
            ttft.clone(),
        );
        let endpoint_up = Family::<EndpointLabels, Gauge>::default();
        registry.register(
            "endpoint_up",
            "1 when the endpoint's circuit is closed, 0 when open or half-open",
            endpoint_up.clone(),
        );
        let backend_errors = Family::<BackendErrorLabels, Counter>::default();
        registry.register(
            "backend_errors",
            "Failed attempts against an endpoint, by reason",
            backend_errors.clone(),
        );
        let usage_records_dropped = Counter::default();
        registry.register(
            "usage_records_dropped",
            "Usage records lost because the writer could not keep up",
            usage_records_dropped.clone(),
        );

        // Each `get_or_create` guard holds the family's lock: take the handles one statement at a time.
        let mut model_metrics = Vec::with_capacity(models.len());
        for (name, route) in models {
            let labels = RequestLabels {
                route: (*route).to_owned(),
                model: name.clone(),
                status: "200".to_owned(),
            };
            let ok_requests = requests.get_or_create(&labels).clone();
            let input_tokens = tokens
                .get_or_create(&TokenLabels {
                    model: name.clone(),
                    direction: "input".into(),
                })
                .clone();
            let output_tokens = tokens
                .get_or_create(&TokenLabels {
                    model: name.clone(),
                    direction: "output".into(),
                })
                .clone();
            let duration = duration
                .get_or_create(&ModelLabels {
                    model: name.clone(),
                })
                .clone();
            let time_to_first_token = ttft
                .get_or_create(&ModelLabels {
                    model: name.clone(),
                })
                .clone();
            model_metrics.push(ModelMetrics {
                ok_requests,
                input_tokens,
                output_tokens,
                duration,
                time_to_first_token,
            });
        }
        for endpoint in endpoints {
            endpoint_up
                .get_or_create(&EndpointLabels {
                    endpoint: endpoint.clone(),
                })
                .set(1);
        }
        let scheduling = SchedulingMetrics::register(&mut registry);
        Metrics {
            scheduling,
            registry,
            requests,
            models: model_metrics,
            endpoint_up,
            backend_errors,
            usage_records_dropped,
        }
    }

    /// Handles of the model at `index` in the configuration.
    pub fn model(&self, index: usize) -> Option<&ModelMetrics> {
        self.models.get(index)
    }

    /// Counts one finished request. Successful requests of a configured model are counted with
    /// [`ModelMetrics::ok_requests`] instead, which allocates nothing.
    pub fn request(&self, route: &'static str, model: &str, status: u16) {
        let labels = RequestLabels {
            route: route.to_owned(),
            model: model.to_owned(),
            status: status.to_string(),
        };
        self.requests.get_or_create(&labels).inc();
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

/// Starts structured logging: JSON lines when `json`, human-readable otherwise; `RUST_LOG` filters.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, never in files or CI logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialisation (tests) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_tokens_and_endpoint_health() {
        let metrics = Metrics::new(&[("mistral-small".into(), "chat")], &["gpu-1".into()]);
        let model = metrics.model(0).unwrap();
        model.ok_requests.inc();
        metrics.request("chat", "mistral-small", 429);
        model.input_tokens.inc_by(12);
        model.duration.observe(0.02);
        metrics.backend_error("gpu-1", "connect");
        metrics.set_endpoint_up("gpu-1", false);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"fabrique_requests_total{route="chat",model="mistral-small",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"fabrique_requests_total{route="chat",model="mistral-small",status="429"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"fabrique_tokens_total{model="mistral-small",direction="input"} 12"#),
            "{text}"
        );
        assert!(
            text.contains(r#"fabrique_endpoint_up{endpoint="gpu-1"} 0"#),
            "{text}"
        );
        assert!(text.contains("fabrique_backend_errors_total"), "{text}");
        assert!(
            text.contains("fabrique_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
