//! The authorization decision, in one function the routes call: [`authorize`], which asks the
//! Cedar policy engine ([`crate::policies`]).

use domain::{AuditAction, AuditEvent, EntityId, Outcome, RoleGrant, now_millis};
use identity::Principal;

use crate::caller::Caller;
use crate::policies;
use crate::{AdminError, AdminState};

/// What an admin request asks to do; a closed set, one per route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    CreateEntity,
    ListEntities,
    SetEntityStatus,
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
    ReclaimSeats,
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
    EraseUser,
    ReadContent,
    PurgeContent,
    PlaceLegalHold,
    LiftLegalHold,
    ListLegalHolds,
    ReadUseCases,
    ExportRegister,
    CreateUseCase,
    UpdateUseCase,
    CreateVersion,
    SubmitVersion,
    ReturnVersion,
    ApproveVersion,
    DeployVersion,
    SetRollout,
    RollbackVersion,
    RetireVersion,
    SetSuite,
    RunEvaluation,
    ListSessions,
    RevokeSessions,
    CreateLoginLink,
    GrantRole,
    RevokeRole,
    ListRoleGrants,
    CreateLibrary,
    ReadLibrary,
    DeleteLibrary,
    AddLibraryDocument,
    DeleteLibraryDocument,
    ReadPolicy,
    DryRunPolicy,
    AddUseCaseDocument,
    ReadUseCaseDocuments,
    DeleteUseCaseDocument,
}

impl AdminAction {
    /// Every action, for checks that must cover them all.
    pub const ALL: [AdminAction; 64] = [
        AdminAction::CreateEntity,
        AdminAction::ListEntities,
        AdminAction::SetEntityStatus,
        AdminAction::CreateUser,
        AdminAction::ListUsers,
        AdminAction::CreateKey,
        AdminAction::ListKeys,
        AdminAction::RevokeKey,
        AdminAction::RotateKey,
        AdminAction::CreateScimToken,
        AdminAction::ListScimTokens,
        AdminAction::RevokeScimToken,
        AdminAction::ReadAudit,
        AdminAction::ReadSeats,
        AdminAction::SetSeatPool,
        AdminAction::SetSeatReservation,
        AdminAction::ReclaimSeats,
        AdminAction::ReadRateLimits,
        AdminAction::SetRateLimit,
        AdminAction::DeleteRateLimit,
        AdminAction::ReadBudgets,
        AdminAction::SetBudget,
        AdminAction::DeleteBudget,
        AdminAction::ResetBudget,
        AdminAction::ReadUsage,
        AdminAction::ReadChargeback,
        AdminAction::SetPoolShare,
        AdminAction::ListPoolShares,
        AdminAction::EraseUser,
        AdminAction::ReadContent,
        AdminAction::PurgeContent,
        AdminAction::PlaceLegalHold,
        AdminAction::LiftLegalHold,
        AdminAction::ListLegalHolds,
        AdminAction::ReadUseCases,
        AdminAction::ExportRegister,
        AdminAction::CreateUseCase,
        AdminAction::UpdateUseCase,
        AdminAction::CreateVersion,
        AdminAction::SubmitVersion,
        AdminAction::ReturnVersion,
        AdminAction::ApproveVersion,
        AdminAction::DeployVersion,
        AdminAction::SetRollout,
        AdminAction::RollbackVersion,
        AdminAction::RetireVersion,
        AdminAction::SetSuite,
        AdminAction::RunEvaluation,
        AdminAction::ListSessions,
        AdminAction::RevokeSessions,
        AdminAction::CreateLoginLink,
        AdminAction::GrantRole,
        AdminAction::RevokeRole,
        AdminAction::ListRoleGrants,
        AdminAction::CreateLibrary,
        AdminAction::ReadLibrary,
        AdminAction::DeleteLibrary,
        AdminAction::AddLibraryDocument,
        AdminAction::DeleteLibraryDocument,
        AdminAction::ReadPolicy,
        AdminAction::DryRunPolicy,
        AdminAction::AddUseCaseDocument,
        AdminAction::ReadUseCaseDocuments,
        AdminAction::DeleteUseCaseDocument,
    ];

