//! `GET /v1/models`, `GET /v1/models/{id}`, `GET /health`, and the JSON 404 for everything else.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri};
use wire::models::{ModelCard, ModelList};

use crate::Simulator;
use crate::error::{SimError, json_response};

/// Who owns every model the simulator lists, so nobody mistakes it for a real deployment.
pub(crate) const OWNER: &str = "fabrique-simulator";

pub(crate) async fn list(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    sim.note(&sim.counters().models_requests, &headers);
    let cards = sim
        .config()
        .models
        .iter()
        .map(|id| card(&sim, id))
        .collect();
    json(&ModelList::new(cards))
}

pub(crate) async fn one(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    sim.note(&sim.counters().models_requests, &headers);
    if sim.config().models.contains(&id) {
        json(&card(&sim, &id))
    } else {
        SimError::NotFound {
            path: format!("/v1/models/{id}"),
        }
        .into_response()
    }
}

/// 200 while the backend can serve, 503 once `error_rate` makes every request fail, so an active
/// health check sees a backend killed through `set_faults` as dead.
pub(crate) async fn health(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    sim.note(&sim.counters().health_requests, &headers);
    if sim.faults().error_rate >= 1.0 {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            br#"{"status":"failing"}"#.to_vec(),
        )
    } else {
        json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
    }
}

pub(crate) async fn not_found(uri: Uri) -> Response {
    SimError::NotFound {
        path: uri.path().to_owned(),
    }
    .into_response()
}

fn card(sim: &Simulator, id: &str) -> ModelCard {
    ModelCard::new(
        id.to_owned(),
        sim.started_at(),
        OWNER.to_owned(),
        kind_of(id),
        true,
    )
}

/// The kind of a model, guessed from its name as the simulator serves every route for every name.
fn kind_of(id: &str) -> &'static str {
    let id = id.to_ascii_lowercase();
    if id.contains("embed") {
        "embeddings"
    } else if id.contains("rerank") {
        "rerank"
    } else if id.contains("fim") || id.contains("codestral") {
        "fim"
    } else {
        "chat"
    }
}

fn json<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(error) => SimError::Serialize(error).into_response(),
    }
}
