//! The inference API's routes: `/v1/chat/completions`, `/v1/embeddings` and `/v1/fim/completions`
//! (each sends its request through the pipeline, [`crate::infer`]), `/v1/models`, and the
//! operational endpoints `/healthz`, `/readyz` and `/metrics`.

mod models;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::Operation;
use http::{HeaderValue, header};

use crate::pipeline::infer;
use crate::state::Gateway;

/// The inference routes and the operational endpoints.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route(Operation::Chat.public_path(), post(chat))
        .route(Operation::Embeddings.public_path(), post(embeddings))
        .route(Operation::Fim.public_path(), post(fim))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::retrieve))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(gateway)
}

async fn chat(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    infer(&gateway, Operation::Chat, request).await
}

async fn embeddings(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    infer(&gateway, Operation::Embeddings, request).await
}

async fn fim(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    infer(&gateway, Operation::Fim, request).await
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready once the state is built; reports each endpoint's circuit so operators see what is down.
async fn readyz(State(gateway): State<Arc<Gateway>>) -> Response {
    let endpoints: Vec<_> = gateway
        .routing
        .health
        .status()
        .into_iter()
        .map(|s| serde_json::json!({"name": s.name, "state": s.state.as_str(), "outstanding": s.outstanding}))
        .collect();
    axum::Json(serde_json::json!({"status": "ready", "endpoints": endpoints})).into_response()
}

async fn metrics(State(gateway): State<Arc<Gateway>>) -> Response {
    // Circuit states change on the request path; reading them at scrape time costs it nothing.
    for endpoint in gateway.routing.health.status() {
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