    /// The audit action a request for this is recorded under (when refused, and for most changes);
    /// its name is also the action's id in the policies.
    pub fn audit_action(self) -> AuditAction {
        match self {
            AdminAction::CreateEntity => AuditAction::EntityCreate,
            AdminAction::ListEntities => AuditAction::EntityList,
            AdminAction::SetEntityStatus => AuditAction::EntityStatusSet,
            AdminAction::CreateUser => AuditAction::UserCreate,
            AdminAction::ListUsers => AuditAction::UserList,
            AdminAction::CreateKey => AuditAction::KeyCreate,
            AdminAction::ListKeys => AuditAction::KeyList,
            AdminAction::RevokeKey => AuditAction::KeyRevoke,
            AdminAction::RotateKey => AuditAction::KeyRotate,
            AdminAction::CreateScimToken => AuditAction::ScimTokenCreate,
            AdminAction::ListScimTokens => AuditAction::ScimTokenList,
            AdminAction::RevokeScimToken => AuditAction::ScimTokenRevoke,
            AdminAction::ReadAudit => AuditAction::AuditRead,
            AdminAction::ReadSeats => AuditAction::SeatRead,
            AdminAction::SetSeatPool => AuditAction::SeatPoolSet,
            AdminAction::SetSeatReservation => AuditAction::SeatReservationSet,
            AdminAction::ReclaimSeats => AuditAction::SeatReclaim,
            AdminAction::ReadRateLimits => AuditAction::RateLimitRead,
            AdminAction::SetRateLimit => AuditAction::RateLimitSet,
            AdminAction::DeleteRateLimit => AuditAction::RateLimitDelete,
            AdminAction::ReadBudgets => AuditAction::BudgetRead,
            AdminAction::SetBudget => AuditAction::BudgetSet,
            AdminAction::DeleteBudget => AuditAction::BudgetDelete,
            AdminAction::ResetBudget => AuditAction::BudgetReset,
            AdminAction::ReadUsage => AuditAction::UsageRead,
            AdminAction::ReadChargeback => AuditAction::ChargebackRead,
            AdminAction::SetPoolShare => AuditAction::PoolShareSet,
            AdminAction::ListPoolShares => AuditAction::PoolShareList,
            AdminAction::EraseUser => AuditAction::UserErase,
            AdminAction::ReadContent => AuditAction::ContentRead,
            AdminAction::PurgeContent => AuditAction::RetentionPurge,
            AdminAction::PlaceLegalHold => AuditAction::LegalHoldPlace,
            AdminAction::LiftLegalHold => AuditAction::LegalHoldLift,
            AdminAction::ListLegalHolds => AuditAction::LegalHoldList,
            AdminAction::ReadUseCases => AuditAction::UseCaseRead,
            AdminAction::ExportRegister => AuditAction::UseCaseExport,
            AdminAction::CreateUseCase => AuditAction::UseCaseCreate,
            AdminAction::UpdateUseCase => AuditAction::UseCaseUpdate,
            AdminAction::CreateVersion => AuditAction::UseCaseVersionCreate,
            AdminAction::SubmitVersion => AuditAction::UseCaseSubmit,
            AdminAction::ReturnVersion => AuditAction::UseCaseReturn,
            AdminAction::ApproveVersion => AuditAction::UseCaseApprove,
            AdminAction::DeployVersion => AuditAction::UseCaseDeploy,
            AdminAction::SetRollout => AuditAction::UseCaseRolloutSet,
            AdminAction::RollbackVersion => AuditAction::UseCaseRollback,
            AdminAction::RetireVersion => AuditAction::UseCaseRetire,
            AdminAction::SetSuite => AuditAction::EvalSuiteSet,
            AdminAction::RunEvaluation => AuditAction::EvalRun,
            AdminAction::ListSessions => AuditAction::SessionList,
            AdminAction::RevokeSessions => AuditAction::SessionRevoke,
            AdminAction::CreateLoginLink => AuditAction::AuthLoginLinkCreate,
            AdminAction::GrantRole => AuditAction::RoleGrant,
            AdminAction::RevokeRole => AuditAction::RoleRevoke,
            AdminAction::ListRoleGrants => AuditAction::RoleList,
            AdminAction::CreateLibrary => AuditAction::LibraryCreate,
            AdminAction::ReadLibrary => AuditAction::LibraryRead,
            AdminAction::DeleteLibrary => AuditAction::LibraryDelete,
            AdminAction::AddLibraryDocument => AuditAction::LibraryDocumentAdd,
            AdminAction::DeleteLibraryDocument => AuditAction::LibraryDocumentDelete,
            AdminAction::ReadPolicy => AuditAction::PolicyRead,
            AdminAction::DryRunPolicy => AuditAction::PolicyDryRun,
            AdminAction::AddUseCaseDocument => AuditAction::UseCaseDocumentAdd,
            AdminAction::ReadUseCaseDocuments => AuditAction::UseCaseDocumentRead,
            AdminAction::DeleteUseCaseDocument => AuditAction::UseCaseDocumentDelete,
        }
    }

