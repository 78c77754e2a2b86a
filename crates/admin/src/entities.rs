//! `/admin/v1/entities`: create and list the group's entities, suspend and reactivate them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::{AuditAction, Entity, Status};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authorize::{change_event, require};
use crate::body::{check_slug, check_text, json};
use crate::caller::Caller;
use crate::{AdminAction, AdminError, AdminState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateEntity {
    slug: String,
    name: String,
}

/// `POST /admin/v1/entities` `{"slug", "name"}` → 201 with the entity.
#[utoipa::path(
    post, path = "/admin/v1/entities", tag = "admin",
    request_body = CreateEntity,
    responses(
        (status = 201, description = "Creates an entity.", body = crate::openapi::Object),
    ),
)]
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
        AuditAction::EntityCreate,
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
#[utoipa::path(
    get, path = "/admin/v1/entities", tag = "admin",
    responses(
        (status = 200, description = "The entities, by slug.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::ListEntities, None).await?;
    let entities = state.store.list_entities().await?;
    Ok(Json(json!({ "data": entities })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SetStatus {
    status: String,
}

/// `PUT /admin/v1/entities/{entity}/status` `{"status": "suspended" | "active"}` → 200 with the
/// entity. Suspending stops every key of the entity's users and service accounts and refuses their
/// sign-ins from the next request on; reactivating lets the usable ones back in. Audited as
/// `entity.suspend` or `entity.reactivate` when the status changes.
#[utoipa::path(
    put, path = "/admin/v1/entities/{entity}/status", tag = "admin",
    params(("entity" = String, Path, description = "An entity's slug")),
    request_body = SetStatus,
    responses(
        (status = 200, description = "Suspends or reactivates an entity.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn set_status(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Entity>, AdminError> {
    require(&state, &caller, AdminAction::SetEntityStatus, None).await?;
    let request: SetStatus = json(body)?;
    let status = match request.status.as_str() {
        "active" => Status::Active,
        "suspended" => Status::Suspended,
        other => {
            return Err(AdminError::bad_field(
                "status",
                format!("`{other}` is not a status: `active` or `suspended`"),
            ));
        }
    };
    let mut entity = state
        .store
        .entity_by_slug(&slug)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no entity with slug `{slug}`")))?;
    let action = match status {
        Status::Active => AuditAction::EntityReactivate,
        Status::Suspended => AuditAction::EntitySuspend,
    };
    let audit = change_event(&caller, action, Some(entity.id), json!({"slug": slug}));
    if state
        .store
        .set_entity_status(entity.id, status, &audit)
        .await?
    {
        match status {
            Status::Suspended => {
                let stopped = state.directory.suspend_entity(entity.id);
                let freed = state.seats.entity_suspended(entity.id);
                tracing::info!(entity = %slug, keys = stopped, seats = freed, "entity suspended");
            }
            Status::Active => {
                let restored = state
                    .directory
                    .reactivate_entity(&state.store, entity.id)
                    .await?;
                tracing::info!(entity = %slug, keys = restored, "entity reactivated");
            }
        }
    }
    entity.status = status;
    Ok(Json(entity))
}
