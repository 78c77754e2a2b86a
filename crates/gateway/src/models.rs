//! `GET /v1/models` and `GET /v1/models/{id}`: the models this caller may use (its entity's, narrowed
//! to its key's scope); another model is answered as absent.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use identity::Principal;
use wire::models::{ModelCard, ModelList};

use crate::authenticate::authenticate;
use crate::error::GatewayError;
use crate::state::{Access, Gateway, ModelRoute};

pub async fn list(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let principal = match authenticate(&gateway, &headers).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let cards = visible(&gateway, &principal)
        .map(|(_, m)| card(m))
        .collect();
    Json(ModelList::new(cards)).into_response()
}

pub async fn retrieve(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let principal = match authenticate(&gateway, &headers).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match visible(&gateway, &principal).find(|(_, m)| m.name == id) {
        Some((_, model)) => Json(card(model)).into_response(),
        None => GatewayError::ModelNotFound { model: id }.into_response(),
    }
}

fn visible<'a>(
    gateway: &'a Gateway,
    principal: &'a Principal,
) -> impl Iterator<Item = (usize, &'a ModelRoute)> {
    gateway
        .models
        .iter()
        .enumerate()
        .filter(|(i, m)| gateway.access.decide(principal, *i, &m.name) == Access::Allowed)
}

fn card(model: &ModelRoute) -> ModelCard {
    let owner = if model.simulated {
        "fabrique-simulator"
    } else {
        "fabrique"
    };
    let mut card = ModelCard::new(
        model.name.clone(),
        0,
        owner.to_owned(),
        model.kind.as_str(),
        model.simulated,
    );
    card.max_context_length = model.context_length;
    card
}
