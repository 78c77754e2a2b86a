//! The scope a rate limit or a budget applies to, as the admin routes name it (`{kind}/{id}`):
//! parsed, found in the store with its entity, and authorized.
//!
//! The entity a scope belongs to decides who may touch it: a key, user or team is its entity's
//! business, so that entity's administrators manage it. An entity's own limits and budgets are the
//! group's allocation to the entity: its administrators read them, only group administrators change
//! them (deleting or resetting would raise the allocation as surely as a higher limit). An entity
//! administrator asking about a scope outside their entity gets the same 404 as for a scope that
//! does not exist, so the answer reveals nothing about other entities; the attempt is audited as
//! `denied` all the same.

use std::collections::HashMap;

use admission::Scope;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use domain::{AuditEvent, EntityId, KeyId, TeamId, UserId};
use serde_json::{Value, json};

use crate::authorize::{audit_denied, authorize, change_event, hide, require};
use crate::body::check_slug;
use crate::caller::Caller;
use crate::{AdminAction, AdminError, AdminState};

/// Serializes rule changes, so that the live admission table ends in the same state as the store
/// when two administrators change the same scope at once (store first, then memory, one at a time).
/// Changes are rare and quick; reads and the request path never take it.
pub(crate) static RULE_CHANGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A scope that exists, with the entity it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub scope: Scope,
    /// `None` for a key of a group-level service account.
    pub entity_id: Option<EntityId>,
    pub entity_slug: Option<String>,
}

impl Target {
    /// `{"kind", "id", "entity"}`: how responses name the scope (the entity by slug).
    pub fn json(&self) -> Value {
        json!({
            "kind": self.scope.kind(),
            "id": self.scope.id(),
            "entity": self.entity_slug,
        })
    }

    /// The audit event of a successful change to this scope's rules; `detail` (an object) gains
    /// the scope.
    pub fn change_event(
        &self,
        caller: &Caller,
        action: AdminAction,
        mut detail: Value,
    ) -> AuditEvent {
        detail["scope"] = self.json();
        AuditEvent {
            target: self.scope.id(),
            ..change_event(caller, action.audit_action(), self.entity_id, detail)
        }
    }

    /// The entity whose administrators may do `action` here; `None`: group administrators only.
    fn authority(&self, action: AdminAction) -> Option<EntityId> {
        match self.scope {
            Scope::Entity(_) if !is_read(action) => None,
            _ => self.entity_id,
        }
    }
}

/// A change of a scope's stored rules under way: the scope, authorized; the change's audit
/// event; and the lock that keeps it in order with every other rule change, from the store to the
/// admission table.
pub(crate) struct RuleChange {
    pub target: Target,
    pub audit: AuditEvent,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

impl RuleChange {
    /// Begins a change of `action` on the scope of `path`, audited with `detail` (an object).
    pub async fn begin(
        state: &AdminState,
        caller: &Caller,
        path: ScopePath,
        action: AdminAction,
        detail: Value,
    ) -> Result<RuleChange, AdminError> {
        let target = scope_target(state, caller, path, action).await?;
        let audit = target.change_event(caller, action, detail);
        let _serial = RULE_CHANGES.lock().await;
        Ok(RuleChange {
            target,
            audit,
            _serial,
        })
    }

    /// 404 `<scope> has no <what>` when the store found nothing to change.
    pub fn found(&self, changed: bool, what: &str) -> Result<(), AdminError> {
        if changed {
            return Ok(());
        }
        let scope = &self.target.scope;
        Err(AdminError::NotFound(format!("{scope} has no {what}")))
    }
}

/// The `{kind}/{id}` of a route's path, as axum extracts it.
pub(crate) type ScopePath = Result<Path<(String, String)>, PathRejection>;

/// The `{kind}/{id}` of a route's path, as the API description names them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(
    dead_code,
    reason = "describes the path `ScopePath` reads, for the API description"
)]
pub(crate) struct ScopeParams {
    #[param(inline)]
    kind: ScopeKind,
    /// The key's, user's or team's id (`key_…`, `usr_…`, `team_…`); an entity's slug or id.
    id: String,
}

