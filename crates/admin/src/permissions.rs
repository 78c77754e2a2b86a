//! `GET /admin/v1/permissions`: what the caller may do, as the policy set in force decides it —
//! for each action, whether on the group as a whole and in which entities of theirs. The pages
//! that show a person only what they may reach (the console's sections and forms) ask here
//! rather than keeping a second table of rights, which an operator's policy set would contradict.
//!
//! It reads nothing but the caller's own roles, like `/auth/me`, so nothing is audited; every
//! action it lists is still authorized and audited when it is asked for.

use axum::Json;
use domain::{EntityId, Role, RoleGrant};
use identity::Principal;
use serde_json::{Value, json};

use crate::AdminAction;
use crate::authorize::authorize_carrying;
use crate::caller::Caller;

/// `GET /admin/v1/permissions` → `{"data": [{"action", "group", "entities": [id…]}…]}`: the
/// actions the caller may do somewhere (libraries' own actions, decided per library, left out).
#[utoipa::path(
    get, path = "/admin/v1/permissions", tag = "admin",
    responses(
        (status = 200, description = "The actions the caller may do, on the group or in which entities.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(caller: Caller) -> Json<Value> {
    let principal = &caller.0;
    let mut entities: Vec<EntityId> = principal
        .roles
        .iter()
        .filter_map(|grant| grant.entity_id)
        .collect();
    entities.sort_unstable();
    entities.dedup();
    let data: Vec<Value> = AdminAction::ALL
        .into_iter()
        .filter(|action| !action.on_library())
        .filter_map(|action| {
            let group = may(principal, action, None);
            let within: Vec<String> = entities
                .iter()
                .filter(|entity| may(principal, action, Some(**entity)))
                .map(ToString::to_string)
                .collect();
            (group || !within.is_empty()).then(|| {
                json!({
                    "action": action.audit_action().as_str(),
                    "group": group,
                    "entities": within,
                })
            })
        })
        .collect();
    Json(json!({ "data": data }))
}

/// Whether `principal` may do `action` on `target` at all. The policies decide a role change by
/// the role it hands out, so one is asked about the least of them, plain `user` there: who may not
/// hand that out changes no role.
fn may(principal: &Principal, action: AdminAction, target: Option<EntityId>) -> bool {
    let least = RoleGrant {
        role: Role::User,
        entity_id: target,
    };
    let carried = if action.changes_roles() {
        std::slice::from_ref(&least)
    } else {
        &[]
    };
    authorize_carrying(principal, action, target, carried).is_ok()
}
