//! `/admin/v1/usage`, `/admin/v1/usage/active-users`, `/admin/v1/usage/latency`: sums, active users
//! and latency percentiles over usage records, by entity, team, user, key, model, use case,
//! endpoint or error code, optionally per hour, day or month of the group's time zone.
//!
//! Entity administrators and auditors read their own entity only: without `entity` the report is
//! narrowed to it, and naming another entity answers 404 exactly as an unknown slug does. Every
//! read is audited (who read which entity's usage). Results are bounded: at most
//! [`MAX_RANGE_DAYS`] of records, [`reports::MAX_BUCKETS`] buckets and `limit` groups.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use domain::{Entity, EntityId, TeamId, UsageTotals};
use reports::{Interval, ReportError, money};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use store::{UsageDimension, UsageGroup, UsageSelection};

use crate::authorize::{authorize, change_event, require};
use crate::body::{check_slug, query};
use crate::caller::Caller;
use crate::{AdminAction, AdminError, AdminState};

/// The longest range one query may cover.
pub const MAX_RANGE_DAYS: i64 = 366;
const DEFAULT_LIMIT: u32 = 1_000;
const MAX_LIMIT: u32 = 10_000;
/// At most this many dimensions at once (`group_by=entity,team,model`).
const MAX_DIMENSIONS: usize = 4;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageQuery {
    /// A date (its midnight in `[admission] time_zone`) or an RFC 3339 instant.
    #[param(format = Date)]
    from: String,
    /// A date (its midnight in `[admission] time_zone`) or an RFC 3339 instant.
    #[param(format = Date)]
    to: String,
    /// Comma-separated dimensions.
    group_by: Option<String>,
    interval: Option<String>,
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    entity: Option<String>,
    limit: Option<u32>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActiveUsersQuery {
    /// A date (its midnight in `[admission] time_zone`) or an RFC 3339 instant.
    #[param(format = Date)]
    from: String,
    /// A date (its midnight in `[admission] time_zone`) or an RFC 3339 instant.
    #[param(format = Date)]
    to: String,
    interval: Option<String>,
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    entity: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LatencyQuery {
    /// A date (its midnight in `[admission] time_zone`) or an RFC 3339 instant.
    #[param(format = Date)]
    from: String,
    /// A date (its midnight in `[admission] time_zone`) or an RFC 3339 instant.
    #[param(format = Date)]
    to: String,
    group_by: Option<String>,
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    entity: Option<String>,
    limit: Option<u32>,
}

/// `GET /admin/v1/usage?from&to[&group_by][&interval][&entity][&limit]` → the sums per group
/// (and bucket), the sums of the whole selection, and whether groups were left out.
#[utoipa::path(
    get, path = "/admin/v1/usage", tag = "admin",
    params(UsageQuery),
    responses(
        (status = 200, description = "Usage sums per group and time bucket.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn totals(
    State(state): State<AdminState>,
    caller: Caller,
    params: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let params = query(params)?;
    let (entity, selection) =
        scoped(&state, &caller, &params.from, &params.to, &params.entity).await?;
    let group_by = dimensions(params.group_by.as_deref())?;
    let boundaries = boundaries(&state, params.interval.as_deref(), &selection)?;
    let limit = limit(params.limit)?;
    let mut groups = state
        .store
        .usage_groups(&selection, &group_by, boundaries.as_deref(), limit + 1)
        .await
        .map_err(|e| report_error(&state, e))?;
    let truncated = groups.len() > limit as usize;
    groups.truncate(limit as usize);
    let whole = match truncated {
        false => summed(&groups),
        true => state
            .store
            .usage_groups(&selection, &[], None, 1)
            .await
            .map_err(|e| report_error(&state, e))?
            .first()
            .map(|g| g.totals)
            .unwrap_or_default(),
    };
    let names = Names::load(&state, &caller, &group_by, &groups).await?;
    let data: Vec<Value> = groups
        .iter()
        .map(|group| {
            let mut row = names.keys(&group_by, group);
            if let (Some(bucket), Some(bounds)) = (group.bucket, boundaries.as_deref()) {
                row.insert("bucket".into(), json!(bucket_start(&state, bounds, bucket)));
            }
            row.extend(totals_json(&group.totals));
            Value::Object(row)
        })
        .collect();
    audit_read(&state, &caller, AdminAction::ReadUsage, &entity, &selection).await?;
    let mut answer = header(&state, &selection, entity.as_ref());
    answer.insert(
        "group_by".into(),
        json!(group_by.iter().map(|d| d.as_str()).collect::<Vec<_>>()),
    );
    answer.insert("interval".into(), json!(params.interval));
    answer.insert("data".into(), Value::Array(data));
    answer.insert("totals".into(), Value::Object(totals_json(&whole)));
    answer.insert("truncated".into(), json!(truncated));
    Ok(Json(Value::Object(answer)))
}

/// `GET /admin/v1/usage/active-users?from&to[&interval][&entity]` → distinct users with at least
/// one request, over the range and per bucket.
#[utoipa::path(
    get, path = "/admin/v1/usage/active-users", tag = "admin",
    params(ActiveUsersQuery),
    responses(
        (status = 200, description = "Distinct active users per time bucket.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn active_users(
    State(state): State<AdminState>,
    caller: Caller,
    params: Result<Query<ActiveUsersQuery>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let params = query(params)?;
    let (entity, selection) =
        scoped(&state, &caller, &params.from, &params.to, &params.entity).await?;
    let boundaries = boundaries(&state, params.interval.as_deref(), &selection)?;
    let whole = state.store.active_users(&selection, None).await?;
    let data: Vec<Value> = match &boundaries {
        Some(bounds) => state
            .store
            .active_users(&selection, Some(bounds))
            .await?
            .into_iter()
            .map(|(bucket, users)| {
                json!({
                    "bucket": bucket.map(|b| bucket_start(&state, bounds, b)),
                    "active_users": users,
                })
            })
            .collect(),
        None => Vec::new(),
    };
    audit_read(&state, &caller, AdminAction::ReadUsage, &entity, &selection).await?;
    let mut answer = header(&state, &selection, entity.as_ref());
    answer.insert("interval".into(), json!(params.interval));
    answer.insert(
        "active_users".into(),
        json!(whole.first().map_or(0, |(_, users)| *users)),
    );
    answer.insert("data".into(), Value::Array(data));
    Ok(Json(Value::Object(answer)))
}

/// `GET /admin/v1/usage/latency?from&to[&group_by=model|endpoint][&entity][&limit]` →
/// p50/p90/p99 of the duration and time to first token of successful requests: exact over raw
/// records, at most 10 % above over rolled-up hours; and the group's failed requests.
#[utoipa::path(
    get, path = "/admin/v1/usage/latency", tag = "admin",
    params(LatencyQuery),
    responses(
        (status = 200, description = "Latency percentiles per model or endpoint.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn latency(
    State(state): State<AdminState>,
    caller: Caller,
    params: Result<Query<LatencyQuery>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let params = query(params)?;
    let (entity, selection) =
        scoped(&state, &caller, &params.from, &params.to, &params.entity).await?;
    let group_by = match params.group_by.as_deref().unwrap_or("model") {
        "model" => UsageDimension::Model,
        "endpoint" => UsageDimension::Endpoint,
        other => {
            return Err(AdminError::bad_field(
                "group_by",
                format!("latency is grouped by `model` or `endpoint` (got `{other}`)"),
            ));
        }
    };
    let limit = limit(params.limit)?;
    let groups = state
        .store
        .latency_percentiles(&selection, group_by, limit)
        .await
        .map_err(|e| report_error(&state, e))?;
    let percentiles = |p: &store::Percentiles| json!({"p50": p.p50, "p90": p.p90, "p99": p.p99});
    let data: Vec<Value> = groups
        .iter()
        .map(|g| {
            json!({
                group_by.as_str(): g.key,
                "requests": g.duration.count,
                "duration_ms": percentiles(&g.duration),
                "ttft_ms": g.ttft.as_ref().map(percentiles),
                "requests_with_ttft": g.ttft.map_or(0, |p| p.count),
                "errors": g.errors,
            })
        })
        .collect();
    audit_read(&state, &caller, AdminAction::ReadUsage, &entity, &selection).await?;
    let mut answer = header(&state, &selection, entity.as_ref());
    answer.insert("group_by".into(), json!(group_by.as_str()));
    answer.insert("data".into(), Value::Array(data));
    Ok(Json(Value::Object(answer)))
}

/// The entity a usage query covers and the records it selects.
async fn scoped(
    state: &AdminState,
    caller: &Caller,
    from: &str,
    to: &str,
    entity: &Option<String>,
) -> Result<(Option<Entity>, UsageSelection), AdminError> {
    let entity = report_entity(state, caller, AdminAction::ReadUsage, entity.as_deref()).await?;
    let selection = selection(state, from, to, entity.as_ref())?;
    Ok((entity, selection))
}

/// The entity a report or listing covers. Callers allowed `action` group-wide choose (`None`: the
/// whole group). Callers allowed it in their entity (administrators, auditors…) get their entity;
/// naming another one answers 404 as an unknown slug does, so they learn nothing of other
/// entities. Others get 403.
pub(crate) async fn report_entity(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    slug: Option<&str>,
) -> Result<Option<Entity>, AdminError> {
    let group_wide = authorize(&caller.0, action, None).is_ok();
    let own = own_entities(caller, action);
    if !group_wide && own.is_empty() {
        require(state, caller, action, None).await?;
    }
    let Some(slug) = slug else {
        if group_wide {
            return Ok(None);
        }
        return match own.as_slice() {
            // `None` here would mean the whole group: an entity that vanished is "not found".
            [only] => match state.store.entity(*only).await? {
                Some(entity) => {
                    require(state, caller, action, Some(entity.id)).await?;
                    Ok(Some(entity))
                }
                None => Err(AdminError::NotFound(format!("no entity with id `{only}`"))),
            },
            _ => Err(AdminError::bad_field(
                "entity",
                "your roles cover several entities: name one with `entity`",
            )),
        };
    };
    check_slug("entity", slug)?;
    let entity = state.store.entity_by_slug(slug).await?;
    match entity {
        Some(entity) if authorize(&caller.0, action, Some(entity.id)).is_ok() => Ok(Some(entity)),
        found => {
            if let Some(other) = &found {
                // Recorded as a refusal, answered as "not found".
                let _ = require(state, caller, action, Some(other.id)).await;
            }
            Err(AdminError::NotFound(format!(
                "no entity with slug `{slug}`"
            )))
        }
    }
}

/// The entities where the caller may do `action` through an entity-scoped role.
fn own_entities(caller: &Caller, action: AdminAction) -> Vec<EntityId> {
    let mut entities: Vec<EntityId> = caller
        .0
        .roles
        .iter()
        .filter_map(|g| g.entity_id)
        .filter(|entity| authorize(&caller.0, action, Some(*entity)).is_ok())
        .collect();
    entities.sort_unstable();
    entities.dedup();
    entities
}

/// A store error of a usage report: a range that cuts a day kept by day only is the caller's to
/// change, said in the group's time zone.
pub(crate) fn report_error(state: &AdminState, error: store::StoreError) -> AdminError {
    match error {
        store::StoreError::KeptByDay { before } => AdminError::bad_request(format!(
            "the usage before {} is kept by day only (its hourly roll-ups and raw records are \
             deleted, [retention]): give `from`, `to` and `interval` that cut no day before it",
            state.zone.format(before)
        )),
        other => other.into(),
    }
}

/// Reads `from`/`to` in the group's time zone and bounds the range.
pub(crate) fn selection(
    state: &AdminState,
    from: &str,
    to: &str,
    entity: Option<&Entity>,
) -> Result<UsageSelection, AdminError> {
    let from = state
        .zone
        .parse_instant(from)
        .map_err(|e| AdminError::bad_field("from", e.to_string()))?;
    let to = state
        .zone
        .parse_instant(to)
        .map_err(|e| AdminError::bad_field("to", e.to_string()))?;
    if from >= to {
        return Err(AdminError::bad_field(
            "to",
            ReportError::EmptyRange.to_string(),
        ));
    }
    if to - from > MAX_RANGE_DAYS * 86_400_000 {
        return Err(AdminError::bad_field(
            "to",
            ReportError::RangeTooLong {
                max_days: MAX_RANGE_DAYS,
            }
            .to_string(),
        ));
    }
    Ok(UsageSelection {
        from,
        to,
        entity: entity.map(|e| e.id),
    })
}

fn dimensions(text: Option<&str>) -> Result<Vec<UsageDimension>, AdminError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut dimensions = Vec::new();
    for name in text.split(',') {
        let dimension = UsageDimension::parse(name.trim()).ok_or_else(|| {
            AdminError::bad_field(
                "group_by",
                format!(
                    "unknown dimension `{name}`: expected a comma-separated list of {}",
                    UsageDimension::ALL.map(UsageDimension::as_str).join(", ")
                ),
            )
        })?;
        if !dimensions.contains(&dimension) {
            dimensions.push(dimension);
        }
    }
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(AdminError::bad_field(
            "group_by",
            format!("at most {MAX_DIMENSIONS} dimensions at once"),
        ));
    }
    Ok(dimensions)
}

fn boundaries(
    state: &AdminState,
    interval: Option<&str>,
    selection: &UsageSelection,
) -> Result<Option<Vec<i64>>, AdminError> {
    let Some(name) = interval else {
        return Ok(None);
    };
    let interval = Interval::parse(name).ok_or_else(|| {
        AdminError::bad_field(
            "interval",
            format!("unknown interval `{name}`: expected hour, day or month"),
        )
    })?;
    state
        .zone
        .buckets(interval, selection.from, selection.to)
        .map(Some)
        .map_err(|e| AdminError::bad_field("interval", e.to_string()))
}

fn limit(limit: Option<u32>) -> Result<u32, AdminError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(AdminError::bad_field(
            "limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

fn bucket_start(state: &AdminState, boundaries: &[i64], bucket: usize) -> String {
    boundaries
        .get(bucket)
        .map(|&start| state.zone.format(start))
        .unwrap_or_default()
}

/// What every usage answer starts with: the range as asked, the zone, the entity.
fn header(
    state: &AdminState,
    selection: &UsageSelection,
    entity: Option<&Entity>,
) -> Map<String, Value> {
    let mut header = Map::new();
    header.insert("from".into(), json!(state.zone.format(selection.from)));
    header.insert("to".into(), json!(state.zone.format(selection.to)));
    header.insert("time_zone".into(), json!(state.zone.name()));
    header.insert("entity".into(), json!(entity.map(|e| &e.slug)));
    header
}

/// The sums of `groups`: the whole selection's when none was left out.
pub(crate) fn summed(groups: &[UsageGroup]) -> UsageTotals {
    let mut sum = UsageTotals::default();
    for group in groups {
        sum.add(&group.totals);
    }
    sum
}

pub(crate) fn totals_json(totals: &UsageTotals) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("requests".into(), json!(totals.requests));
    map.insert("input_tokens".into(), json!(totals.input_tokens));
    map.insert("output_tokens".into(), json!(totals.output_tokens));
    map.insert("cost_micros".into(), json!(totals.cost_micros));
    map.insert(
        "cost".into(),
        json!(money::currency_units(totals.cost_micros)),
    );
    map.insert("errors".into(), json!(totals.errors));
    map
}

/// Audits a successful read: who read whose usage, over which range.
pub(crate) async fn audit_read(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    entity: &Option<Entity>,
    selection: &UsageSelection,
) -> Result<(), AdminError> {
    let mut event = change_event(
        caller,
        action.audit_action(),
        entity.as_ref().map(|e| e.id),
        json!({"from": selection.from, "to": selection.to}),
    );
    event.target = entity
        .as_ref()
        .map(|e| e.id.to_string())
        .unwrap_or_else(|| "group".to_owned());
    caller.record_read(state, event).await
}

/// Entity slugs and team names, to show groups by name as well as by id.
pub(crate) struct Names {
    entities: HashMap<String, String>,
    teams: HashMap<String, String>,
}

impl Names {
    async fn load(
        state: &AdminState,
        caller: &Caller,
        group_by: &[UsageDimension],
        groups: &[UsageGroup],
    ) -> Result<Names, AdminError> {
        let position = |d| group_by.iter().position(|g| *g == d);
        let ids = |at: Option<usize>| -> Vec<String> {
            at.map(|i| groups.iter().filter_map(|g| g.keys[i].clone()).collect())
                .unwrap_or_default()
        };
        let entities = match position(UsageDimension::Entity) {
            Some(_) => caller.entities(state).await?,
            None => Vec::new(),
        };
        Names::for_ids(state, entities, &ids(position(UsageDimension::Team))).await
    }

    /// The slugs of `entities` and the names of `teams` (ids in text form).
    pub(crate) async fn for_ids(
        state: &AdminState,
        entities: Vec<Entity>,
        teams: &[String],
    ) -> Result<Names, AdminError> {
        let entities = entities
            .into_iter()
            .map(|e| (e.id.to_string(), e.slug))
            .collect();
        let team_ids: Vec<TeamId> = teams.iter().filter_map(|t| t.parse().ok()).collect();
        let teams = state
            .store
            .team_names(&team_ids)
            .await?
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect();
        Ok(Names { entities, teams })
    }

    pub(crate) fn entity(&self, id: Option<&str>) -> Option<String> {
        id.and_then(|id| self.entities.get(id).cloned())
    }

    pub(crate) fn team(&self, id: Option<&str>) -> Option<String> {
        id.and_then(|id| self.teams.get(id).cloned())
    }

    /// A group's dimension values as JSON fields: ids, and names beside them.
    fn keys(&self, group_by: &[UsageDimension], group: &UsageGroup) -> Map<String, Value> {
        let mut row = Map::new();
        for (dimension, value) in group_by.iter().zip(&group.keys) {
            let value = value.as_deref();
            match dimension {
                UsageDimension::Entity => {
                    row.insert("entity".into(), json!(self.entity(value)));
                    row.insert("entity_id".into(), json!(value));
                }
                UsageDimension::Team => {
                    row.insert("team".into(), json!(self.team(value)));
                    row.insert("team_id".into(), json!(value));
                }
                UsageDimension::User => {
                    row.insert("user_id".into(), json!(value));
                }
                UsageDimension::Key => {
                    row.insert("key_id".into(), json!(value));
                }
                other => {
                    row.insert(other.as_str().into(), json!(value));
                }
            }
        }
        row
    }
}
