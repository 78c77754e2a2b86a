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
use crate::catalog::ModelRoute;
use crate::configured::Configured;
use crate::error::GatewayError;
use crate::resolve::Access;
use crate::state::Gateway;

/// Lists the models the caller may use.
#[utoipa::path(
    get, path = "/v1/models", tag = "inference",
    responses(
        (status = 200, description = "The models this caller may use", body = ModelList),
        (status = "4XX", description = "Not authenticated", body = wire::ErrorBody),
    ),
)]
pub(super) async fn list(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let principal =
        match authenticate(&gateway.directory, gateway.sign_in.as_deref(), &headers).await {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
    let configured = gateway.configured();
    let cards = visible(&configured, &principal)
        .map(|model| card(&configured, model))
        .collect();
    Json(ModelList::new(cards)).into_response()
}

/// One model the caller may use; another is answered as absent.
#[utoipa::path(
    get, path = "/v1/models/{id}", tag = "inference",
    params(("id" = String, Path, description = "The model's public name", example = "mistral-small")),
    responses(
        (status = 200, description = "The model", body = ModelCard),
        (status = "4XX", description = "Not authenticated, or no such model for this caller", body = wire::ErrorBody),
    ),
)]
pub(super) async fn retrieve(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let principal =
        match authenticate(&gateway.directory, gateway.sign_in.as_deref(), &headers).await {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
    let configured = gateway.configured();
    match visible(&configured, &principal).find(|m| m.name == id) {
        Some(model) => Json(card(&configured, model)).into_response(),
        None => GatewayError::ModelNotFound { model: id }.into_response(),
    }
}

fn visible<'a>(
    configured: &'a Configured,
    principal: &'a Principal,
) -> impl Iterator<Item = &'a ModelRoute> {
    configured
        .catalog
        .models()
        .filter(|(i, m)| configured.access.decide(principal, *i, &m.name) == Access::Allowed)
        .map(|(_, m)| m)
}

/// The model's card: OpenAI's and Mistral's fields, and where it runs and the highest
/// classification it accepts (the chat's model picker shows both).
fn card(configured: &Configured, model: &ModelRoute) -> ModelCard {
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
    let mut hosting: Vec<String> = Vec::new();
    for endpoint in model.cleared_for(domain::Classification(0)) {
        let name = configured.catalog.endpoint(*endpoint).hosting.as_str();
        if !hosting.iter().any(|h| h == name) {
            hosting.push(name.to_owned());
        }
    }
    card.hosting = Some(hosting);
    card.clearance = model
        .highest_clearance()
        .map(|level| configured.classifier.name(level).to_owned());
    card
}
