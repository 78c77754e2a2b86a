//! The operational endpoints: `/healthz`, `/readyz` and `/metrics`.
//!
//! With `[server] metrics_token_env` set, what they tell about the group (the metrics, every
//! entity's counters among them, and the endpoints' names and circuits in `/readyz`) is shown only
//! to a caller that sends that token as `Authorization: Bearer <token>`; `/healthz` and the bare
//! readiness answer stay open for load balancers and orchestrators.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest as _, Sha256};
use wire::ErrorType;

use crate::error::json_error;
use crate::state::Gateway;

/// Alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = String, content_type = "text/plain")))]
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// Ready once the state is built; to operators (all callers when no metrics token is configured),
/// each endpoint's circuit too, so they see what is down.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = Readiness)),
    security((), ("metrics_token" = [])))]
pub(super) async fn readyz(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if !is_operator(&gateway, &headers) {
        return axum::Json(serde_json::json!({"status": "ready"})).into_response();
    }
    let endpoints: Vec<_> = gateway
        .configured()
        .routing
        .health
        .status()
        .into_iter()
        .map(|s| serde_json::json!({"name": s.name, "state": s.state.as_str(), "outstanding": s.outstanding}))
        .collect();
    axum::Json(serde_json::json!({"status": "ready", "endpoints": endpoints})).into_response()
}

/// The Prometheus (OpenMetrics) exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text"),
        (status = 401, description = "A metrics token is configured and this is not it", body = wire::ErrorBody),
    ),
    security((), ("metrics_token" = [])))]
pub(super) async fn metrics(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if !is_operator(&gateway, &headers) {
        let mut refused = json_error(
            StatusCode::UNAUTHORIZED,
            ErrorType::Authentication,
            "invalid_metrics_token",
            "`/metrics` needs `Authorization: Bearer <token>` with the token named by `server.metrics_token_env`",
        );
        refused
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return refused;
    }
    // Circuit states change on the request path; reading them at scrape time costs it nothing.
    for endpoint in gateway.configured().routing.health.status() {
        gateway
            .metrics
            .set_circuit(&endpoint.name, endpoint.state.as_str());
    }
    gateway.scheduling.record_metrics(&gateway.metrics);
    let mut response = gateway.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// What `/readyz` answers.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the JSON `readyz` writes, for the API description"
)]
pub(super) struct Readiness {
    /// Always `ready` once the server answers.
    status: String,
    /// Shown to operators only: each endpoint's name, circuit (`closed`, `open`, `half_open`) and
    /// requests in flight.
    endpoints: Option<Vec<EndpointReadiness>>,
}

#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the JSON `readyz` writes, for the API description"
)]
pub(super) struct EndpointReadiness {
    name: String,
    state: String,
    outstanding: u64,
}

/// Whether the caller may see the operational detail: anyone when no token is configured, else
/// only a caller that sends it.
fn is_operator(gateway: &Gateway, headers: &HeaderMap) -> bool {
    let config = gateway.config();
    let Some(token) = &config.server.metrics_token else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Digests are compared, so the time taken says nothing of how much of the token matched.
    Sha256::digest(given.as_bytes()) == Sha256::digest(token.as_bytes())
}
