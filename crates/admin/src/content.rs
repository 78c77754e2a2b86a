//! Stored prompts and completions (retention `full`): erasure of a user's content
//! (`POST /admin/v1/users/{id}/erase`), reading it back for an investigation
//! (`GET /admin/v1/content`), and the purge by age on demand (`POST /admin/v1/retention/purge`).
//!
//! A caller refused for a user of another entity gets the same 404 as for an unknown user (the
//! refusal is audited), so another entity's users are never confirmed.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use domain::{AuditAction, KeyOwner, User, UserId, now_millis};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authorize::{audit_denied, change_event, hide, require, require_visible};
use crate::body::{check_text, query};
use crate::caller::Caller;
use crate::{AdminAction, AdminError, AdminState};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContentQuery {
    /// The user's id or user name.
    user: String,
    /// A date (its midnight in `[admission] time_zone`) or an RFC 3339 instant.
    #[param(format = Date)]
    from: String,
    /// A date (its midnight in `[admission] time_zone`) or an RFC 3339 instant.
    #[param(format = Date)]
    to: String,
    limit: Option<u32>,
}

/// `POST /admin/v1/users/{id}/erase` (id or user name) → the counts of what was destroyed.
/// Usage records stay, so chargeback still counts the user's requests. Idempotent. A caller's own
/// content is refused (`403`, audited `denied`), and so is content under a legal hold (`409`
/// `legal_hold`, audited `denied`).
#[utoipa::path(
    post, path = "/admin/v1/users/{id}/erase", tag = "admin",
    params(("id" = String, Path, description = "The user's id or user name")),
    responses(
        (status = 200, description = "Erases a user's stored content (its key destroyed).", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn erase(
    State(state): State<AdminState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let user = permitted_user(&state, &caller, AdminAction::EraseUser, &user).await?;
    // Erasing one's own content would destroy what an investigation of oneself reads; content
    // under a legal hold is kept for a case.
    let refusal = if caller.0.owner == KeyOwner::User(user.id) {
        Some(AdminError::Refused(
            "no one may erase their own content; another administrator must".to_owned(),
        ))
    } else {
        match crate::legal_holds::refuse_if_held(&state, &user).await {
            Ok(()) => None,
            Err(held @ AdminError::LegalHold(_)) => Some(held),
            Err(failed) => return Err(failed),
        }
    };
    if let Some(refusal) = refusal {
        let target = user.id.to_string();
        audit_denied(
            &state,
            &caller,
            AdminAction::EraseUser,
            Some(user.entity_id),
            target,
        )
        .await;
        return Err(refusal);
    }
    let mut audit = change_event(
        &caller,
        AuditAction::UserErase,
        Some(user.entity_id),
        json!({}),
    );
    audit.target = user.id.to_string();
    let owner = KeyOwner::User(user.id);
    let erased = match &state.content {
        Some(content) => content.erase(owner, &audit).await?,
        None => state.store.erase_content(owner, 0, &audit).await?,
    };
    Ok(Json(json!({
        "user_id": user.id,
        "user_name": user.user_name,
        "content_keys_destroyed": erased.content_keys,
        "content_records_deleted": erased.records,
    })))
}

/// `GET /admin/v1/content?user&from&to[&limit]` → the user's stored records in the range, oldest
/// first, opened: `input` as the caller sent it and `completion` as relayed. The read is audited
/// (`content.read`) before anything is opened.
#[utoipa::path(
    get, path = "/admin/v1/content", tag = "admin",
    params(ContentQuery),
    responses(
        (status = 200, description = "A user's stored prompts and completions in a time range; audited.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn read(
    State(state): State<AdminState>,
    caller: Caller,
    params: Result<Query<ContentQuery>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let params = query(params)?;
    let limit = match params.limit {
        None => DEFAULT_LIMIT,
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            return Err(AdminError::bad_field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
    };
    let user = permitted_user(&state, &caller, AdminAction::ReadContent, &params.user).await?;
    let selection = crate::usage::selection(&state, &params.from, &params.to, None)?;
    let content = state
        .content
        .as_ref()
        .ok_or_else(|| AdminError::NotFound("no content store in this deployment".into()))?;
    let mut audit = change_event(
        &caller,
        AdminAction::ReadContent.audit_action(),
        Some(user.entity_id),
        json!({"from": selection.from, "to": selection.to}),
    );
    audit.target = user.id.to_string();
    state.store.append_audit(&audit).await?;
    let records = content
        .read(KeyOwner::User(user.id), selection.from, selection.to, limit)
        .await?;
    let data: Vec<Value> = records
        .into_iter()
        .map(|record| {
            let (input, completion) = match &record.content {
                Some(content) => (content["input"].clone(), content["completion"].clone()),
                None => (Value::Null, Value::Null),
            };
            json!({
                "id": record.id,
                "request_id": record.request_id,
                "created_at": record.created_at,
                "operation": record.operation.as_str(),
                "model": record.model,
                "readable": record.content.is_some(),
                "input": input,
                "completion": completion,
            })
        })
        .collect();
    Ok(Json(json!({
        "user_id": user.id,
        "from": selection.from,
        "to": selection.to,
        "data": data,
    })))
}

/// `POST /admin/v1/retention/purge` (group administrators) → how many records past their
/// entity's retention were deleted now, and how many legal holds kept; the hourly job does the
/// same.
#[utoipa::path(
    post, path = "/admin/v1/retention/purge", tag = "admin",
    responses(
        (status = 200, description = "Deletes the content past its retention now.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn purge(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::PurgeContent, None).await?;
    let content = state
        .content
        .as_ref()
        .ok_or_else(|| AdminError::NotFound("no content store in this deployment".into()))?;
    let purged = content.purge(now_millis(), &caller.actor()).await?;
    Ok(Json(json!({
        "content_records_deleted": purged.deleted,
        "content_records_held": purged.held,
    })))
}

/// The user named by id or user name, once the caller may act on their entity. Unknown users
/// and users the caller may not touch get the same 404.
pub(crate) async fn permitted_user(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    id_or_name: &str,
) -> Result<User, AdminError> {
    check_text("user", id_or_name, 256)?;
    let found = match id_or_name.parse::<UserId>() {
        Ok(id) => state.store.user(id).await?,
        Err(_) => state.store.user_by_name(id_or_name).await?,
    };
    let not_found = || AdminError::NotFound(format!("no user `{id_or_name}`"));
    match found {
        // Refused users look missing to callers with the right in an entity of theirs; others
        // are refused outright (`authorize::require_visible`).
        Some(user) => {
            require_visible(state, caller, action, Some(user.entity_id), not_found).await?;
            Ok(user)
        }
        None => Err(hide(
            caller,
            action,
            AdminError::Forbidden { action },
            not_found,
        )),
    }
}
