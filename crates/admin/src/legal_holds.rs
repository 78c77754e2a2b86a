//! `/admin/v1/legal-holds`: keeping a user's or a whole entity's stored content for a legal case,
//! whatever erasure or retention would do.
//!
//! A hold names a user (of one entity) or an entity, a reason and a case reference. While it is
//! active, erasing a user it covers is refused (409 `legal_hold`, audited `denied`) and the purge
//! keeps their content past its retention (and counts it). Group administrators place and lift
//! holds; auditors read them; an entity's administrators, who erase, do neither. Placing and
//! lifting are audited `legal_hold.place` and `legal_hold.lift`, with the hold as target.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::{AuditAction, Entity, LegalHoldId, User, now_millis};
use serde::Deserialize;
use serde_json::{Value, json};
use store::LegalHold;

use crate::authorize::{change_event, require_visible};
use crate::body::{check_text, json};
use crate::caller::Caller;
use crate::content::permitted_user;
use crate::listing::{ListLegalHolds, Listed, page_json};
use crate::users::entity_for;
use crate::{AdminAction, AdminError, AdminState};

/// The body of `POST /admin/v1/legal-holds`: `user` or `entity`, not both.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlaceHold {
    /// The held user's id or user name.
    user: Option<String>,
    /// The held entity's slug: every user and service account of it.
    entity: Option<String>,
    /// Why content must be kept, for whoever reads the hold later (at most 500 characters).
    reason: String,
    /// The case, matter or request the hold serves (at most 128 characters).
    case_reference: String,
}

/// `GET /admin/v1/legal-holds[?entity=<slug>][&offset][&limit]` → the active holds, oldest first.
#[utoipa::path(
    get, path = "/admin/v1/legal-holds", tag = "admin",
    params(crate::listing::PagedFilter),
    responses(
        (status = 200, description = "The active legal holds (of one entity with `entity`).", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    Listed { entity, window, .. }: Listed<ListLegalHolds>,
) -> Result<Json<Value>, AdminError> {
    let holds = state
        .store
        .active_legal_holds(entity.as_ref().map(|e| e.id), window)
        .await?;
    let slugs = crate::users::entity_slugs(&state).await?;
    let data = holds
        .iter()
        .map(|hold| hold_json(hold, slugs.get(&hold.entity_id).map(String::as_str)))
        .collect();
    Ok(Json(page_json(data, window)))
}

/// `POST /admin/v1/legal-holds` → 201 with the hold.
#[utoipa::path(
    post, path = "/admin/v1/legal-holds", tag = "admin",
    request_body = PlaceHold,
    responses(
        (status = 201, description = "Places a legal hold on a user or an entity: their content is neither erased nor purged until it is lifted.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn place(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let request: PlaceHold = json(body)?;
    check_text("reason", &request.reason, 500)?;
    check_text("case_reference", &request.case_reference, 128)?;
    let action = AdminAction::PlaceLegalHold;
    let (entity, user): (Entity, Option<User>) = match (&request.user, &request.entity) {
        (Some(user), None) => {
            let user = permitted_user(&state, &caller, action, user).await?;
            let entity = state.store.entity(user.entity_id).await?.ok_or_else(|| {
                AdminError::NotFound(format!("the entity of `{}` is gone", user.user_name))
            })?;
            (entity, Some(user))
        }
        (None, Some(slug)) => (entity_for(&state, &caller, action, slug).await?, None),
        _ => {
            return Err(AdminError::bad_request(
                "name the held `user` or the held `entity`, one of them",
            ));
        }
    };
    let hold = LegalHold {
        id: LegalHoldId::generate(),
        entity_id: entity.id,
        user_id: user.as_ref().map(|u| u.id),
        reason: request.reason,
        case_reference: request.case_reference,
        placed_by: caller.actor(),
        placed_at: now_millis(),
        lifted_by: None,
        lifted_at: None,
    };
    let audit = change_event(
        &caller,
        AuditAction::LegalHoldPlace,
        Some(entity.id),
        json!({
            "user_name": user.as_ref().map(|u| &u.user_name),
            "entity": entity.slug,
            "case_reference": hold.case_reference,
        }),
    );
    state.store.place_legal_hold(&hold, &audit).await?;
    Ok((
        StatusCode::CREATED,
        Json(hold_json(&hold, Some(&entity.slug))),
    ))
}

/// `DELETE /admin/v1/legal-holds/{id}` → the hold, lifted. A hold lifted already, or unknown,
/// answers 404.
#[utoipa::path(
    delete, path = "/admin/v1/legal-holds/{id}", tag = "admin",
    params(("id" = String, Path, description = "The hold's id (`hold_…`)")),
    responses(
        (status = 200, description = "Lifts a legal hold.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn lift(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let action = AdminAction::LiftLegalHold;
    let missing = || AdminError::NotFound(format!("no active legal hold with id `{id}`"));
    let hold = match id.parse::<LegalHoldId>() {
        Ok(id) => state.store.legal_hold(id).await?,
        Err(_) => None,
    };
    let Some(hold) = hold.filter(|hold| hold.lifted_at.is_none()) else {
        require_visible(&state, &caller, action, None, missing).await?;
        return Err(missing());
    };
    require_visible(&state, &caller, action, Some(hold.entity_id), missing).await?;
    let audit = change_event(
        &caller,
        AuditAction::LegalHoldLift,
        Some(hold.entity_id),
        json!({"case_reference": hold.case_reference}),
    );
    let lifted = state
        .store
        .lift_legal_hold(hold.id, &audit)
        .await?
        .ok_or_else(missing)?;
    let slug = state.store.entity(lifted.entity_id).await?.map(|e| e.slug);
    Ok(Json(hold_json(&lifted, slug.as_deref())))
}

/// Refuses to erase `user` while a legal hold covers them (409 `legal_hold`).
pub(crate) async fn refuse_if_held(state: &AdminState, user: &User) -> Result<(), AdminError> {
    match state.store.hold_covering(user.entity_id, user.id).await? {
        None => Ok(()),
        Some(hold) => Err(AdminError::LegalHold(format!(
            "`{}`'s content is under legal hold {} (case `{}`): it cannot be erased until the hold is lifted",
            user.user_name, hold.id, hold.case_reference
        ))),
    }
}

fn hold_json(hold: &LegalHold, entity_slug: Option<&str>) -> Value {
    json!({
        "id": hold.id,
        "entity": entity_slug,
        "user_id": hold.user_id,
        "reason": hold.reason,
        "case_reference": hold.case_reference,
        "placed_by": hold.placed_by,
        "placed_at": hold.placed_at,
        "lifted_by": hold.lifted_by,
        "lifted_at": hold.lifted_at,
    })
}
