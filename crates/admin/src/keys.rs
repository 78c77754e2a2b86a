//! `/admin/v1/keys`: mint keys for users and service accounts, list them, revoke them. The
//! secret is returned once, at creation; the store keeps only its hash. The directory is updated
//! with the store, so a new key works and a revoked key fails on the very next request.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use domain::{ApiKey, Entity, EntityId, KeyId, KeyOwner, KeySecret, Status, UserId, now_millis};
use identity::Principal;
use serde::Deserialize;
use serde_json::{Value, json};
use store::KeyListing;

use crate::authorize::{change_event, require_carrying, require_visible};
use crate::body::{check_name, check_text, json, query};
use crate::caller::Caller;
use crate::usage::report_entity;
use crate::users::{EntityFilter, entity_for, entity_slugs};
use crate::{AdminAction, AdminError, AdminState};

/// Either `user_id`, or `entity` and `service_account` (created when missing).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    user_id: Option<String>,
    entity: Option<String>,
    service_account: Option<String>,
    /// A label to tell keys apart in listings.
    name: Option<String>,
    /// The key's default classification, a level of the configured ladder.
    classification: Option<String>,
}

/// `POST /admin/v1/keys` → 201 `{"id", "key", "display_prefix", "owner", "entity", …}`.
pub(crate) async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let request: CreateKey = json(body)?;
    if let Some(name) = &request.name {
        check_text("name", name, 100)?;
    }
    if let Some(level) = &request.classification
        && state.classifications.parse(level).is_none()
    {
        return Err(AdminError::bad_field(
            "classification",
            format!(
                "unknown classification level `{level}`; expected one of {}",
                state.classifications.names().join(", ")
            ),
        ));
    }
    let (owner, entity) = match (&request.user_id, &request.entity, &request.service_account) {
        (Some(user_id), None, None) => user_owner(&state, &caller, user_id).await?,
        (None, Some(slug), Some(account)) => {
            check_name("service_account", account, 63)?;
            let entity = entity_for(&state, &caller, AdminAction::CreateKey, slug).await?;
            let audit = change_event(
                &caller,
                "service_account.create",
                Some(entity.id),
                json!({"name": account}),
            );
            let account = state
                .store
                .service_account_get_or_create(Some(entity.id), account, &audit)
                .await?;
            require_within_rights(
                &state,
                &caller,
                AdminAction::CreateKey,
                Some(entity.id),
                KeyOwner::ServiceAccount(account.id),
            )
            .await?;
            if account.status != Status::Active {
                return Err(AdminError::bad_field(
                    "service_account",
                    format!("service account `{}` is suspended", account.name),
                ));
            }
            (KeyOwner::ServiceAccount(account.id), entity)
        }
        (None, Some(_), None) => {
            return Err(AdminError::bad_field(
                "service_account",
                "`service_account` is required with `entity`",
            ));
        }
        (None, None, Some(_)) => {
            return Err(AdminError::bad_field(
                "entity",
                "`entity` is required with `service_account`",
            ));
        }
        _ => {
            return Err(AdminError::bad_request(
                "give either `user_id`, or `entity` and `service_account`, to say whom the key is for",
            ));
        }
    };
    if entity.status != Status::Active {
        return Err(AdminError::bad_field(
            "entity",
            format!("entity `{}` is suspended", entity.slug),
        ));
    }

    let secret = KeySecret::generate();
    let key = ApiKey {
        id: KeyId::generate(),
        owner,
        entity_id: Some(entity.id),
        hash: secret.hash(),
        display_prefix: secret.display_prefix(),
        created_at: now_millis(),
        revoked_at: None,
        classification: request.classification.clone(),
    };
    let audit = change_event(
        &caller,
        "key.create",
        Some(entity.id),
        json!({"owner": owner, "display_prefix": key.display_prefix, "name": request.name, "classification": key.classification}),
    );
    state
        .store
        .create_named_key(&key, request.name.as_deref(), &audit)
        .await?;
    // Roles are read after the key is durable: the directory never holds a key the store lacks.
    let roles = state.store.roles(owner).await?;
    state.directory.insert(
        key.hash,
        Principal {
            key_id: Some(key.id),
            owner,
            entity_id: key.entity_id,
            entity_slug: Some(entity.slug.as_str().into()),
            roles,
            classification: key.classification.as_deref().map(Into::into),
        },
    );

    let mut response = key_json(
        &KeyListing {
            key,
            name: request.name,
        },
        Some(&entity.slug),
    );
    response["key"] = Value::String(secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(response)))
}

