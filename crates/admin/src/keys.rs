//! `/admin/v1/keys`: mint keys for users and service accounts, list them, rotate them, revoke them.
//! The secret is returned once, at creation or rotation; the store keeps only its hash. The
//! directory is updated with the store, so a new key works and a revoked key fails on the very
//! next request.
//!
//! A key may be scoped to some models (`models`, configured public names), expire (`expires_at`,
//! or `expires_in_days`), and carry a priority class (`priority`, the default and ceiling of its
//! requests' class). Rotation mints a successor with the same owner, entity, name, scopes,
//! classification and priority (and, if the old key had a lifetime, the same lifetime from now);
//! the old key keeps working for a grace period, then expires.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::{
    ApiKey, AuditAction, Entity, EntityId, KeyId, KeyOwner, KeySecret, Priority, Status,
    UnixMillis, UserId, now_millis,
};
use identity::Principal;
use serde::Deserialize;
use serde_json::{Value, json};
use store::{KeyListing, Rotation};

use crate::authorize::{change_event, require_carrying, require_visible};
use crate::body::{check_name, check_text, json};
use crate::caller::Caller;
use crate::listing::{ListKeys, Listed, page_json};
use crate::users::{entity_for, entity_slugs};
use crate::{AdminAction, AdminError, AdminState};

/// Either `user_id`, or `entity` and `service_account` (created when missing).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    user_id: Option<String>,
    entity: Option<String>,
    service_account: Option<String>,
    /// A label to tell keys apart in listings.
    name: Option<String>,
    /// The key's default classification, a level of the configured ladder.
    classification: Option<String>,
    /// The public model names the key may use (configured models); absent: all of its entity's.
    models: Option<Vec<String>>,
    /// When the key stops working: RFC 3339, or a date (midnight in the group's time zone).
    expires_at: Option<String>,
    /// The key's lifetime in days from now; instead of `expires_at`.
    expires_in_days: Option<u32>,
    /// `interactive`, `standard` or `batch`.
    priority: Option<String>,
}

/// The longest lifetime a key may be given, and the longest rotation grace.
const MAX_LIFETIME_DAYS: u32 = 3_650;
const MAX_GRACE_SECONDS: u64 = 30 * 86_400;
const DEFAULT_GRACE_SECONDS: u64 = 86_400;
const DAY_MILLIS: i64 = 86_400_000;

/// `POST /admin/v1/keys/{id}/rotate` body; `grace_seconds` defaults to a day.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateKey {
    grace_seconds: Option<u64>,
}

/// `POST /admin/v1/keys` → 201 `{"id", "key", "display_prefix", "owner", "entity", …}`.
#[utoipa::path(
    post, path = "/admin/v1/keys", tag = "admin",
    request_body = CreateKey,
    responses(
        (status = 201, description = "Creates an API key; its secret is shown once.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let request: CreateKey = json(body)?;
    if let Some(name) = &request.name {
        check_text("name", name, 100)?;
    }
    let now = now_millis();
    let models = request
        .models
        .as_deref()
        .map(|models| checked_models(&state, models))
        .transpose()?;
    let expires_at = expiry(&state, &request, now)?;
    let priority = request
        .priority
        .as_deref()
        .map(|name| {
            Priority::parse(name).ok_or_else(|| {
                AdminError::bad_field(
                    "priority",
                    format!("unknown priority `{name}`; expected interactive, standard or batch"),
                )
            })
        })
        .transpose()?;
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
                AuditAction::ServiceAccountCreate,
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
        classification: request.classification.clone(),
        models,
        expires_at,
        priority,
        ..ApiKey::issue(owner, Some(entity.id), &secret, now)
    };
    let audit = change_event(
        &caller,
        AuditAction::KeyCreate,
        Some(entity.id),
        json!({
            "owner": owner, "display_prefix": key.display_prefix, "name": request.name,
            "classification": key.classification, "models": key.models,
            "expires_at": key.expires_at, "priority": key.priority,
        }),
    );
    state
        .store
        .create_named_key(&key, request.name.as_deref(), &audit)
        .await?;
    // Roles are read after the key is durable: the directory never holds a key the store lacks.
    let roles = state.store.roles(owner).await?;
    state.directory.insert(
        key.hash,
        Principal::of_key(&key, Some(entity.slug.as_str().into()), roles),
    );

    let mut response = key_json(
        &KeyListing {
            key,
            name: request.name,
            replaced_by: None,
        },
        Some(&entity.slug),
        None,
        now,
    );
    response["key"] = Value::String(secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(response)))
}

