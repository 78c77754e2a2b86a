//! `/admin/v1/audit`: the newest audit events.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authorize::require;
use crate::body::query;
use crate::caller::Caller;
use crate::{AdminAction, AdminError, AdminState};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    limit: Option<u32>,
}

/// `GET /admin/v1/audit[?limit=N]` → `{"data": [event…]}`, newest first.
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    params: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::ReadAudit, None).await?;
    let params = query(params)?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(AdminError::bad_field(
            "limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let events = state.store.list_audit(limit).await?;
    let data: Vec<Value> = events
        .into_iter()
        .map(|(seq, e)| {
            // `detail` is stored as JSON text; shown as JSON when it parses, as text otherwise.
            let detail =
                serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::String(e.detail));
            json!({
                "seq": seq,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "entity_id": e.entity_id,
                "target": e.target,
                "outcome": e.outcome,
                "detail": detail,
            })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}
