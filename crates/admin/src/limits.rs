//! `/admin/v1/limits`: requests and tokens per minute of a key, user, team or entity. A change is
//! stored with its audit event, then applied to the live admission table, so the very next
//! request sees it.

use admission::{InvalidLimit, LimitKind, Limits, RateStatus};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use domain::now_millis;
use serde::Deserialize;
use serde_json::{Value, json};
use store::StoredLimit;

use crate::body::json;
use crate::caller::Caller;
use crate::listing::{ListedRules, ReadRateLimits};
use crate::rules::stored_limits;
use crate::scopes::{RuleChange, ScopeParams, ScopePath, Target, Targets, scope_target};
use crate::{AdminAction, AdminError, AdminState};

/// Absent or `null` is unlimited; at least one must be given (DELETE removes both).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SetLimits {
    requests_per_minute: Option<u64>,
    tokens_per_minute: Option<u64>,
}

/// `PUT /admin/v1/limits/{kind}/{id}` `{"requests_per_minute", "tokens_per_minute"}` → the
/// scope's limits.
#[utoipa::path(
    put, path = "/admin/v1/limits/{kind}/{id}", tag = "admin",
    params(ScopeParams),
    request_body = SetLimits,
    responses(
        (status = 200, description = "Sets a scope's rate limits.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn set(
    State(state): State<AdminState>,
    caller: Caller,
    path: ScopePath,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    let request: SetLimits = json(body)?;
    let limits = checked(&request)?;
    let detail = json!({
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_minute": limits.tokens_per_minute,
    });
    let change =
        RuleChange::begin(&state, &caller, path, AdminAction::SetRateLimit, detail).await?;
    let RuleChange { target, audit, .. } = &change;
    let stored = StoredLimit {
        scope_kind: target.scope.kind().to_owned(),
        scope_id: target.scope.id(),
        requests_per_minute: request.requests_per_minute,
        tokens_per_minute: request.tokens_per_minute,
    };
    state.store.set_rate_limit(&stored, audit).await?;
    state
        .counters
        .admission()
        .set_limit(target.scope.clone(), limits)
        .map_err(|e| AdminError::bad_request(e.to_string()))?;
    Ok(Json(limit_json(&state, target)))
}

/// `GET /admin/v1/limits/{kind}/{id}` → the scope's limits (`null`: unlimited) and what remains of
/// them right now.
#[utoipa::path(
    get, path = "/admin/v1/limits/{kind}/{id}", tag = "admin",
    params(ScopeParams),
    responses(
        (status = 200, description = "A scope's rate limits and what remains of them.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn get(
    State(state): State<AdminState>,
    caller: Caller,
    path: ScopePath,
) -> Result<Json<Value>, AdminError> {
    let target = scope_target(&state, &caller, path, AdminAction::ReadRateLimits).await?;
    Ok(Json(limit_json(&state, &target)))
}

/// `DELETE /admin/v1/limits/{kind}/{id}` → `{"kind", "id", "entity", "deleted": true}`; 404 when
/// the scope had no limits.
#[utoipa::path(
    delete, path = "/admin/v1/limits/{kind}/{id}", tag = "admin",
    params(ScopeParams),
    responses(
        (status = 200, description = "Removes a scope's rate limits.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    path: ScopePath,
) -> Result<Json<Value>, AdminError> {
    let action = AdminAction::DeleteRateLimit;
    let change = RuleChange::begin(&state, &caller, path, action, json!({})).await?;
    let RuleChange { target, audit, .. } = &change;
    let deleted = state
        .store
        .delete_rate_limit(target.scope.kind(), &target.scope.id(), audit)
        .await?;
    change.found(deleted, "rate limits")?;
    state
        .counters
        .admission()
        .set_limit(target.scope.clone(), Limits::default())
        .map_err(|e| AdminError::bad_request(e.to_string()))?;
    let mut answer = target.json();
    answer["deleted"] = Value::Bool(true);
    Ok(Json(answer))
}

/// `GET /admin/v1/limits[?entity=<slug or id>]` → `{"data": [limits…]}`: every scope with limits,
/// of one entity (entity administrators: always their own) or of the whole group.
#[utoipa::path(
    get, path = "/admin/v1/limits", tag = "admin",
    params(crate::listing::EntityFilter),
    responses(
        (status = 200, description = "Every scope with rate limits.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    ListedRules { entity, .. }: ListedRules<ReadRateLimits>,
) -> Result<Json<Value>, AdminError> {
    let mut targets = Targets::new(&state);
    let mut data = Vec::new();
    for stored in state.store.list_rate_limits().await? {
        if let Some(target) = targets
            .get(&stored.scope_kind, &stored.scope_id, entity)
            .await?
        {
            let mut item = limit_json(&state, &target);
            // The stored values: the table holds the same unless the row could not be applied.
            let limits = stored_limits(&stored);
            item["requests_per_minute"] = json!(limits.requests_per_minute);
            item["tokens_per_minute"] = json!(limits.tokens_per_minute);
            data.push(item);
        }
    }
    Ok(Json(json!({ "data": data })))
}

/// Checks a request's limits, with the message admission itself would give.
fn checked(request: &SetLimits) -> Result<Limits, AdminError> {
    if request.requests_per_minute.is_none() && request.tokens_per_minute.is_none() {
        return Err(AdminError::bad_request(
            "give `requests_per_minute`, `tokens_per_minute` or both; to remove a scope's limits, DELETE them",
        ));
    }
    let requests_per_minute = request
        .requests_per_minute
        .map(|n| {
            u32::try_from(n).map_err(|_| {
                AdminError::bad_field(
                    "requests_per_minute",
                    format!(
                        "a requests limit above {} per minute is not supported",
                        u32::MAX
                    ),
                )
            })
        })
        .transpose()?;
    let limits = Limits {
        requests_per_minute,
        tokens_per_minute: request.tokens_per_minute,
    };
    limits.validate().map_err(|e| {
        let param = match e {
            InvalidLimit::Zero(LimitKind::Requests)
            | InvalidLimit::TooLarge(LimitKind::Requests) => "requests_per_minute",
            InvalidLimit::Zero(LimitKind::Tokens)
            | InvalidLimit::TooLarge(LimitKind::Tokens)
            | InvalidLimit::SoftThreshold(_) => "tokens_per_minute",
        };
        AdminError::bad_field(param, e.to_string())
    })?;
    Ok(limits)
}

/// A scope's limits as the live table holds them, with what remains of each now.
fn limit_json(state: &AdminState, target: &Target) -> Value {
    let limits = state.counters.admission().limits(&target.scope);
    let rate = state
        .counters
        .admission()
        .rate_status(&target.scope, now_millis());
    let remaining = |status: &Option<RateStatus>| status.as_ref().map(|s| s.remaining);
    let mut answer = target.json();
    answer["requests_per_minute"] = json!(limits.requests_per_minute);
    answer["tokens_per_minute"] = json!(limits.tokens_per_minute);
    answer["remaining_requests"] = json!(remaining(&rate.requests));
    answer["remaining_tokens"] = json!(remaining(&rate.tokens));
    answer
}
