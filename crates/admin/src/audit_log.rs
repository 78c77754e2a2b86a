//! `/admin/v1/audit`: the newest audit events with their hash-chain links, and
//! `/admin/v1/audit/checkpoints`: the signed checkpoints of the chain and the key that signs them.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authorize::require;
use crate::body::query;
use crate::caller::Caller;
use crate::usage::report_entity;
use crate::{AdminAction, AdminError, AdminState};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    limit: Option<u32>,
    /// Only the events about this entity (by slug).
    entity: Option<String>,
}

/// `GET /admin/v1/audit[?limit=N][&entity=<slug>]` → `{"data": [event…]}`, newest first. Callers
/// who read one entity's audit events (its administrators and auditors) get that entity's only.
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    params: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let params = query(params)?;
    let entity = report_entity(
        &state,
        &caller,
        AdminAction::ReadAudit,
        params.entity.as_deref(),
    )
    .await?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(AdminError::bad_field(
            "limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let events = match entity {
        Some(entity) => {
            state
                .store
                .list_entity_audit_chain(entity.id, limit)
                .await?
        }
        None => state.store.list_audit_chain(limit).await?,
    };
    let data: Vec<Value> = events
        .into_iter()
        .map(|e| {
            // `detail` is stored as JSON text; shown as JSON when it parses, as text otherwise.
            // The hash covers the stored text: `fabrique audit export` keeps it byte for byte.
            let detail =
                serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::String(e.detail));
            json!({
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "entity_id": e.entity_id,
                "target": e.target,
                "outcome": e.outcome,
                "detail": detail,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointQuery {
    /// Only checkpoints of events numbered from this one.
    from: Option<u64>,
    limit: Option<u32>,
}

/// `GET /admin/v1/audit/checkpoints[?from=SEQ&limit=N]` →
/// `{"public_key": hex, "data": [checkpoint…]}`, oldest first. The checkpoints sign the whole
/// chain: only callers who may read the whole audit trail read them.
pub(crate) async fn checkpoints(
    State(state): State<AdminState>,
    caller: Caller,
    params: Result<Query<CheckpointQuery>, QueryRejection>,
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
    let checkpoints = state
        .store
        .audit_checkpoints_page(params.from.unwrap_or(0), limit)
        .await?;
    let head = state.store.audit_chain_head().await?;
    Ok(Json(json!({
        "public_key": state.audit_public_key.map(|key| key.to_string()),
        "head": {"seq": head.seq, "hash": head.hash, "event_count": head.event_count},
        "data": checkpoints
            .into_iter()
            .map(|c| json!({
                "seq": c.seq,
                "head": c.head,
                "at": c.at,
                "event_count": c.event_count,
                "public_key": c.public_key,
                "signature": c.signature,
            }))
            .collect::<Vec<_>>(),
    })))
}