/// The model names as given, each a configured model, without repeats.
fn checked_models(state: &AdminState, models: &[String]) -> Result<Vec<String>, AdminError> {
    if models.is_empty() {
        return Err(AdminError::bad_field(
            "models",
            "`models` must name at least one model; leave it out to allow every model",
        ));
    }
    let mut checked: Vec<String> = Vec::with_capacity(models.len());
    let model_names = state.model_names.load();
    for model in models {
        if !model_names.iter().any(|m| m == model) {
            return Err(AdminError::bad_field(
                "models",
                format!(
                    "unknown model `{model}`; expected one of {}",
                    model_names.join(", ")
                ),
            ));
        }
        if !checked.contains(model) {
            checked.push(model.clone());
        }
    }
    Ok(checked)
}

/// The expiry asked for, in the future, by date or by lifetime (not both).
fn expiry(
    state: &AdminState,
    request: &CreateKey,
    now: UnixMillis,
) -> Result<Option<UnixMillis>, AdminError> {
    match (&request.expires_at, request.expires_in_days) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(AdminError::bad_field(
            "expires_in_days",
            "give either `expires_at` or `expires_in_days`, not both",
        )),
        (None, Some(days)) => {
            if days == 0 || days > MAX_LIFETIME_DAYS {
                return Err(AdminError::bad_field(
                    "expires_in_days",
                    format!("`expires_in_days` must be from 1 to {MAX_LIFETIME_DAYS}"),
                ));
            }
            Ok(Some(now + i64::from(days) * DAY_MILLIS))
        }
        (Some(text), None) => {
            let at = state.zone.parse_instant(text).map_err(|_| {
                AdminError::bad_field(
                    "expires_at",
                    format!(
                        "`expires_at` must be an RFC 3339 instant or a date (YYYY-MM-DD), not `{text}`"
                    ),
                )
            })?;
            if at <= now {
                return Err(AdminError::bad_field(
                    "expires_at",
                    format!("`expires_at` ({text}) is in the past"),
                ));
            }
            if at > now + i64::from(MAX_LIFETIME_DAYS) * DAY_MILLIS {
                return Err(AdminError::bad_field(
                    "expires_at",
                    format!("`expires_at` must be within {MAX_LIFETIME_DAYS} days"),
                ));
            }
            Ok(Some(at))
        }
    }
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

/// `GET /admin/v1/keys[?entity=<slug>][&offset=<n>][&limit=<n>]` → `{"data": [key…], "next_offset"}`,
/// oldest first; never secrets or hashes. Callers
/// with rights over one entity only see its keys.
#[utoipa::path(
    get, path = "/admin/v1/keys", tag = "admin",
    params(crate::listing::PagedFilter),
    responses(
        (status = 200, description = "The API keys, never their secrets.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    Listed { entity, window, .. }: Listed<ListKeys>,
) -> Result<Json<Value>, AdminError> {
    let keys = state
        .store
        .list_named_keys(entity.as_ref().map(|e| e.id), window)
        .await?;
    let slugs = entity_slugs(&state).await?;
    let now = now_millis();
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
                state.directory.last_used(listing.key.id),
                now,
            )
        })
        .collect();
    Ok(Json(page_json(data, window)))
}

/// `DELETE /admin/v1/keys/{id}` → `{"id", "revoked": true}`; 404 for an unknown key. Revoking a
/// revoked key succeeds again without a new audit event.
#[utoipa::path(
    delete, path = "/admin/v1/keys/{id}", tag = "admin",
    params(("id" = String, Path, description = "The object's id")),
    responses(
        (status = 200, description = "Revokes an API key.", body = crate::openapi::Object),
    ),
)]
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
        AuditAction::KeyRevoke,
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

