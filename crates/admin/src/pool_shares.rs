//! `/admin/v1/pools/{pool}/shares`: the entities' shares of a GPU pool — a weight and an optional
//! guaranteed minimum. A change is checked and applied to the live scheduler, then stored with its
//! audit event (undone in memory if the store fails), so it holds from the next request and after
//! a restart. Shares are a group decision: group administrators only.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use domain::Entity;
use scheduler::{Pool, Share};
use serde::Deserialize;
use serde_json::{Value, json};
use store::StoredShare;

use crate::authorize::{change_event, require};
use crate::body::json;
use crate::caller::Caller;
use crate::{AdminAction, AdminError, AdminState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SetShare {
    weight: u32,
    #[serde(default)]
    min_share: f64,
}

/// `PUT /admin/v1/pools/{pool}/shares/{entity}` `{"weight", "min_share"?}` (entity by slug or id)
/// → 200 with the share now in force.
#[utoipa::path(
    put, path = "/admin/v1/pools/{pool}/shares/{entity}", tag = "admin",
    params(("pool" = String, Path, description = "A GPU pool's name"), ("entity" = String, Path, description = "An entity's slug")),
    request_body = SetShare,
    responses(
        (status = 200, description = "Sets an entity's weight in a GPU pool.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn set(
    State(state): State<AdminState>,
    caller: Caller,
    Path((pool_name, entity)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::SetPoolShare, None).await?;
    let pool = live_pool(&state, &pool_name)?;
    let entity = find_entity(&state, &entity).await?;
    let request: SetShare = json(body)?;
    if request.weight == 0 {
        return Err(AdminError::bad_field("weight", "weight must be at least 1"));
    }
    if !(0.0..=1.0).contains(&request.min_share) {
        return Err(AdminError::bad_field(
            "min_share",
            format!(
                "min_share must be between 0 and 1, not {}",
                request.min_share
            ),
        ));
    }
    let share = Share {
        weight: request.weight,
        min_share: request.min_share,
    };
    let previous = pool
        .entity(entity.id)
        .map(|e| Share {
            weight: e.weight,
            min_share: e.min_share,
        })
        .unwrap_or_default();
    pool.set_share(entity.id, share)
        .map_err(|e| AdminError::bad_field("min_share", e.to_string()))?;
    let mut audit = change_event(
        &caller,
        AdminAction::SetPoolShare.audit_action(),
        Some(entity.id),
        json!({"pool": pool_name, "entity": entity.slug, "weight": share.weight, "min_share": share.min_share}),
    );
    audit.target = format!("{pool_name}/{}", entity.slug);
    let stored = StoredShare {
        pool: pool_name.clone(),
        entity_id: entity.id,
        weight: share.weight,
        min_share_ppm: (share.min_share * 1e6).round() as u32,
    };
    if let Err(error) = state.store.set_pool_share(&stored, &audit).await {
        // Not durable, so not in force either.
        let _ = pool.set_share(entity.id, previous);
        return Err(error.into());
    }
    Ok(Json(json!({
        "pool": pool_name,
        "entity": entity.slug,
        "weight": share.weight,
        "min_share": share.min_share,
    })))
}

/// `GET /admin/v1/pools/{pool}/shares` → `{"capacity", "in_flight", "queued", "data": [share…]}`:
/// every entity the pool has seen or been given a share for, with what it was served.
#[utoipa::path(
    get, path = "/admin/v1/pools/{pool}/shares", tag = "admin",
    params(("pool" = String, Path, description = "A GPU pool's name")),
    responses(
        (status = 200, description = "A GPU pool's entity shares and live figures.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    Path(pool_name): Path<String>,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::ListPoolShares, None).await?;
    let snapshot = live_pool(&state, &pool_name)?.snapshot();
    let data: Vec<Value> = snapshot
        .entities
        .iter()
        .map(|e| {
            json!({
                "entity_id": e.entity.to_string(),
                "weight": e.weight,
                "min_share": e.min_share,
                "queued": e.queued_total(),
                "in_flight": e.in_flight,
                "dispatched": e.dispatched,
                "served_input_tokens": e.served_input_tokens,
                "served_output_tokens": e.served_output_tokens,
            })
        })
        .collect();
    Ok(Json(json!({
        "pool": pool_name,
        "capacity": snapshot.capacity,
        "in_flight": snapshot.in_flight,
        "queued": snapshot.queued,
        "data": data,
    })))
}

/// `GET /admin/v1/pools` → `{"data": [{"pool", "scheduled", "capacity", "in_flight", "queued",
/// "endpoints": [{"name", "state", "outstanding", "capacity", "weight"}…]}…]}`: every GPU pool —
/// those the scheduler shares (`scheduled`, with its live figures; each pool's entities are its
/// `shares`) and those only endpoints name (figures `null`) — with its endpoints as the gateway
/// sees them now: circuit (`closed`, `open`, `half_open`), requests in flight, capacity, weight.
#[utoipa::path(
    get, path = "/admin/v1/pools", tag = "admin",
    responses(
        (status = 200, description = "The GPU pools, their live figures and their endpoints' health.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn pools(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::ListPoolShares, None).await?;
    let endpoints = state.endpoints.load().status();
    let scheduled: Vec<Pool> = state
        .scheduler
        .iter()
        .flat_map(|scheduler| scheduler.pools())
        .collect();
    let mut names: Vec<&str> = scheduled.iter().map(|pool| pool.name()).collect();
    for endpoint in &endpoints {
        if !names.contains(&endpoint.pool.as_str()) {
            names.push(&endpoint.pool);
        }
    }
    names.sort_unstable();
    let data: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let pool = scheduled.iter().find(|pool| pool.name() == name);
            let snapshot = pool.map(|pool| pool.snapshot());
            let members: Vec<Value> = endpoints
                .iter()
                .filter(|endpoint| endpoint.pool == name)
                .map(|endpoint| {
                    json!({
                        "name": endpoint.name,
                        "state": endpoint.state.as_str(),
                        "outstanding": endpoint.outstanding,
                        "capacity": endpoint.capacity,
                        "weight": endpoint.weight,
                    })
                })
                .collect();
            json!({
                "pool": name,
                "scheduled": snapshot.is_some(),
                "capacity": snapshot.as_ref().map(|s| s.capacity),
                "in_flight": snapshot.as_ref().map(|s| s.in_flight),
                "queued": snapshot.as_ref().map(|s| s.queued),
                "endpoints": members,
            })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

fn live_pool(state: &AdminState, name: &str) -> Result<Pool, AdminError> {
    state
        .scheduler
        .as_ref()
        .and_then(|scheduler| scheduler.pool(name))
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "no GPU pool `{name}` is scheduled (unknown pool, or `[scheduling] enabled = false`)"
            ))
        })
}

async fn find_entity(state: &AdminState, entity: &str) -> Result<Entity, AdminError> {
    let found = match entity.parse::<domain::EntityId>() {
        Ok(id) => state.store.entity(id).await?,
        Err(_) => state.store.entity_by_slug(entity).await?,
    };
    found.ok_or_else(|| AdminError::NotFound(format!("no entity `{entity}`")))
}
