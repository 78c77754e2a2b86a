//! `/admin/v1/audit`: the newest audit events with their hash-chain links, and
//! `/admin/v1/audit/checkpoints`: the signed checkpoints of the chain and the key that signs them,
//! and `POST /admin/v1/audit/verify`: the chain verified as `fabrique audit verify` does.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use domain::{AuditAction, AuditFamily, Outcome};
use store::AuditFilter;

use crate::authorize::{change_event, require};
use crate::body::query;
use crate::caller::Caller;
use crate::usage::report_entity;
use crate::{AdminAction, AdminError, AdminState};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 10_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    limit: Option<u32>,
    /// Only events numbered below this: the `next_before` of the previous page.
    before: Option<u64>,
    /// An entity's slug.
    entity: Option<String>,
    actor: Option<String>,
    /// An action (`key.create`) or a family of them (`key`).
    #[serde(alias = "type")]
    action: Option<String>,
    outcome: Option<String>,
    /// Instants in the group's time zone (`2026-11-01`, `2026-11-01T08:00`) or RFC 3339.
    from: Option<String>,
    to: Option<String>,
}

/// `GET /admin/v1/audit[?entity=&actor=&action=&outcome=&from=&to=&before=&limit=]` →
/// `{"data": [event…], "next_before": seq|null}`, newest first. Group administrators and
/// group-wide auditors read every entity's events (or one's, with `entity`); an entity's
/// administrators and auditors read their entity's only, and naming another answers 404.
#[utoipa::path(
    get, path = "/admin/v1/audit", tag = "admin",
    params(AuditQuery),
    responses(
        (status = 200, description = "The audit trail, newest first, a page at a time.", body = crate::openapi::Listing),
    ),
)]
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
    let filter = AuditFilter {
        before: sequence("before", params.before)?,
        entity_id: entity.map(|e| e.id.to_string()),
        actor: params.actor.map(actor).transpose()?,
        action: params.action.map(action).transpose()?,
        outcome: params.outcome.map(outcome).transpose()?,
        from: params
            .from
            .map(|t| instant(&state, "from", &t))
            .transpose()?,
        to: params.to.map(|t| instant(&state, "to", &t)).transpose()?,
    };
    let events = state.store.query_audit(&filter, limit).await?;
    let next_before = match events.last() {
        Some(last) if events.len() == limit as usize => Some(last.seq),
        _ => None,
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
    Ok(Json(json!({ "data": data, "next_before": next_before })))
}

/// An actor as events name them: letters, digits and `_ . : -`, at most 200 bytes.
fn actor(value: String) -> Result<String, AdminError> {
    let fits = !value.is_empty()
        && value.len() <= 200
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if fits {
        Ok(value)
    } else {
        Err(AdminError::bad_field(
            "actor",
            "`actor` must be a name such as a key id `key_…` or a user id `usr_…`",
        ))
    }
}

/// An action (`key.create`) or a family of them (`key`): a name the trail can hold, so that a
/// misspelt filter is told so rather than answered with nothing.
fn action(value: String) -> Result<String, AdminError> {
    if AuditAction::parse(&value).is_some() || AuditFamily::parse(&value).is_some() {
        return Ok(value);
    }
    let families: Vec<&str> = AuditFamily::ALL.iter().map(|f| f.as_str()).collect();
    Err(AdminError::bad_field(
        "action",
        format!(
            "`action` must be an action such as `key.create` or a family such as `key`; the families are {}",
            families.join(", ")
        ),
    ))
}

fn outcome(value: String) -> Result<String, AdminError> {
    Outcome::ALL
        .into_iter()
        .find(|o| o.as_str() == value)
        .map(|o| o.as_str().to_owned())
        .ok_or_else(|| {
            AdminError::bad_field(
                "outcome",
                format!("`outcome` must be `success`, `denied` or `failure`, not `{value}`"),
            )
        })
}

fn instant(state: &AdminState, field: &'static str, text: &str) -> Result<i64, AdminError> {
    state
        .zone
        .parse_instant(text)
        .map_err(|e| AdminError::bad_field(field, e.to_string()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointQuery {
    /// Only checkpoints of events numbered from this one.
    from: Option<u64>,
    limit: Option<u32>,
}

/// `GET /admin/v1/audit/checkpoints[?from=SEQ&limit=N]` →
/// `{"public_key": hex, "data": [checkpoint…]}`, oldest first. Authorized like the audit trail.
#[utoipa::path(
    get, path = "/admin/v1/audit/checkpoints", tag = "admin",
    params(CheckpointQuery),
    responses(
        (status = 200, description = "The signed audit checkpoints and the public key.", body = crate::openapi::Listing),
    ),
)]
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
        .audit_checkpoints_page(sequence("from", params.from)?.unwrap_or(0), limit)
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
                "previous": c.previous,
                "public_key": c.public_key,
                "signature": c.signature,
            }))
            .collect::<Vec<_>>(),
    })))
}

/// `POST /admin/v1/audit/verify` → `{"verified", "events", "last_seq", "checkpoints_signed",
/// "last_anchored_seq", "unanchored_events", "problems": [text…], "problems_omitted"}`: the whole
/// stored chain checked as `fabrique audit verify` checks it (`Store::verify_audit_chain`), the
/// checkpoints' signatures against this process's key. Group-wide readers only, as checkpoints
/// sign the whole chain; audited `audit.read` with the outcome.
#[utoipa::path(
    post, path = "/admin/v1/audit/verify", tag = "admin",
    responses(
        (status = 200, description = "Verifies the audit chain and its signed checkpoints.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn verify(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::ReadAudit, None).await?;
    let trusted = state.audit_public_key.into_iter().collect();
    let report = state
        .store
        .verify_audit_chain(trusted, evidence::OutsideAnchors::default())
        .await?;
    let problems = report.problems.len() as u64 + report.problems_omitted;
    let mut audit = change_event(
        &caller,
        AuditAction::AuditRead,
        None,
        json!({"verify": true, "events": report.events, "problems": problems}),
    );
    audit.target = "group".to_owned();
    state.store.append_audit(&audit).await?;
    Ok(Json(json!({
        "verified": report.is_ok(),
        "events": report.events,
        "last_seq": report.last_seq,
        "checkpoints_signed": report.checkpoints_signed,
        "last_anchored_seq": report.last_anchored_seq,
        "unanchored_events": report.unanchored_events,
        "problems": report.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "problems_omitted": report.problems_omitted,
    })))
}

/// An event number from the query string: the store numbers events within `i64`, so a larger one
/// is refused here rather than failing there.
fn sequence(param: &'static str, value: Option<u64>) -> Result<Option<u64>, AdminError> {
    match value {
        Some(seq) if i64::try_from(seq).is_err() => Err(AdminError::bad_field(
            param,
            format!("`{param}` must be at most {}", i64::MAX),
        )),
        value => Ok(value),
    }
}
