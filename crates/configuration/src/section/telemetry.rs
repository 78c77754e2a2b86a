//! Section `[telemetry]`: where the request path's OpenTelemetry traces go.

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::{Env, url_problem};

/// The standard OpenTelemetry variable read when `telemetry.otlp_endpoint` is not set.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Section `[telemetry]`: OpenTelemetry traces of the request path. Prometheus metrics need no
/// configuration (`GET /metrics`).
///
/// ```toml
/// [telemetry]
/// otlp_endpoint = "http://otel-collector:4318"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// Key `otlp_endpoint`: the base URL of an OpenTelemetry collector's OTLP/HTTP receiver (port
    /// 4318 by convention); spans are sent, protobuf-encoded, to `{otlp_endpoint}/v1/traces`. When
    /// absent, the environment variable `OTEL_EXPORTER_OTLP_ENDPOINT` is used the same way; when
    /// neither is set, no trace is exported and the request path's spans cost nothing. A trace holds
    /// one span per request with a child span per stage, and GenAI attributes (operation, models,
    /// token counts, provider, server address) — never the content of prompts or answers.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Where spans are posted, when traces are exported.
    pub fn otlp_traces_url(&self) -> Option<String> {
        self.otlp_endpoint
            .as_ref()
            .map(|endpoint| format!("{endpoint}/v1/traces"))
    }
}

/// As written; the keys are documented on [`TelemetryConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelemetry {
    pub otlp_endpoint: Option<String>,
}

/// The OTLP endpoint from the file, or else from the standard environment variable.
pub(crate) fn validate(raw: RawTelemetry, env: Env<'_>, errors: &mut Collector) -> TelemetryConfig {
    let (endpoint, key) = match raw.otlp_endpoint {
        Some(endpoint) => (Some(endpoint), "telemetry.otlp_endpoint"),
        None => (
            env(OTLP_ENDPOINT_ENV).filter(|value| !value.trim().is_empty()),
            OTLP_ENDPOINT_ENV,
        ),
    };
    let otlp_endpoint = endpoint.and_then(|endpoint| match url_problem(&endpoint) {
        Some(problem) => {
            errors.push(key, problem);
            None
        }
        None => Some(endpoint.trim_end_matches('/').to_owned()),
    });
    TelemetryConfig { otlp_endpoint }
}