    /// For error messages: "this key is not allowed to create entities".
    pub fn describe(self) -> &'static str {
        match self {
            AdminAction::CreateEntity => "create entities",
            AdminAction::ListEntities => "list entities",
            AdminAction::SetEntityStatus => "suspend or reactivate entities",
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
            AdminAction::ReclaimSeats => "reclaim idle users' seats",
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
            AdminAction::EraseUser => "erase users' stored content",
            AdminAction::ReadContent => "read stored prompts and completions",
            AdminAction::PurgeContent => "purge stored content",
            AdminAction::PlaceLegalHold => "place legal holds",
            AdminAction::LiftLegalHold => "lift legal holds",
            AdminAction::ListLegalHolds => "list legal holds",
            AdminAction::ReadUseCases => "read the AI Factory's use cases",
            AdminAction::ExportRegister => "export the AI Act register",
            AdminAction::CreateUseCase => "register use cases",
            AdminAction::UpdateUseCase => "change use cases",
            AdminAction::CreateVersion => "write use-case versions",
            AdminAction::SubmitVersion => "submit use-case versions for review",
            AdminAction::ReturnVersion => "return use-case versions to draft",
            AdminAction::ApproveVersion => "approve use-case versions",
            AdminAction::DeployVersion => "deploy use-case versions",
            AdminAction::SetRollout => "set use-case rollouts",
            AdminAction::RollbackVersion => "roll back use-case versions",
            AdminAction::RetireVersion => "retire use cases and their versions",
            AdminAction::SetSuite => "store evaluation suites",
            AdminAction::RunEvaluation => "run evaluations",
            AdminAction::ListSessions => "list web sessions",
            AdminAction::RevokeSessions => "end web sessions",
            AdminAction::CreateLoginLink => "mint sign-in links",
            AdminAction::GrantRole => "grant roles",
            AdminAction::RevokeRole => "take back roles",
            AdminAction::ListRoleGrants => "list role grants",
            AdminAction::CreateLibrary => "create knowledge libraries",
            AdminAction::ReadLibrary => "read knowledge libraries",
            AdminAction::DeleteLibrary => "delete knowledge libraries",
            AdminAction::AddLibraryDocument => "add documents to knowledge libraries",
            AdminAction::DeleteLibraryDocument => "delete documents from knowledge libraries",
            AdminAction::ReadPolicy => "read data policies",
            AdminAction::DryRunPolicy => "try data policies on sample text",
            AdminAction::AddUseCaseDocument => "attach documents to use cases",
            AdminAction::ReadUseCaseDocuments => "read use cases' documents",
            AdminAction::DeleteUseCaseDocument => "delete use cases' documents",
        }
    }

    /// The action that makes a version's `transition`.
    pub fn for_transition(transition: factory::Transition) -> AdminAction {
        match transition {
            factory::Transition::Submit => AdminAction::SubmitVersion,
            factory::Transition::Return => AdminAction::ReturnVersion,
            factory::Transition::Approve => AdminAction::ApproveVersion,
            factory::Transition::Deploy => AdminAction::DeployVersion,
            factory::Transition::Rollback => AdminAction::RollbackVersion,
            factory::Transition::Retire => AdminAction::RetireVersion,
        }
    }

    /// Whether the action is asked of one knowledge library (Cedar's `Library`), not of an
    /// entity or the group.
    pub fn on_library(self) -> bool {
        matches!(
            self,
            AdminAction::ReadLibrary
                | AdminAction::DeleteLibrary
                | AdminAction::AddLibraryDocument
                | AdminAction::DeleteLibraryDocument
        )
    }

    /// Whether the action is on a use case's documents: the policies then also see whether the
    /// caller is among the owners the use case names (`context.use_case_owner`).
    pub fn on_use_case_documents(self) -> bool {
        matches!(
            self,
            AdminAction::AddUseCaseDocument
                | AdminAction::ReadUseCaseDocuments
                | AdminAction::DeleteUseCaseDocument
        )
    }

    /// Whether the action's object carries its owner's roles (a key, a sign-in link): the
    /// policies then see those roles (in the request's context) to keep anyone from handing out
    /// more than they hold.
    pub fn hands_out_roles(self) -> bool {
        matches!(
            self,
            AdminAction::CreateKey
                | AdminAction::RevokeKey
                | AdminAction::RotateKey
                | AdminAction::CreateLoginLink
                | AdminAction::GrantRole
                | AdminAction::RevokeRole
        )
    }

    /// Whether the action grants or takes back a role: the policies then also see the role
    /// (`carried` is then the one grant concerned).
    pub fn changes_roles(self) -> bool {
        matches!(self, AdminAction::GrantRole | AdminAction::RevokeRole)
    }
}

