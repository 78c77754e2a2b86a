//! The authorization decision, in one function so that a policy engine (Cedar, per DESIGN.md) can
//! replace it without touching the routes.

use domain::{AuditEvent, EntityId, Outcome, Role, now_millis};
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
    RotateKey,
    CreateScimToken,
    ListScimTokens,
    RevokeScimToken,
    ReadAudit,
    ReadSeats,
    SetSeatPool,
    SetSeatReservation,
    ReadRateLimits,
    SetRateLimit,
    DeleteRateLimit,
    ReadBudgets,
    SetBudget,
    DeleteBudget,
    ResetBudget,
    ReadUsage,
    ReadChargeback,
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
            AdminAction::RotateKey => "key.rotate",
            AdminAction::CreateScimToken => "scim_token.create",
            AdminAction::ListScimTokens => "scim_token.list",
            AdminAction::RevokeScimToken => "scim_token.revoke",
            AdminAction::ReadAudit => "audit.read",
            AdminAction::ReadSeats => "seat.read",
            AdminAction::SetSeatPool => "seat.pool.set",
            AdminAction::SetSeatReservation => "seat.reservation.set",
            AdminAction::ReadRateLimits => "rate_limit.read",
            AdminAction::SetRateLimit => "rate_limit.set",
            AdminAction::DeleteRateLimit => "rate_limit.delete",
            AdminAction::ReadBudgets => "budget.read",
            AdminAction::SetBudget => "budget.set",
            AdminAction::DeleteBudget => "budget.delete",
            AdminAction::ResetBudget => "budget.reset",
            AdminAction::ReadUsage => "usage.read",
            AdminAction::ReadChargeback => "chargeback.read",
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
            AdminAction::RotateKey => "rotate API keys",
            AdminAction::CreateScimToken => "create SCIM tokens",
            AdminAction::ListScimTokens => "list SCIM tokens",
            AdminAction::RevokeScimToken => "revoke SCIM tokens",
            AdminAction::ReadAudit => "read the audit log",
            AdminAction::ReadSeats => "read seat figures",
            AdminAction::SetSeatPool => "set the seat pool",
            AdminAction::SetSeatReservation => "reserve seats for entities",
            AdminAction::ReadRateLimits => "read rate limits",
            AdminAction::SetRateLimit => "set rate limits",
            AdminAction::DeleteRateLimit => "delete rate limits",
            AdminAction::ReadBudgets => "read budgets",
            AdminAction::SetBudget => "set budgets",
            AdminAction::DeleteBudget => "delete budgets",
            AdminAction::ResetBudget => "reset budgets",
            AdminAction::ReadUsage => "read usage",
            AdminAction::ReadChargeback => "read chargeback reports",
            AdminAction::SetPoolShare => "set GPU pool shares",
            AdminAction::ListPoolShares => "list GPU pool shares",
        }
    }

    /// Whether an entity administrator may do this inside their own entity.
    pub fn delegated_to_entity_admins(self) -> bool {
        match self {
            AdminAction::ReadRateLimits
            | AdminAction::SetRateLimit
            | AdminAction::DeleteRateLimit
            | AdminAction::ReadBudgets
            | AdminAction::SetBudget
            | AdminAction::DeleteBudget
            | AdminAction::ResetBudget => true,
            AdminAction::CreateEntity
            | AdminAction::ListEntities
            | AdminAction::CreateUser
            | AdminAction::ListUsers
            | AdminAction::CreateKey
            | AdminAction::ListKeys
            | AdminAction::RevokeKey
            | AdminAction::RotateKey
            | AdminAction::CreateScimToken
            | AdminAction::ListScimTokens
            | AdminAction::RevokeScimToken
            | AdminAction::ReadAudit
            | AdminAction::ReadSeats
            | AdminAction::SetSeatPool
            | AdminAction::SetSeatReservation
            | AdminAction::ReadUsage
            | AdminAction::ReadChargeback
            | AdminAction::SetPoolShare
            | AdminAction::ListPoolShares => false,
        }
    }

    /// Usage, chargeback and the audit trail: what entity administrators and auditors may read of
    /// their entity.
    pub fn reads_usage(self) -> bool {
        matches!(
            self,
            AdminAction::ReadUsage | AdminAction::ReadChargeback | AdminAction::ReadAudit
        )
    }
}

/// May `principal` perform `action` on `target_entity` (`None`: the group as a whole)?
///
/// Today's policy: group administrators may do everything; entity administrators may manage rate
/// limits and budgets inside their entity (the actions of
/// [`AdminAction::delegated_to_entity_admins`]); an entity's administrators and auditors (and
/// group-wide auditors) may read its seat figures, usage and chargeback; nobody else anything.
/// Other scoped rights arrive with the policy engine; the routes already pass the target entity.
pub fn authorize(
    principal: &Principal,
    action: AdminAction,
    target_entity: Option<EntityId>,
) -> Result<(), AdminError> {
    let reads_own_seats = action == AdminAction::ReadSeats
        && (principal.has_role(Role::Auditor, target_entity)
            || (target_entity.is_some() && principal.has_role(Role::EntityAdmin, target_entity)));
    let reads_own_usage = action.reads_usage()
        && [Role::EntityAdmin, Role::Auditor]
            .into_iter()
            .any(|role| principal.has_role(role, target_entity));
    let delegated = action.delegated_to_entity_admins()
        && target_entity.is_some_and(|entity| principal.has_role(Role::EntityAdmin, Some(entity)));
    if principal.is_group_admin() || reads_own_seats || reads_own_usage || delegated {
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
        let target = target_entity
            .map(|e| e.to_string())
            .unwrap_or_else(|| "group".to_owned());
        audit_denied(state, caller, action, target_entity, target).await;
    }
    decision
}

/// Records a refused attempt at `action` on `target` (in `entity_id`) with outcome `denied`; best
/// effort, like [`require`].
pub(crate) async fn audit_denied(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    entity_id: Option<EntityId>,
    target: String,
) {
    let event = AuditEvent {
        at: now_millis(),
        actor: caller.actor(),
        action: action.as_str().to_owned(),
        entity_id,
        target,
        outcome: Outcome::Denied,
        detail: "{}".to_owned(),
    };
    if let Err(err) = state.store.append_audit(&event).await {
        tracing::error!(error = %err, "could not audit a denied admin request");
    }
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
