//! `/admin/v1/role-grants`: who holds which role, granting roles to users and taking them back.
//!
//! A grant names a user, a role and the entity it is held over (none: the whole group). Nobody
//! grants more than they hold: the policies let a group administrator grant anything, an entity
//! administrator roles over their own entity only, and only the roles they hold there themselves
//! (and plain `user`) — `no_escalation` and `no_wider_grant` in `policies/default.cedar`, which
//! see the grant in the request's context. Taking a role back is authorized the same way, so an
//! entity administrator cannot remove their entity's auditor either.
//!
//! The user must be visible to the caller (another entity's user answers 404, as a missing one).
//! A change is written with its audit event (`role.grant`, `role.revoke`, target the user) in one
//! transaction; the user's roles are then read back and applied to the directory (their keys,
//! web sessions and access tokens) before the answer, so the change holds from the next request.
//! Other replicas hear of it through the `directory` change notice `role_grants`' trigger sends.
//! The group's last group administrator cannot be taken back (409).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use domain::{AuditAction, EntityId, KeyOwner, Role, RoleGrant, User};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{HeldRole, RoleSelection};
use tokio::sync::Mutex;

use crate::authorize::{change_event, require_carrying};
use crate::body::{json, query};
use crate::caller::Caller;
use crate::content::permitted_user;
use crate::listing::{page_json, window};
use crate::usage::report_entity;
use crate::users::{entity_for, entity_slugs};
use crate::{AdminAction, AdminError, AdminState};

/// Serializes this process's role changes from the store write to the directory update, so that
/// two changes to one user's roles reach memory in the order they reached the store.
static APPLYING: Mutex<()> = Mutex::const_new(());

/// A role grant as `POST /admin/v1/role-grants` takes it and `DELETE` names it.
#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantBody {
    /// The user's id (`usr_…`) or user name.
    user: String,
    /// `group_admin`, `entity_admin`, `auditor`, `factory_engineer`, `risk_officer`, `compliance_officer` or `user`.
    role: String,
    /// The slug of the entity the role is held over; absent: the whole group.
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    entity: Option<String>,
}

/// `GET /admin/v1/role-grants` filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListFilter {
    /// Grants over this entity or held by its users (slug).
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    entity: Option<String>,
    /// Grants held by this user (id or user name).
    user: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
}