/// `POST /admin/v1/keys/{id}/rotate` `{"grace_seconds": N}` → 201 with the successor (its secret
/// shown once), `rotated_from` and `previous_expires_at`. The old key works until now + grace
/// (at most 30 days; 0 stops it at once). 404 for an unknown key, 409 for a revoked, expired or
/// already rotated one.
#[utoipa::path(
    post, path = "/admin/v1/keys/{id}/rotate", tag = "admin",
    params(("id" = String, Path, description = "The object's id")),
    request_body = RotateKey,
    responses(
        (status = 201, description = "Rotates an API key: a successor, the old one kept for a grace period.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn rotate(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let not_found = || AdminError::NotFound(format!("no API key with id `{id}`"));
    let Some(old) = (match id.parse::<KeyId>() {
        Ok(key_id) => state.store.key_listing(key_id).await?,
        Err(_) => None,
    }) else {
        require_visible(&state, &caller, AdminAction::RotateKey, None, not_found).await?;
        return Err(not_found());
    };
    require_visible(
        &state,
        &caller,
        AdminAction::RotateKey,
        old.key.entity_id,
        not_found,
    )
    .await?;
    // The successor carries the owner's roles as the old key did: the same rule as minting.
    require_within_rights(
        &state,
        &caller,
        AdminAction::RotateKey,
        old.key.entity_id,
        old.key.owner,
    )
    .await?;
    let request: RotateKey = match body {
        Ok(bytes) if bytes.is_empty() => RotateKey::default(),
        body => json(body)?,
    };
    let grace_seconds = request.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if grace_seconds > MAX_GRACE_SECONDS {
        return Err(AdminError::bad_field(
            "grace_seconds",
            format!("`grace_seconds` must be at most {MAX_GRACE_SECONDS} (30 days)"),
        ));
    }
    let now = now_millis();
    let previous_expires_at = now + grace_seconds as i64 * 1_000;
    let secret = KeySecret::generate();
    let key = ApiKey {
        id: KeyId::generate(),
        hash: secret.hash(),
        display_prefix: secret.display_prefix(),
        created_at: now,
        revoked_at: None,
        // A key given a lifetime keeps it: the successor lives as long from now.
        expires_at: old
            .key
            .expires_at
            .map(|at| now + (at - old.key.created_at).max(0)),
        rotated_from: Some(old.key.id),
        last_used_at: None,
        ..old.key.clone()
    };
    let audit = change_event(
        &caller,
        AuditAction::KeyRotate,
        key.entity_id,
        json!({
            "owner": key.owner, "rotated_from": old.key.id, "display_prefix": key.display_prefix,
            "grace_seconds": grace_seconds, "previous_expires_at": previous_expires_at,
        }),
    );
    let rotation = state
        .store
        .rotate_key(
            old.key.id,
            previous_expires_at,
            &key,
            old.name.as_deref(),
            now,
            &audit,
        )
        .await?;
    match rotation {
        Rotation::Rotated => {}
        Rotation::NotLive => {
            return Err(AdminError::Conflict(format!(
                "API key `{}` is revoked or expired; create a new key instead",
                old.key.id
            )));
        }
        Rotation::AlreadyRotated => {
            return Err(AdminError::Conflict(format!(
                "API key `{}` was already rotated; rotate its successor instead",
                old.key.id
            )));
        }
    }
    state.directory.expire(old.key.id, previous_expires_at);
    state
        .directory
        .admit_stored_key(&state.store, key.owner, key.id)
        .await?;

    let slug = match key.entity_id {
        Some(entity) => state.store.entity(entity).await?.map(|e| e.slug),
        None => None,
    };
    let mut response = key_json(
        &KeyListing {
            key,
            name: old.name,
            replaced_by: None,
        },
        slug.as_deref(),
        None,
        now,
    );
    response["key"] = Value::String(secret.expose().to_owned());
    response["previous_expires_at"] = json!(previous_expires_at);
    Ok((StatusCode::CREATED, Json(response)))
}

/// A key as administrators see it; `live_last_used` is this process's newer knowledge of its last
/// use, ahead of the store by up to one flush interval.
fn key_json(
    listing: &KeyListing,
    entity_slug: Option<&str>,
    live_last_used: Option<UnixMillis>,
    now: UnixMillis,
) -> Value {
    let key = &listing.key;
    let last_used_at = key.last_used_at.max(live_last_used);
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
        "models": key.models,
        "expires_at": key.expires_at,
        "expired": key.is_expired(now),
        "priority": key.priority,
        "rotated_from": key.rotated_from,
        "replaced_by": listing.replaced_by,
        "last_used_at": last_used_at,
    })
}
