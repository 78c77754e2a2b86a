//! `/admin/v1/budgets`: tokens or money (integer micro-units) per calendar day or month of a key,
//! user, team or entity, with their live status. Changes are stored with their audit event, then
//! applied to the live admission table.
//!
//! A budget created here starts with what its scope already spent in the current period according
//! to usage records, as it would after a restart; a changed budget keeps what it counted. A reset
//! starts the scope's spending afresh in both places: the store remembers the instant, so usage
//! before it no longer counts after a restart either.

use admission::{Budget, BudgetStatus, BudgetUnit, Period, rfc3339};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use domain::now_millis;
use serde::Deserialize;
use serde_json::{Value, json};
use store::StoredBudget;

use crate::body::{json, query};
use crate::caller::Caller;
use crate::listing::{ListedRules, ReadBudgets};
use crate::rules::{spent_this_period, stored_budget};
use crate::scopes::{RuleChange, ScopeParams, ScopePath, Target, Targets, scope_target};
use crate::{AdminAction, AdminError, AdminState};

/// The largest hard limit accepted: a quadrillion tokens, or a billion in money. Anything above is
/// a typing error, not a budget.
pub const MAX_HARD_LIMIT: u64 = 1_000_000_000_000_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SetBudget {
    period: String,
    unit: String,
    hard_limit: u64,
    soft_threshold_percent: Option<u64>,
}

/// Which budget of a scope: `?period=…&unit=…`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhichBudget {
    pub period: Option<String>,
    pub unit: Option<String>,
}