/// `GET /admin/v1/role-grants[?entity][&user][&offset][&limit]` → the grants, by holder name;
/// callers with rights over one entity see that entity's only.
#[utoipa::path(
    get, path = "/admin/v1/role-grants", tag = "admin",
    params(ListFilter),
    responses(
        (status = 200, description = "Role grants with their holders (of one entity with `entity`, of one user with `user`).", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    filter: Result<Query<ListFilter>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let filter = query(filter)?;
    let window = window(filter.offset, filter.limit)?;
    let action = AdminAction::ListRoleGrants;
    let entity = report_entity(&state, &caller, action, filter.entity.as_deref()).await?;
    let holder = match &filter.user {
        Some(user) => Some(KeyOwner::User(
            permitted_user(&state, &caller, action, user).await?.id,
        )),
        None => None,
    };
    let selection = RoleSelection {
        entity: entity.map(|e| e.id),
        holder,
    };
    let grants = state.store.list_role_grants(selection, window).await?;
    let slugs = entity_slugs(&state).await?;
    let slug = |id: Option<EntityId>| id.and_then(|id| slugs.get(&id).cloned());
    let data = grants
        .iter()
        .map(|held| held_json(held, slug(held.grant.entity_id), slug(held.holder_entity)))
        .collect();
    Ok(Json(page_json(data, window)))
}

/// `POST /admin/v1/role-grants` → 201 with the grant (granting a role held already changes
/// nothing, and answers the same).
#[utoipa::path(
    post, path = "/admin/v1/role-grants", tag = "admin",
    request_body = GrantBody,
    responses(
        (status = 201, description = "Grants a role to a user, over one entity or the whole group. Nobody grants a role they do not hold themselves (but `user`), nor over another entity.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn grant(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let request: GrantBody = json(body)?;
    let action = AdminAction::GrantRole;
    let (user, grant, entity_slug) = resolve(&state, &caller, action, &request).await?;
    let owner = KeyOwner::User(user.id);
    let _applying = APPLYING.lock().await;
    let audit = change_event(
        &caller,
        AuditAction::RoleGrant,
        Some(grant.entity_id.unwrap_or(user.entity_id)),
        detail(&user, &request),
    );
    state.store.grant_role(owner, grant, &audit).await?;
    apply(&state, owner).await?;
    Ok((
        StatusCode::CREATED,
        Json(grant_json(&user, grant, entity_slug)),
    ))
}

/// `DELETE /admin/v1/role-grants?user&role[&entity]` → the grant taken back; 404 when the user
/// does not hold it, 409 for the group's last group administrator.
#[utoipa::path(
    delete, path = "/admin/v1/role-grants", tag = "admin",
    params(GrantBody),
    responses(
        (status = 200, description = "Takes a role back from a user; authorized as granting it.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn revoke(
    State(state): State<AdminState>,
    caller: Caller,
    request: Result<Query<GrantBody>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let request = query(request)?;
    let action = AdminAction::RevokeRole;
    let (user, grant, entity_slug) = resolve(&state, &caller, action, &request).await?;
    let owner = KeyOwner::User(user.id);
    let _applying = APPLYING.lock().await;
    let audit = change_event(
        &caller,
        AuditAction::RoleRevoke,
        Some(grant.entity_id.unwrap_or(user.entity_id)),
        detail(&user, &request),
    );
    if !state.store.revoke_role(owner, grant, &audit).await? {
        return Err(AdminError::NotFound(format!(
            "`{}` does not hold that role",
            user.user_name
        )));
    }
    apply(&state, owner).await?;
    Ok(Json(grant_json(&user, grant, entity_slug)))
}

/// The user, the grant and the entity's slug a grant or revocation names, once the caller may
/// see the user and the entity, and may make that change.
async fn resolve(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    request: &GrantBody,
) -> Result<(User, RoleGrant, Option<String>), AdminError> {
    let role = Role::parse(&request.role).ok_or_else(|| {
        AdminError::bad_field(
            "role",
            format!(
                "unknown role `{}`: one of group_admin, entity_admin, auditor, factory_engineer, risk_officer, compliance_officer, user",
                request.role
            ),
        )
    })?;
    // Visibility first, by the read action: another entity's user or entity is "not found".
    let seen = AdminAction::ListRoleGrants;
    let user = permitted_user(state, caller, seen, &request.user).await?;
    let entity = match &request.entity {
        Some(slug) => Some(entity_for(state, caller, seen, slug).await?),
        None => None,
    };
    if role == Role::GroupAdmin && entity.is_some() {
        return Err(AdminError::bad_field(
            "entity",
            "`group_admin` is held over the whole group: name no entity",
        ));
    }
    let grant = RoleGrant {
        role,
        entity_id: entity.as_ref().map(|e| e.id),
    };
    require_carrying(state, caller, action, grant.entity_id, &[grant])
        .await
        .map_err(|_| {
            AdminError::Refused(format!(
                "you may not {} beyond yours: `{}`{} is not a role you hold there",
                action.describe(),
                request.role,
                match &request.entity {
                    Some(slug) => format!(" over `{slug}`"),
                    None => " over the whole group".to_owned(),
                }
            ))
        })?;
    Ok((user, grant, entity.map(|e| e.slug)))
}

/// Reads the owner's roles back from the store and puts them in force in the directory.
async fn apply(state: &AdminState, owner: KeyOwner) -> Result<(), AdminError> {
    let roles = state.store.roles(owner).await?;
    state.directory.set_roles(owner, &roles);
    Ok(())
}

fn detail(user: &User, request: &GrantBody) -> Value {
    json!({"user_name": user.user_name, "role": request.role, "entity": request.entity})
}

fn grant_json(user: &User, grant: RoleGrant, entity_slug: Option<String>) -> Value {
    json!({
        "user_id": user.id,
        "user_name": user.user_name,
        "role": grant.role.as_str(),
        "entity": entity_slug,
    })
}

fn held_json(held: &HeldRole, entity: Option<String>, holder_entity: Option<String>) -> Value {
    let (kind, id) = match held.holder {
        KeyOwner::User(id) => ("user", id.to_string()),
        KeyOwner::ServiceAccount(id) => ("service_account", id.to_string()),
    };
    json!({
        "holder": {"kind": kind, "id": id, "name": held.holder_name, "entity": holder_entity},
        "role": held.grant.role.as_str(),
        "entity": entity,
        "granted_at": held.granted_at,
    })
}