/// The owner and entity of a key for user `user_id`, once the caller may create keys there.
async fn user_owner(
    state: &AdminState,
    caller: &Caller,
    user_id: &str,
) -> Result<(KeyOwner, Entity), AdminError> {
    let id: UserId = user_id
        .parse()
        .map_err(|e: domain::ids::InvalidId| AdminError::bad_field("user_id", e.to_string()))?;
    let missing = || AdminError::NotFound(format!("no user with id `{id}`"));
    let Some(user) = state.store.user(id).await? else {
        require_visible(state, caller, AdminAction::CreateKey, None, missing).await?;
        return Err(missing());
    };
    require_visible(
        state,
        caller,
        AdminAction::CreateKey,
        Some(user.entity_id),
        missing,
    )
    .await?;
    require_within_rights(
        state,
        caller,
        AdminAction::CreateKey,
        Some(user.entity_id),
        KeyOwner::User(user.id),
    )
    .await?;
    if user.status != Status::Active {
        return Err(AdminError::bad_field(
            "user_id",
            format!("user `{}` is suspended", user.user_name),
        ));
    }
    let entity =
        state.store.entity(user.entity_id).await?.ok_or_else(|| {
            AdminError::NotFound(format!("the entity of user `{id}` does not exist"))
        })?;
    Ok((KeyOwner::User(user.id), entity))
}

/// `GET /admin/v1/keys[?entity=<slug>]` → `{"data": [key…]}`; never secrets or hashes. Callers
/// with rights over one entity only see its keys.
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    filter: Result<Query<EntityFilter>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let filter = query(filter)?;
    let entity = report_entity(
        &state,
        &caller,
        AdminAction::ListKeys,
        filter.entity.as_deref(),
    )
    .await?;
    let keys = state
        .store
        .list_named_keys(entity.as_ref().map(|e| e.id))
        .await?;
    let slugs = entity_slugs(&state).await?;
    let data: Vec<Value> = keys
        .iter()
        .map(|listing| {
            key_json(
                listing,
                listing
                    .key
                    .entity_id
                    .and_then(|e| slugs.get(&e))
                    .map(String::as_str),
            )
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// `DELETE /admin/v1/keys/{id}` → `{"id", "revoked": true}`; 404 for an unknown key. Revoking a
/// revoked key succeeds again without a new audit event.
pub(crate) async fn revoke(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let missing = || AdminError::NotFound(format!("no API key with id `{id}`"));
    let Some(key) = (match id.parse::<KeyId>() {
        Ok(id) => state.store.key(id).await?,
        Err(_) => None,
    }) else {
        require_visible(&state, &caller, AdminAction::RevokeKey, None, missing).await?;
        return Err(missing());
    };
    require_visible(
        &state,
        &caller,
        AdminAction::RevokeKey,
        key.entity_id,
        missing,
    )
    .await?;
    require_within_rights(
        &state,
        &caller,
        AdminAction::RevokeKey,
        key.entity_id,
        key.owner,
    )
    .await?;
    let id = key.id;
    // The directory first: should the store then fail, the key is refused until the next
    // restart rather than accepted after the administrator was told of an error.
    state.directory.revoke(id);
    let audit = change_event(
        &caller,
        "key.revoke",
        key.entity_id,
        json!({"owner": key.owner}),
    );
    state.store.revoke_key(id, now_millis(), &audit).await?;
    Ok(Json(json!({ "id": id, "revoked": true })))
}

/// Refuses `action` on a key of `owner` when the owner's roles reach beyond what the caller may
/// hand out (the policies see the roles the key carries), so nobody mints or takes away more
/// rights than their own.
async fn require_within_rights(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    entity: Option<EntityId>,
    owner: KeyOwner,
) -> Result<(), AdminError> {
    let carried = state.store.roles(owner).await?;
    require_carrying(state, caller, action, entity, &carried)
        .await
        .map_err(|_| {
            AdminError::Refused(format!(
                "the key's owner holds roles beyond yours: you may not {} for them",
                action.describe()
            ))
        })
}

fn key_json(listing: &KeyListing, entity_slug: Option<&str>) -> Value {
    let key = &listing.key;
    json!({
        "id": key.id,
        "display_prefix": key.display_prefix,
        "name": listing.name,
        "owner": key.owner,
        "entity": entity_slug,
        "entity_id": key.entity_id,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "classification": key.classification,
    })
}