/// May `principal` perform `action` on `target_entity` (`None`: the group as a whole)?
///
/// Decided by the Cedar policy set in force (the default one of `policies/default.cedar`, or the
/// operator's), never by the routes; a decision that cannot be made is a denial, logged.
pub fn authorize(
    principal: &Principal,
    action: AdminAction,
    target_entity: Option<EntityId>,
) -> Result<(), AdminError> {
    authorize_carrying(principal, action, target_entity, &[])
}

/// [`authorize`] for an action on a key whose owner holds `carried`.
pub fn authorize_carrying(
    principal: &Principal,
    action: AdminAction,
    target_entity: Option<EntityId>,
    carried: &[RoleGrant],
) -> Result<(), AdminError> {
    decided(action, |engine| {
        engine.allows(principal, action, target_entity, carried)
    })
}

/// [`authorize`] for an action on a use case's documents, by a caller who is (`owner`) or is not
/// among the owners the use case names.
pub(crate) fn authorize_on_use_case(
    principal: &Principal,
    action: AdminAction,
    target_entity: Option<EntityId>,
    owner: bool,
) -> Result<(), AdminError> {
    decided(action, |engine| {
        engine.allows_on_use_case(principal, action, target_entity, owner)
    })
}

/// The engine's answer through `ask`, or a denial when no policy set is valid.
fn decided(
    action: AdminAction,
    ask: impl FnOnce(&policies::Engine) -> bool,
) -> Result<(), AdminError> {
    let allowed = match policies::engine() {
        Some(engine) => ask(&engine),
        None => {
            tracing::error!("no valid authorization policy set: every admin request is denied");
            false
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(AdminError::Forbidden { action })
    }
}

/// Whether the caller's entity-scoped roles allow `action` in at least one entity: such a caller
/// is told that another entity's objects do not exist (404), as missing ones, rather than 403.
pub(crate) fn acts_in_some_entity(principal: &Principal, action: AdminAction) -> bool {
    principal
        .roles
        .iter()
        .filter_map(|grant| grant.entity_id)
        .any(|entity| authorize(principal, action, Some(entity)).is_ok())
}

/// [`authorize`], and on refusal an audit event with outcome `denied` (best effort: a failure to
/// record it is logged, and the caller still gets the 403).
pub(crate) async fn require(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    target_entity: Option<EntityId>,
) -> Result<(), AdminError> {
    require_carrying(state, caller, action, target_entity, &[]).await
}

/// [`require`] for an action on a key whose owner holds `carried`.
pub(crate) async fn require_carrying(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    target_entity: Option<EntityId>,
    carried: &[RoleGrant],
) -> Result<(), AdminError> {
    let decision = authorize_carrying(&caller.0, action, target_entity, carried);
    audited(state, caller, action, target_entity, decision).await
}

/// `decision`, audited `denied` when it is a refusal.
async fn audited(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    target_entity: Option<EntityId>,
    decision: Result<(), AdminError>,
) -> Result<(), AdminError> {
    if decision.is_err() {
        let target = target_entity
            .map(|e| e.to_string())
            .unwrap_or_else(|| "group".to_owned());
        audit_denied(state, caller, action, target_entity, target).await;
    }
    decision
}

/// [`require`] for an object of `target_entity` that the caller named: on refusal, a caller who
/// may do `action` in an entity of theirs is told `missing` (the object's 404), so that other
/// entities' objects look exactly like missing ones; others get 403.
pub(crate) async fn require_visible(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    target_entity: Option<EntityId>,
    missing: impl FnOnce() -> AdminError,
) -> Result<(), AdminError> {
    require(state, caller, action, target_entity)
        .await
        .map_err(|refusal| hide(caller, action, refusal, missing))
}

/// [`require_visible`] for an action on a use case's documents, by a caller who is (`owner`) or
/// is not among the owners the use case names.
pub(crate) async fn require_visible_on_use_case(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    target_entity: Option<EntityId>,
    owner: bool,
    missing: impl FnOnce() -> AdminError,
) -> Result<(), AdminError> {
    let decision = authorize_on_use_case(&caller.0, action, target_entity, owner);
    audited(state, caller, action, target_entity, decision)
        .await
        .map_err(|refusal| hide(caller, action, refusal, missing))
}

/// The answer to a refused caller: `missing` for callers with rights in some entity, else `refusal`.
pub(crate) fn hide(
    caller: &Caller,
    action: AdminAction,
    refusal: AdminError,
    missing: impl FnOnce() -> AdminError,
) -> AdminError {
    if acts_in_some_entity(&caller.0, action) {
        missing()
    } else {
        refusal
    }
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
        action: action.audit_action(),
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
    action: AuditAction,
    entity_id: Option<EntityId>,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: caller.actor(),
        action,
        entity_id,
        target: String::new(),
        outcome: Outcome::Success,
        detail: detail.to_string(),
    }
}