/// `PUT /admin/v1/budgets/{kind}/{id}` `{"period", "unit", "hard_limit", "soft_threshold_percent"}`
/// → the scope and its budgets.
#[utoipa::path(
    put, path = "/admin/v1/budgets/{kind}/{id}", tag = "admin",
    params(ScopeParams),
    request_body = SetBudget,
    responses(
        (status = 200, description = "Sets one of a scope's budgets.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn set(
    State(state): State<AdminState>,
    caller: Caller,
    path: ScopePath,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    let request: SetBudget = json(body)?;
    let budget = checked(&request)?;
    let detail = json!({
        "period": budget.period.as_str(),
        "unit": budget.unit.as_str(),
        "hard_limit": budget.hard_limit,
        "soft_threshold_percent": budget.soft_threshold_percent,
    });
    let change = RuleChange::begin(&state, &caller, path, AdminAction::SetBudget, detail).await?;
    let RuleChange { target, audit, .. } = &change;
    let stored = StoredBudget {
        scope_kind: target.scope.kind().to_owned(),
        scope_id: target.scope.id(),
        period: budget.period.as_str().to_owned(),
        unit: budget.unit.as_str().to_owned(),
        hard_limit: budget.hard_limit,
        soft_threshold_percent: budget.soft_threshold_percent,
        reset_at: None,
    };
    let now = now_millis();
    let created = state
        .counters
        .admission()
        .budget(&target.scope, budget.period, budget.unit, now)
        .is_none();
    // A new budget counts what its scope already spent this period, as the table loaded at start
    // would: its stored row is new, so no earlier reset applies to it. Read before the change, so
    // an error leaves nothing half done.
    let already_spent = if created {
        let calendar = state.counters.admission().calendar();
        Some(spent_this_period(&state.store, calendar, &target.scope, &budget, None, now).await?)
    } else {
        None
    };
    state.store.set_budget(&stored, audit).await?;
    state
        .counters
        .admission()
        .set_budget(target.scope.clone(), budget)
        .map_err(|e| AdminError::bad_request(e.to_string()))?;
    if let Some(spent) = already_spent {
        state.counters.admission().restore([spent], now);
    }
    Ok(Json(budgets_json(&state, target).await?))
}

/// `GET /admin/v1/budgets/{kind}/{id}` → the scope and each of its budgets with its live status.
#[utoipa::path(
    get, path = "/admin/v1/budgets/{kind}/{id}", tag = "admin",
    params(ScopeParams),
    responses(
        (status = 200, description = "A scope's budgets with their live status.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn get(
    State(state): State<AdminState>,
    caller: Caller,
    path: ScopePath,
) -> Result<Json<Value>, AdminError> {
    let target = scope_target(&state, &caller, path, AdminAction::ReadBudgets).await?;
    Ok(Json(budgets_json(&state, &target).await?))
}

/// `DELETE /admin/v1/budgets/{kind}/{id}?period=…&unit=…` → the scope and its remaining budgets;
/// 404 when there was no such budget.
#[utoipa::path(
    delete, path = "/admin/v1/budgets/{kind}/{id}", tag = "admin",
    params(ScopeParams, WhichBudget),
    responses(
        (status = 200, description = "Removes a scope's budgets (one, with `period` and `unit`).", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    path: ScopePath,
    which: Result<Query<WhichBudget>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let which = query(which)?;
    let (Some(period), Some(unit)) = (which.period.as_deref(), which.unit.as_deref()) else {
        return Err(AdminError::bad_request(
            "say which budget to delete with `?period=day|month&unit=tokens|money_micros`",
        ));
    };
    let (period, unit) = (parse_period(period)?, parse_unit(unit)?);
    let detail = json!({"period": period.as_str(), "unit": unit.as_str()});
    let change =
        RuleChange::begin(&state, &caller, path, AdminAction::DeleteBudget, detail).await?;
    let RuleChange { target, audit, .. } = &change;
    let (kind, id) = (target.scope.kind(), target.scope.id());
    let (period_name, unit_name) = (period.as_str(), unit.as_str());
    let deleted = state
        .store
        .delete_budget(kind, &id, period_name, unit_name, audit)
        .await?;
    change.found(
        deleted,
        &format!("{} {} budget", period.adjective(), unit.noun()),
    )?;
    state
        .counters
        .admission()
        .remove_budget(&target.scope, period, unit);
    Ok(Json(budgets_json(&state, target).await?))
}

/// `POST /admin/v1/budgets/{kind}/{id}/reset` → the scope and its budgets, spending back to zero
/// in the current period (the scope's rate limits start afresh too). 404 when it has no budget.
#[utoipa::path(
    post, path = "/admin/v1/budgets/{kind}/{id}/reset", tag = "admin",
    params(ScopeParams, WhichBudget),
    responses(
        (status = 200, description = "Sets a scope's spending back to zero.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn reset(
    State(state): State<AdminState>,
    caller: Caller,
    path: ScopePath,
) -> Result<Json<Value>, AdminError> {
    let change =
        RuleChange::begin(&state, &caller, path, AdminAction::ResetBudget, json!({})).await?;
    let RuleChange { target, audit, .. } = &change;
    let reset = state
        .store
        .reset_budgets(target.scope.kind(), &target.scope.id(), audit)
        .await?;
    change.found(reset, "budget to reset")?;
    // The instant the store recorded, so memory and a later restart count from the same moment;
    // with Redis, the group's counters are reset there too.
    state.counters.reset(&target.scope, audit.at).await?;
    Ok(Json(budgets_json(&state, target).await?))
}

/// `GET /admin/v1/budgets[?entity=<slug or id>]` → `{"data": [budget…]}`: every budget with its
/// scope and live status, of one entity (entity administrators: always their own) or of all.
#[utoipa::path(
    get, path = "/admin/v1/budgets", tag = "admin",
    params(crate::listing::EntityFilter),
    responses(
        (status = 200, description = "Every budget with its live status.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    ListedRules { entity, .. }: ListedRules<ReadBudgets>,
) -> Result<Json<Value>, AdminError> {
    let now = now_millis();
    let mut targets = Targets::new(&state);
    let (mut items, mut statuses) = (Vec::new(), Vec::new());
    for stored in state.store.list_budgets().await? {
        let Some((scope, budget)) = stored_budget(&stored) else {
            continue;
        };
        let Some(target) = targets
            .get(&stored.scope_kind, &stored.scope_id, entity)
            .await?
        else {
            continue;
        };
        if let Some(status) =
            state
                .counters
                .admission()
                .budget(&scope, budget.period, budget.unit, now)
        {
            items.push(target.json());
            statuses.push(status);
        }
    }
    // One round trip for all of them when the group counts in Redis.
    state.counters.group_spending(&mut statuses).await?;
    let data: Vec<Value> = items
        .into_iter()
        .zip(&statuses)
        .map(|(mut item, status)| {
            merge(&mut item, status_json(status));
            item
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// Checks a request's budget; the messages name the field and what it accepts.
fn checked(request: &SetBudget) -> Result<Budget, AdminError> {
    let period = parse_period(&request.period)?;
    let unit = parse_unit(&request.unit)?;
    if request.hard_limit == 0 {
        return Err(AdminError::bad_field(
            "hard_limit",
            "a hard limit of zero would refuse everything; suspend the key, user or entity instead",
        ));
    }
    if request.hard_limit > MAX_HARD_LIMIT {
        return Err(AdminError::bad_field(
            "hard_limit",
            format!("a hard limit above {MAX_HARD_LIMIT} is not supported"),
        ));
    }
    let soft_threshold_percent = match request.soft_threshold_percent {
        None => None,
        Some(p @ 1..=100) => u8::try_from(p).ok(),
        Some(p) => {
            return Err(AdminError::bad_field(
                "soft_threshold_percent",
                format!("a soft threshold must be a percentage between 1 and 100, not {p}"),
            ));
        }
    };
    Ok(Budget {
        period,
        unit,
        hard_limit: request.hard_limit,
        soft_threshold_percent,
    })
}

fn parse_period(text: &str) -> Result<Period, AdminError> {
    Period::parse(text).ok_or_else(|| {
        AdminError::bad_field(
            "period",
            format!("unknown budget period `{text}`: expected day or month"),
        )
    })
}

fn parse_unit(text: &str) -> Result<BudgetUnit, AdminError> {
    BudgetUnit::parse(text).ok_or_else(|| {
        AdminError::bad_field(
            "unit",
            format!(
                "unknown budget unit `{text}`: expected tokens, or money_micros (integer millionths of the currency)"
            ),
        )
    })
}

/// The scope and each of its budgets, live: the group's spending.
async fn budgets_json(state: &AdminState, target: &Target) -> Result<Value, AdminError> {
    let statuses = state.counters.budgets(&target.scope, now_millis()).await?;
    let mut answer = target.json();
    answer["budgets"] = Value::Array(statuses.iter().map(status_json).collect());
    Ok(answer)
}

/// One budget's configuration and state in its current period.
fn status_json(status: &BudgetStatus) -> Value {
    let committed = status.spent.saturating_add(status.reserved);
    let soft_threshold_reached = status.soft_threshold_percent.is_some_and(|percent| {
        u128::from(committed) * 100 >= u128::from(status.limit) * u128::from(percent)
    });
    json!({
        "period": status.period.as_str(),
        "unit": status.unit.as_str(),
        "hard_limit": status.limit,
        "soft_threshold_percent": status.soft_threshold_percent,
        "spent": status.spent,
        "reserved": status.reserved,
        "remaining": status.limit.saturating_sub(committed),
        "soft_threshold_reached": soft_threshold_reached,
        "period_start": rfc3339(status.period_start),
        "resets_at": rfc3339(status.resets_at),
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}