/// The kinds of scope, as [`Scope::kind`] writes them.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(
    dead_code,
    reason = "describes the path `ScopePath` reads, for the API description"
)]
enum ScopeKind {
    Key,
    User,
    Team,
    Entity,
}

/// The scope of a route's path, once the caller may do `action` on it.
pub(crate) async fn scope_target(
    state: &AdminState,
    caller: &Caller,
    path: ScopePath,
    action: AdminAction,
) -> Result<Target, AdminError> {
    let Path((kind, id)) =
        path.map_err(|e| AdminError::bad_request(format!("invalid path: {}", e.body_text())))?;
    authorized_target(state, caller, &kind, &id, action).await
}

/// The scope named by `kind` and `id`, once the caller may do `action` on it.
async fn authorized_target(
    state: &AdminState,
    caller: &Caller,
    kind: &str,
    id: &str,
    action: AdminAction,
) -> Result<Target, AdminError> {
    let named = Named::parse(kind, id)?;
    let found = find(state, &named).await?;
    let authority = found.as_ref().and_then(|t| t.authority(action));
    match (found, authorize(&caller.0, action, authority)) {
        (Some(target), Ok(())) => Ok(target),
        (None, Ok(())) => Err(named.not_found()),
        (found, Err(refusal)) => {
            let (entity, text) = match &found {
                Some(target) => (target.entity_id, target.scope.id()),
                None => (None, id.to_owned()),
            };
            audit_denied(state, caller, action, entity, text).await;
            Err(refusal_answer(
                caller,
                action,
                found.as_ref(),
                &named,
                refusal,
            ))
        }
    }
}

/// What a refused caller is told: 403 when they may see the scope or may not read rules in any
/// entity; the missing scope's 404 when they read another entity's.
fn refusal_answer(
    caller: &Caller,
    action: AdminAction,
    found: Option<&Target>,
    named: &Named,
    refusal: AdminError,
) -> AdminError {
    let visible = found.is_some_and(|target| {
        authorize(
            &caller.0,
            reading(action),
            target.authority(reading(action)),
        )
        .is_ok()
    });
    if visible {
        if found.is_some_and(|t| matches!(t.scope, Scope::Entity(_))) {
            return AdminError::Refused(format!(
                "an entity's own rate limits and budgets are set by the group: entity administrators may read them but not {}",
                action.describe()
            ));
        }
        return refusal;
    }
    hide(caller, reading(action), refusal, || named.not_found())
}

/// The entity a listing is restricted to: the `entity` filter (an id or a slug) once the caller may
/// read there; without one, every entity for group administrators and their own entity for entity
/// administrators.
pub(crate) async fn listing_entity(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    filter: Option<&str>,
) -> Result<Option<EntityId>, AdminError> {
    if let Some(entity) = filter {
        let target = authorized_target(state, caller, "entity", entity, action).await?;
        return Ok(target.entity_id);
    }
    if caller.0.is_group_admin() {
        return Ok(None);
    }
    match caller.0.entity_id {
        Some(own) if authorize(&caller.0, action, Some(own)).is_ok() => Ok(Some(own)),
        _ => require(state, caller, action, None).await.map(|()| None),
    }
}

/// The targets of stored rules, `(kind, id)` → target (`None` when the scope no longer exists or
/// cannot be read), looked up once each; for listings.
pub(crate) struct Targets<'a> {
    state: &'a AdminState,
    found: HashMap<(String, String), Option<Target>>,
}

impl<'a> Targets<'a> {
    pub fn new(state: &'a AdminState) -> Self {
        Targets {
            state,
            found: HashMap::new(),
        }
    }

