//! `/admin/v1/seats/…`: the group's seat pool, each entity's reserved seats, and the seat report.
//!
//! The figures come from the live `seats::Seats` (memory), which also decides whether a change is
//! allowed (a pool never below the seats assigned or reserved, reservations within the pool) and
//! writes it with its audit event. Entity administrators and auditors read their own entity's
//! report only.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use domain::{AuditAction, Entity, now_millis};
use seats::{SeatReport, SeatsError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authorize::{authorize, change_event, require};
use crate::body::{json, query};
use crate::caller::Caller;
use crate::listing::EntityFilter;
use crate::users::entity_for;
use crate::{AdminAction, AdminError, AdminState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SetPool {
    /// The number of seats; `null` for an unlimited pool.
    size: Option<u64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SetReservation {
    reserved: u64,
}

/// `GET /admin/v1/seats/pool` → `{"size", "assigned", "reserved"}`.
#[utoipa::path(
    get, path = "/admin/v1/seats/pool", tag = "admin",
    responses(
        (status = 200, description = "The seat pool: size, seats assigned and reserved.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn pool(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::ReadSeats, None).await?;
    Ok(Json(pool_json(&state.seats.report(now_millis()))))
}

/// `PUT /admin/v1/seats/pool` `{"size": N | null}` → the pool; 409 when `N` is below the seats
/// assigned or reserved.
#[utoipa::path(
    put, path = "/admin/v1/seats/pool", tag = "admin",
    request_body = SetPool,
    responses(
        (status = 200, description = "Sets the size of the seat pool.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn set_pool(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::SetSeatPool, None).await?;
    let request: SetPool = json(body)?;
    let audit = change_event(&caller, AuditAction::SeatPoolSet, None, json!({}));
    state
        .seats
        .set_pool(&state.store, request.size, audit)
        .await
        .map_err(refused)?;
    Ok(Json(pool_json(&state.seats.report(now_millis()))))
}

/// `PUT /admin/v1/seats/entities/{entity}` `{"reserved": N}` → the entity's figures; 409 when the
/// reservations would exceed the pool.
#[utoipa::path(
    put, path = "/admin/v1/seats/entities/{entity}", tag = "admin",
    params(("entity" = String, Path, description = "An entity's slug")),
    request_body = SetReservation,
    responses(
        (status = 200, description = "Reserves seats for an entity.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn set_reservation(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    let entity = entity_for(&state, &caller, AdminAction::SetSeatReservation, &slug).await?;
    let request: SetReservation = json(body)?;
    let audit = change_event(
        &caller,
        AuditAction::SeatReservationSet,
        Some(entity.id),
        json!({}),
    );
    state
        .seats
        .set_reservation(&state.store, entity.id, request.reserved, audit)
        .await
        .map_err(refused)?;
    let report = state.seats.report(now_millis());
    Ok(Json(entity_json(&state, &report, &entity)))
}

/// `POST /admin/v1/seats/reclaim` → `{"reclaimed": N}`: takes back now, in every entity, the
/// seats of users idle longer than the reclaim period (what the hourly job does), each release
/// audited `seat.reclaim` as the job's are, and the request itself under the caller's name.
#[utoipa::path(
    post, path = "/admin/v1/seats/reclaim", tag = "admin",
    responses(
        (status = 200, description = "Reclaims idle users' seats now.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn reclaim(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Value>, AdminError> {
    require(&state, &caller, AdminAction::ReclaimSeats, None).await?;
    let reclaimed = state.seats.reclaim(now_millis()).await;
    let mut audit = change_event(
        &caller,
        AuditAction::SeatReclaim,
        None,
        json!({"reclaimed": reclaimed}),
    );
    audit.target = "group".to_owned();
    state.store.append_audit(&audit).await?;
    Ok(Json(json!({ "reclaimed": reclaimed })))
}

/// `GET /admin/v1/seats/report[?entity=<slug>]` → `{"data": [per entity…]}`, plus the group's
/// totals for callers who may read them. Without a filter, a caller with rights over some
/// entities only sees those.
#[utoipa::path(
    get, path = "/admin/v1/seats/report", tag = "admin",
    params(EntityFilter),
    responses(
        (status = 200, description = "Seats per entity.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn report(
    State(state): State<AdminState>,
    caller: Caller,
    filter: Result<Query<EntityFilter>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let filter = query(filter)?;
    let group_wide = authorize(&caller.0, AdminAction::ReadSeats, None).is_ok();
    let entities: Vec<Entity> = match &filter.entity {
        Some(slug) => vec![entity_for(&state, &caller, AdminAction::ReadSeats, slug).await?],
        None => {
            let visible: Vec<Entity> = caller
                .entities(&state)
                .await?
                .into_iter()
                .filter(|e| {
                    group_wide || authorize(&caller.0, AdminAction::ReadSeats, Some(e.id)).is_ok()
                })
                .collect();
            if visible.is_empty() {
                // Audits the refusal and answers 403.
                require(&state, &caller, AdminAction::ReadSeats, None).await?;
            }
            visible
        }
    };
    let report = state.seats.report(now_millis());
    let data: Vec<Value> = entities
        .iter()
        .map(|entity| entity_json(&state, &report, entity))
        .collect();
    let mut body = json!({ "data": data });
    if group_wide {
        body["group"] = pool_json(&report);
    }
    Ok(Json(body))
}

fn pool_json(report: &SeatReport) -> Value {
    json!({
        "size": report.pool,
        "assigned": report.assigned,
        "reserved": report.reserved,
        "reclaim_after_days": report.reclaim_after_days,
    })
}

fn entity_json(state: &AdminState, report: &SeatReport, entity: &Entity) -> Value {
    let figures = state.seats.figures(report, entity.id);
    json!({
        "entity": entity.slug,
        "entity_id": entity.id,
        "pool": report.pool,
        "reserved": figures.reserved,
        "assigned": figures.assigned,
        "active_7_days": figures.active_7_days,
        "active_30_days": figures.active_30_days,
        "reclaimable": figures.reclaimable,
    })
}

/// A refused change is a conflict with the current assignments (409), with the reason.
fn refused(error: SeatsError) -> AdminError {
    match error {
        SeatsError::Refused(reason) => AdminError::Conflict(reason.to_string()),
        SeatsError::Store(error) => error.into(),
    }
}
