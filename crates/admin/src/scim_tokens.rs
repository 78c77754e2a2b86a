//! `/admin/v1/scim-tokens`: the corporate directory's credentials for `/scim/v2`. A token is
//! bound to one entity (`{"entity": "<slug>"}`) or to the whole group; its secret is returned once
//! and only its hash is stored. The in-memory token index is updated with the store, so a new
//! token works and a revoked one fails on the very next SCIM request.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::{AuditAction, KeySecret, SCIM_TOKEN_PREFIX, ScimToken, ScimTokenId, now_millis};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authorize::{change_event, require};
use crate::body::{check_text, json};
use crate::caller::Caller;
use crate::listing::{ListScimTokens, Listed, page_json};
use crate::users::{entity_for, entity_slugs};
use crate::{AdminAction, AdminError, AdminState};

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateScimToken {
    /// The entity's slug; absent for a group-wide token.
    entity: Option<String>,
    /// A label, e.g. the directory's name.
    name: Option<String>,
}

/// `POST /admin/v1/scim-tokens` → 201 `{"id", "token", "display_prefix", "entity", "name", …}`.
#[utoipa::path(
    post, path = "/admin/v1/scim-tokens", tag = "admin",
    request_body = CreateScimToken,
    responses(
        (status = 201, description = "Creates a SCIM token; its secret is shown once.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let request: CreateScimToken = match &body {
        Ok(bytes) if bytes.is_empty() => CreateScimToken::default(),
        _ => json(body)?,
    };
    if let Some(name) = &request.name {
        check_text("name", name, 100)?;
    }
    let entity = match &request.entity {
        Some(slug) => Some(entity_for(&state, &caller, AdminAction::CreateScimToken, slug).await?),
        None => {
            require(&state, &caller, AdminAction::CreateScimToken, None).await?;
            None
        }
    };
    let secret = KeySecret::generate_with_prefix(SCIM_TOKEN_PREFIX);
    let token = ScimToken {
        id: ScimTokenId::generate(),
        name: request.name,
        entity_id: entity.as_ref().map(|e| e.id),
        hash: secret.hash(),
        display_prefix: secret.display_prefix(),
        created_at: now_millis(),
        revoked_at: None,
    };
    let audit = change_event(
        &caller,
        AuditAction::ScimTokenCreate,
        token.entity_id,
        json!({"name": token.name, "display_prefix": token.display_prefix}),
    );
    state.store.create_scim_token(&token, &audit).await?;
    state.scim_tokens.insert(&token);
    let mut response = token_json(&token, entity.as_ref().map(|e| e.slug.as_str()));
    response["token"] = Value::String(secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(response)))
}

/// `GET /admin/v1/scim-tokens[?entity=<slug>][&offset=<n>][&limit=<n>]` → `{"data": [token…],
/// "next_offset"}`, oldest first; never secrets or hashes.
#[utoipa::path(
    get, path = "/admin/v1/scim-tokens", tag = "admin",
    params(crate::listing::PagedFilter),
    responses(
        (status = 200, description = "The SCIM tokens, never their secrets.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    Listed { entity, window, .. }: Listed<ListScimTokens>,
) -> Result<Json<Value>, AdminError> {
    let tokens = state
        .store
        .list_scim_tokens(entity.as_ref().map(|e| e.id), window)
        .await?;
    let slugs = entity_slugs(&state).await?;
    let data: Vec<Value> = tokens
        .iter()
        .map(|t| {
            token_json(
                t,
                t.entity_id.and_then(|e| slugs.get(&e)).map(String::as_str),
            )
        })
        .collect();
    Ok(Json(page_json(data, window)))
}

/// `DELETE /admin/v1/scim-tokens/{id}` → `{"id", "revoked": true}`; 404 for an unknown token.
#[utoipa::path(
    delete, path = "/admin/v1/scim-tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "The object's id")),
    responses(
        (status = 200, description = "Revokes a SCIM token.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn revoke(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let token = match id.parse::<ScimTokenId>() {
        Ok(parsed) => state.store.scim_token(parsed).await?,
        Err(_) => None,
    };
    let Some(token) = token else {
        require(&state, &caller, AdminAction::RevokeScimToken, None).await?;
        return Err(AdminError::NotFound(format!(
            "no SCIM token with id `{id}`"
        )));
    };
    require(
        &state,
        &caller,
        AdminAction::RevokeScimToken,
        token.entity_id,
    )
    .await?;
    // The index first: should the store then fail, the token is refused until the next restart
    // rather than accepted after the administrator was told of an error.
    state.scim_tokens.revoke(token.id);
    let audit = change_event(
        &caller,
        AuditAction::ScimTokenRevoke,
        token.entity_id,
        json!({}),
    );
    state
        .store
        .revoke_scim_token(token.id, now_millis(), &audit)
        .await?;
    Ok(Json(json!({ "id": token.id, "revoked": true })))
}

fn token_json(token: &ScimToken, entity_slug: Option<&str>) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "display_prefix": token.display_prefix,
        "entity": entity_slug,
        "entity_id": token.entity_id,
        "created_at": token.created_at,
        "revoked_at": token.revoked_at,
    })
}