    /// The target of a stored scope, when it exists and (with `entity`) belongs to that entity.
    pub async fn get(
        &mut self,
        kind: &str,
        id: &str,
        entity: Option<EntityId>,
    ) -> Result<Option<Target>, AdminError> {
        let key = (kind.to_owned(), id.to_owned());
        let target = match self.found.get(&key) {
            Some(target) => target.clone(),
            None => {
                let target = match Named::parse(kind, id) {
                    Ok(named) => find(self.state, &named).await?,
                    Err(_) => None,
                };
                self.found.insert(key, target.clone());
                target
            }
        };
        Ok(target.filter(|t| entity.is_none() || t.entity_id == entity))
    }
}

/// Whether `action` only reads.
fn is_read(action: AdminAction) -> bool {
    matches!(
        action,
        AdminAction::ReadRateLimits | AdminAction::ReadBudgets
    )
}

/// The read action of the same family as `action`: what decides whether a scope is visible.
fn reading(action: AdminAction) -> AdminAction {
    match action {
        AdminAction::SetRateLimit | AdminAction::DeleteRateLimit => AdminAction::ReadRateLimits,
        AdminAction::SetBudget | AdminAction::DeleteBudget | AdminAction::ResetBudget => {
            AdminAction::ReadBudgets
        }
        other => other,
    }
}

/// A scope as a path names it, checked for form but not yet looked up.
enum Named {
    Key(KeyId),
    User(UserId),
    Team(TeamId),
    Entity(EntityId),
    EntitySlug(String),
}

impl Named {
    fn parse(kind: &str, id: &str) -> Result<Named, AdminError> {
        let bad_id = |e: domain::ids::InvalidId| AdminError::bad_field("id", e.to_string());
        match kind {
            "key" => id.parse().map(Named::Key).map_err(bad_id),
            "user" => id.parse().map(Named::User).map_err(bad_id),
            "team" => id.parse().map(Named::Team).map_err(bad_id),
            "entity" if id.starts_with(EntityId::PREFIX) => {
                id.parse().map(Named::Entity).map_err(bad_id)
            }
            "entity" => {
                check_slug("entity", id)?;
                Ok(Named::EntitySlug(id.to_owned()))
            }
            other => Err(AdminError::bad_field(
                "kind",
                format!("unknown scope kind `{other}`: expected key, user, team or entity"),
            )),
        }
    }

    fn not_found(&self) -> AdminError {
        AdminError::NotFound(match self {
            Named::Key(id) => format!("no API key with id `{id}`"),
            Named::User(id) => format!("no user with id `{id}`"),
            Named::Team(id) => format!("no team with id `{id}`"),
            Named::Entity(id) => format!("no entity with id `{id}`"),
            Named::EntitySlug(slug) => format!("no entity with slug `{slug}`"),
        })
    }
}

/// Looks the scope up: `None` when it does not exist (a deleted user, a deleted team).
async fn find(state: &AdminState, named: &Named) -> Result<Option<Target>, AdminError> {
    let store = &state.store;
    let (scope, entity_id) = match named {
        Named::Key(id) => match store.key(*id).await? {
            Some(key) => (Scope::Key(key.id), key.entity_id),
            None => return Ok(None),
        },
        Named::User(id) => match store.user(*id).await? {
            Some(user) => (Scope::User(user.id), Some(user.entity_id)),
            None => return Ok(None),
        },
        Named::Team(id) => match store.team(*id).await? {
            Some(team) => (Scope::Team(team.id), Some(team.entity_id)),
            None => return Ok(None),
        },
        Named::Entity(id) => {
            return Ok(store.entity(*id).await?.map(|e| Target {
                scope: Scope::Entity(e.id),
                entity_id: Some(e.id),
                entity_slug: Some(e.slug),
            }));
        }
        Named::EntitySlug(slug) => {
            return Ok(store.entity_by_slug(slug).await?.map(|e| Target {
                scope: Scope::Entity(e.id),
                entity_id: Some(e.id),
                entity_slug: Some(e.slug),
            }));
        }
    };
    let entity_slug = match entity_id {
        Some(id) => store.entity(id).await?.map(|e| e.slug),
        None => None,
    };
    Ok(Some(Target {
        scope,
        entity_id,
        entity_slug,
    }))
}
