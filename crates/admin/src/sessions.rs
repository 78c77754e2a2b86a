//! `/admin/v1/sessions`: the web sessions open now, and ending them — one, or all of a user's.
//!
//! Sessions are stored for every replica and held by each replica that served them
//! (`identity::Directory`); listing reads the store, ending one takes effect from the browser's
//! next request on this replica, and within a second on the others (the `sessions` change notice). Entity administrators see and end their entity's
//! users' sessions only; another entity's session answers 404 as a missing one. Every ending is
//! audited `session.revoke`, with the session ids and the user.

use axum::Json;
use axum::extract::{Path, State};
use domain::{AuditAction, SessionId, now_millis};
use identity::SessionInfo;
use serde_json::{Value, json};

use crate::authorize::{change_event, require_visible};
use crate::caller::Caller;
use crate::content::permitted_user;
use crate::listing::{ListSessions, Listed, page_json};
use crate::{AdminAction, AdminError, AdminState};

/// `GET /admin/v1/sessions[?entity=<slug>][&offset=<n>][&limit=<n>]` → `{"data": [session…],
/// "next_offset"}`, oldest first; callers with rights over one entity only see its users'.
#[utoipa::path(
    get, path = "/admin/v1/sessions", tag = "admin",
    params(crate::listing::PagedFilter),
    responses(
        (status = 200, description = "The live web sessions (of one entity with `entity`).", body = crate::openapi::Listing),
        (status = "4XX", description = "Refused: the error's `code` says why", body = wire::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    Listed { entity, window, .. }: Listed<ListSessions>,
) -> Result<Json<Value>, AdminError> {
    let sessions = state
        .directory
        .sessions(entity.as_ref().map(|e| e.id), now_millis())
        .await?;
    let offset = usize::try_from(window.offset).unwrap_or(usize::MAX);
    let limit = usize::try_from(window.limit).unwrap_or(usize::MAX);
    let data = sessions
        .iter()
        .skip(offset)
        .take(limit)
        .map(|session| session_json(&state, session))
        .collect();
    Ok(Json(page_json(data, window)))
}

/// `DELETE /admin/v1/sessions/{id}` → the session ended; the browser's next request is signed out.
#[utoipa::path(
    delete, path = "/admin/v1/sessions/{id}", tag = "admin",
    params(("id" = String, Path, description = "The session's id (`ses_…`)")),
    responses(
        (status = 200, description = "Ends a web session.", body = crate::openapi::Object),
        (status = "4XX", description = "Refused: the error's `code` says why", body = wire::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn revoke(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let action = AdminAction::RevokeSessions;
    let missing = || AdminError::NotFound(format!("no web session with id `{id}`"));
    let session = match id.parse::<SessionId>() {
        Ok(id) => state.directory.session(id, now_millis()).await?,
        Err(_) => None,
    };
    let user = session
        .as_ref()
        .and_then(|s| state.directory.user_by_id(s.user_id));
    let (Some(session), Some(user)) = (session, user) else {
        require_visible(&state, &caller, action, None, missing).await?;
        return Err(missing());
    };
    require_visible(&state, &caller, action, Some(user.entity_id), missing).await?;
    let ended = state
        .directory
        .end_session(session.id, now_millis())
        .await?;
    let mut audit = change_event(
        &caller,
        AuditAction::SessionRevoke,
        Some(user.entity_id),
        json!({"sessions": [session.id], "user_name": &*user.user_name}),
    );
    audit.target = user.id.to_string();
    state.store.append_audit(&audit).await?;
    Ok(Json(json!({"id": session.id, "revoked": ended})))
}

/// `DELETE /admin/v1/users/{user}/sessions` (id or user name) → how many sessions ended.
#[utoipa::path(
    delete, path = "/admin/v1/users/{id}/sessions", tag = "admin",
    params(("id" = String, Path, description = "The user's id or user name")),
    responses(
        (status = 200, description = "Ends every web session of a user.", body = crate::openapi::Object),
        (status = "4XX", description = "Refused: the error's `code` says why", body = wire::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn revoke_user(
    State(state): State<AdminState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let user = permitted_user(&state, &caller, AdminAction::RevokeSessions, &user).await?;
    let ended: Vec<SessionId> = state
        .directory
        .end_sessions_of(user.id, now_millis())
        .await?;
    let mut audit = change_event(
        &caller,
        AuditAction::SessionRevoke,
        Some(user.entity_id),
        json!({"sessions": ended, "user_name": user.user_name}),
    );
    audit.target = user.id.to_string();
    state.store.append_audit(&audit).await?;
    Ok(Json(json!({
        "user_id": user.id,
        "user_name": user.user_name,
        "revoked": ended.len(),
    })))
}

fn session_json(state: &AdminState, session: &SessionInfo) -> Value {
    let user = state.directory.user_by_id(session.user_id);
    json!({
        "id": session.id,
        "user_id": session.user_id,
        "user_name": user.as_ref().map(|u| &*u.user_name),
        "entity": user.as_ref().map(|u| &*u.entity_slug),
        "method": session.method.as_str(),
        "started_at": session.started_at,
        "last_seen_at": session.last_seen_at,
        "expires_at": session.expires_at,
    })
}
