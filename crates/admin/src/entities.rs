//! `/admin/v1/entities`: create and list the group's entities.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use domain::Entity;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authorize::{change_event, require};
use crate::body::{check_slug, check_text, json};
use crate::caller::Caller;
use crate::{AdminAction, AdminError, AdminState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEntity {
    slug: String,
    name: String,
}

/// `POST /admin/v1/entities` `{"slug", "name"}` → 201 with the entity.
pub(crate) async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Entity>), AdminError> {
    require(&state, &caller, AdminAction::CreateEntity, None).await?;
    let request: CreateEntity = json(body)?;
    check_slug("slug", &request.slug)?;
    check_text("name", &request.name, 200)?;
    let audit = change_event(
        &caller,
        "entity.create",
        None,
        json!({"slug": request.slug, "name": request.name}),
    );
    let entity = state
        .store
        .create_entity(&request.slug, &request.name, &audit)
        .await?;
    Ok((StatusCode::CREATED, Json(entity)))
}

/// `GET /admin/v1/entities` → `{"data": [entity…]}`, by slug.
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::ListEntities, None).await?;
    let entities = state.store.list_entities().await?;
    Ok(Json(json!({ "data": entities })))
}
