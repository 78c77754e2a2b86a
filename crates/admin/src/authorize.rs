//! The authorization decision, in one function so that a policy engine (Cedar, per DESIGN.md) can
//! replace it without touching the routes.

use domain::{AuditEvent, EntityId, Outcome, now_millis};
use identity::Principal;

use crate::caller::Caller;
use crate::{AdminError, AdminState};

/// What an admin request asks to do; a closed set, one per route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    CreateEntity,
    ListEntities,
    CreateUser,
    ListUsers,
    CreateKey,
    ListKeys,
    RevokeKey,
    CreateScimToken,
    ListScimTokens,
    RevokeScimToken,
    ReadAudit,
    SetPoolShare,
    ListPoolShares,
}

impl AdminAction {
    /// The dotted name used as the audit action.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::CreateEntity => "entity.create",
            AdminAction::ListEntities => "entity.list",
            AdminAction::CreateUser => "user.create",
            AdminAction::ListUsers => "user.list",
            AdminAction::CreateKey => "key.create",
            AdminAction::ListKeys => "key.list",
            AdminAction::RevokeKey => "key.revoke",
            AdminAction::CreateScimToken => "scim_token.create",
            AdminAction::ListScimTokens => "scim_token.list",
            AdminAction::RevokeScimToken => "scim_token.revoke",
            AdminAction::ReadAudit => "audit.read",
            AdminAction::SetPoolShare => "pool_share.set",
            AdminAction::ListPoolShares => "pool_share.list",
        }
    }

    /// For error messages: "this key is not allowed to create entities".
    pub fn describe(self) -> &'static str {
        match self {
            AdminAction::CreateEntity => "create entities",
            AdminAction::ListEntities => "list entities",
            AdminAction::CreateUser => "create users",
            AdminAction::ListUsers => "list users",
            AdminAction::CreateKey => "create API keys",
            AdminAction::ListKeys => "list API keys",
            AdminAction::RevokeKey => "revoke API keys",
            AdminAction::CreateScimToken => "create SCIM tokens",
            AdminAction::ListScimTokens => "list SCIM tokens",
            AdminAction::RevokeScimToken => "revoke SCIM tokens",
            AdminAction::ReadAudit => "read the audit log",
            AdminAction::SetPoolShare => "set GPU pool shares",
            AdminAction::ListPoolShares => "list GPU pool shares",
        }
    }
}

/// May `principal` perform `action` on `target_entity` (`None`: the group as a whole)?
///
/// Today's policy: group administrators may do everything, nobody else anything. Entity
/// administrators and auditors get their scoped rights when the policy engine arrives; the
/// routes already pass the target entity for that.
pub fn authorize(
    principal: &Principal,
    action: AdminAction,
    target_entity: Option<EntityId>,
) -> Result<(), AdminError> {
    let _ = target_entity;
    if principal.is_group_admin() {
        Ok(())
    } else {
        Err(AdminError::Forbidden { action })
    }
}

/// [`authorize`], and on refusal an audit event with outcome `denied` (best effort: a failure to
/// record it is logged, and the caller still gets the 403).
pub(crate) async fn require(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    target_entity: Option<EntityId>,
) -> Result<(), AdminError> {
    let decision = authorize(&caller.0, action, target_entity);
    if decision.is_err() {
        let event = AuditEvent {
            at: now_millis(),
            actor: caller.actor(),
            action: action.as_str().to_owned(),
            entity_id: target_entity,
            target: target_entity
                .map(|e| e.to_string())
                .unwrap_or_else(|| "group".to_owned()),
            outcome: Outcome::Denied,
            detail: "{}".to_owned(),
        };
        if let Err(err) = state.store.append_audit(&event).await {
            tracing::error!(error = %err, "could not audit a denied admin request");
        }
    }
    decision
}

/// An audit event for a successful change by `caller`; the store fills in the target.
pub(crate) fn change_event(
    caller: &Caller,
    action: &str,
    entity_id: Option<EntityId>,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: caller.actor(),
        action: action.to_owned(),
        entity_id,
        target: String::new(),
        outcome: Outcome::Success,
        detail: detail.to_string(),
    }
}
