//! The audit trail's vocabulary: every action an event can record, by its stable dotted name.
//!
//! The names are stored (and hashed into the evidence chain) as text, and auditors filter on them,
//! by name (`key.create`) or by family (`key`): a name never changes once released. The set is
//! closed so that a misspelt name cannot open a silent hole in the trail; the one open corner is
//! the inference API's refusals, `inference.<code>`, whose codes belong to the gateway's errors.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What an audit event records. The admin API's actions are among these (a refused attempt is
/// audited under the action it asked for), with the changes made by SCIM, sign-in, the seat
/// ledger, retention and the request path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuditAction {
    EntityCreate,
    EntityList,
    EntityStatusSet,
    EntitySuspend,
    EntityReactivate,
    UserCreate,
    UserList,
    UserProvision,
    UserReplace,
    UserUpdate,
    UserDeprovision,
    UserErase,
    /// Sign-in bound a user to the identity provider's account (`iss`, `sub`).
    UserBind,
    ServiceAccountCreate,
    RoleGrant,
    /// A role taken back from a user by an administrator.
    RoleRevoke,
    RoleList,
    KeyCreate,
    KeyList,
    KeyRevoke,
    KeyRotate,
    ScimTokenCreate,
    ScimTokenList,
    ScimTokenRevoke,
    TeamCreate,
    TeamReplace,
    TeamUpdate,
    TeamDelete,
    AuthSignIn,
    /// An administrator minted a one-time sign-in link for a user.
    AuthLoginLinkCreate,
    SessionList,
    /// Web sessions ended by an administrator (one, or all of a user's).
    SessionRevoke,
    AuditRead,
    SeatRead,
    SeatPoolSet,
    SeatReservationSet,
    SeatAssign,
    SeatReclaim,
    SeatRelease,
    RateLimitRead,
    RateLimitSet,
    RateLimitDelete,
    BudgetRead,
    BudgetSet,
    BudgetDelete,
    BudgetReset,
    BudgetSoftThresholdReached,
    PoolShareSet,
    PoolShareList,
    UsageRead,
    ChargebackRead,
    ContentRead,
    RetentionPurge,
    /// A legal hold placed on a user or an entity: their content may not be erased or purged.
    LegalHoldPlace,
    LegalHoldLift,
    LegalHoldList,
    PolicyFlagged,
    /// A use case's data policy, softer than the caller's own, was applied to a request.
    PolicyRelaxed,
    /// The data policy in force for an entity's callers (or a use case's requests) was read.
    PolicyRead,
    /// A data policy was tried on sample text (the types found, never the text).
    PolicyDryRun,
    UseCaseCreate,
    UseCaseUpdate,
    UseCaseRead,
    UseCaseVersionCreate,
    UseCaseSubmit,
    UseCaseReturn,
    UseCaseApprove,
    UseCaseDeploy,
    UseCaseRolloutSet,
    UseCaseRollback,
    UseCaseRetire,
    UseCaseExport,
    /// A document attached to a use case (its impact assessment's), read (listed or
    /// downloaded), or deleted.
    UseCaseDocumentAdd,
    UseCaseDocumentRead,
    UseCaseDocumentDelete,
    EvalSuiteSet,
    EvalRun,
    /// A caller uploaded a file to `/v1/files` (or a batch wrote its output or error file).
    FileCreate,
    /// A caller deleted one of their files.
    FileDelete,
    /// A caller submitted a batch of requests.
    BatchCreate,
    /// A caller cancelled one of their batches.
    BatchCancel,
    /// A knowledge library created, read (listed, searched, asked), deleted; a document added to
    /// or deleted from one.
    LibraryCreate,
    LibraryRead,
    LibraryDelete,
    LibraryDocumentAdd,
    LibraryDocumentDelete,
    /// A chat completion answered from libraries: which libraries were searched, and which of
    /// their documents gave the passages the answer cites.
    LibraryAsk,
    /// The inference API refused a request with this error code.
    InferenceRefused(Refusal),
}

/// A group of actions on one kind of object, the first part of their names: what an auditor's
/// filter `action=key` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditFamily {
    Entity,
    User,
    ServiceAccount,
    Role,
    Key,
    ScimToken,
    Team,
    Auth,
    Session,
    Audit,
    Seat,
    RateLimit,
    Budget,
    PoolShare,
    Usage,
    Chargeback,
    Content,
    Retention,
    LegalHold,
    Policy,
    UseCase,
    Eval,
    File,
    Batch,
    Library,
    Inference,
}

/// The error code of a refused inference request, kept with its stored name
/// (`inference.model_not_allowed`) so that the name is built once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Refusal {
    name: Box<str>,
}

const INFERENCE_PREFIX: &str = "inference.";

impl AuditAction {
    /// Every action with a fixed name; refusals are named after their code.
    pub const FIXED: [AuditAction; 87] = [
        AuditAction::EntityCreate,
        AuditAction::EntityList,
        AuditAction::EntityStatusSet,
        AuditAction::EntitySuspend,
        AuditAction::EntityReactivate,
        AuditAction::UserCreate,
        AuditAction::UserList,
        AuditAction::UserProvision,
        AuditAction::UserReplace,
        AuditAction::UserUpdate,
        AuditAction::UserDeprovision,
        AuditAction::UserErase,
        AuditAction::UserBind,
        AuditAction::ServiceAccountCreate,
        AuditAction::RoleGrant,
        AuditAction::RoleRevoke,
        AuditAction::RoleList,
        AuditAction::KeyCreate,
        AuditAction::KeyList,
        AuditAction::KeyRevoke,
        AuditAction::KeyRotate,
        AuditAction::ScimTokenCreate,
        AuditAction::ScimTokenList,
        AuditAction::ScimTokenRevoke,
        AuditAction::TeamCreate,
        AuditAction::TeamReplace,
        AuditAction::TeamUpdate,
        AuditAction::TeamDelete,
        AuditAction::AuthSignIn,
        AuditAction::AuthLoginLinkCreate,
        AuditAction::SessionList,
        AuditAction::SessionRevoke,
        AuditAction::AuditRead,
        AuditAction::SeatRead,
        AuditAction::SeatPoolSet,
        AuditAction::SeatReservationSet,
        AuditAction::SeatAssign,
        AuditAction::SeatReclaim,
        AuditAction::SeatRelease,
        AuditAction::RateLimitRead,
        AuditAction::RateLimitSet,
        AuditAction::RateLimitDelete,
        AuditAction::BudgetRead,
        AuditAction::BudgetSet,
        AuditAction::BudgetDelete,
        AuditAction::BudgetReset,
        AuditAction::BudgetSoftThresholdReached,
        AuditAction::PoolShareSet,
        AuditAction::PoolShareList,
        AuditAction::UsageRead,
        AuditAction::ChargebackRead,
        AuditAction::ContentRead,
        AuditAction::RetentionPurge,
        AuditAction::LegalHoldPlace,
        AuditAction::LegalHoldLift,
        AuditAction::LegalHoldList,
        AuditAction::PolicyFlagged,
        AuditAction::PolicyRelaxed,
        AuditAction::PolicyRead,
        AuditAction::PolicyDryRun,
        AuditAction::UseCaseCreate,
        AuditAction::UseCaseUpdate,
        AuditAction::UseCaseRead,
        AuditAction::UseCaseVersionCreate,
        AuditAction::UseCaseSubmit,
        AuditAction::UseCaseReturn,
        AuditAction::UseCaseApprove,
        AuditAction::UseCaseDeploy,
        AuditAction::UseCaseRolloutSet,
        AuditAction::UseCaseRollback,
        AuditAction::UseCaseRetire,
        AuditAction::UseCaseExport,
        AuditAction::UseCaseDocumentAdd,
        AuditAction::UseCaseDocumentRead,
        AuditAction::UseCaseDocumentDelete,
        AuditAction::EvalSuiteSet,
        AuditAction::EvalRun,
        AuditAction::FileCreate,
        AuditAction::FileDelete,
        AuditAction::BatchCreate,
        AuditAction::BatchCancel,
        AuditAction::LibraryCreate,
        AuditAction::LibraryRead,
        AuditAction::LibraryDelete,
        AuditAction::LibraryDocumentAdd,
        AuditAction::LibraryDocumentDelete,
        AuditAction::LibraryAsk,
    ];

    /// The refusal of an inference request with the error code `code` (`model_not_allowed`).
    pub fn inference_refused(code: &str) -> AuditAction {
        AuditAction::InferenceRefused(Refusal {
            name: format!("{INFERENCE_PREFIX}{code}").into_boxed_str(),
        })
    }

    /// The stable dotted name, as stored and as the policies name the admin actions.
    pub fn as_str(&self) -> &str {
        match self {
            AuditAction::InferenceRefused(refusal) => &refusal.name,
            fixed => fixed.fixed_name(),
        }
    }

    /// The action named `name`, `None` when no action has that name.
    pub fn parse(name: &str) -> Option<AuditAction> {
        if let Some(code) = name.strip_prefix(INFERENCE_PREFIX) {
            return is_name_part(code).then(|| AuditAction::inference_refused(code));
        }
        AuditAction::FIXED
            .into_iter()
            .find(|action| action.fixed_name() == name)
    }

    /// The family the action belongs to.
    pub fn family(&self) -> AuditFamily {
        use AuditAction as A;
        match self {
            A::EntityCreate
            | A::EntityList
            | A::EntityStatusSet
            | A::EntitySuspend
            | A::EntityReactivate => AuditFamily::Entity,
            A::UserCreate
            | A::UserList
            | A::UserProvision
            | A::UserReplace
            | A::UserUpdate
            | A::UserDeprovision
            | A::UserErase
            | A::UserBind => AuditFamily::User,
            A::ServiceAccountCreate => AuditFamily::ServiceAccount,
            A::RoleGrant | A::RoleRevoke | A::RoleList => AuditFamily::Role,
            A::KeyCreate | A::KeyList | A::KeyRevoke | A::KeyRotate => AuditFamily::Key,
            A::ScimTokenCreate | A::ScimTokenList | A::ScimTokenRevoke => AuditFamily::ScimToken,
            A::TeamCreate | A::TeamReplace | A::TeamUpdate | A::TeamDelete => AuditFamily::Team,
            A::AuthSignIn | A::AuthLoginLinkCreate => AuditFamily::Auth,
            A::SessionList | A::SessionRevoke => AuditFamily::Session,
            A::AuditRead => AuditFamily::Audit,
            A::SeatRead
            | A::SeatPoolSet
            | A::SeatReservationSet
            | A::SeatAssign
            | A::SeatReclaim
            | A::SeatRelease => AuditFamily::Seat,
            A::RateLimitRead | A::RateLimitSet | A::RateLimitDelete => AuditFamily::RateLimit,
            A::BudgetRead
            | A::BudgetSet
            | A::BudgetDelete
            | A::BudgetReset
            | A::BudgetSoftThresholdReached => AuditFamily::Budget,
            A::PoolShareSet | A::PoolShareList => AuditFamily::PoolShare,
            A::UsageRead => AuditFamily::Usage,
            A::ChargebackRead => AuditFamily::Chargeback,
            A::ContentRead => AuditFamily::Content,
            A::RetentionPurge => AuditFamily::Retention,
            A::LegalHoldPlace | A::LegalHoldLift | A::LegalHoldList => AuditFamily::LegalHold,
            A::PolicyFlagged | A::PolicyRelaxed | A::PolicyRead | A::PolicyDryRun => {
                AuditFamily::Policy
            }
            A::UseCaseCreate
            | A::UseCaseUpdate
            | A::UseCaseRead
            | A::UseCaseVersionCreate
            | A::UseCaseSubmit
            | A::UseCaseReturn
            | A::UseCaseApprove
            | A::UseCaseDeploy
            | A::UseCaseRolloutSet
            | A::UseCaseRollback
            | A::UseCaseRetire
            | A::UseCaseExport
            | A::UseCaseDocumentAdd
            | A::UseCaseDocumentRead
            | A::UseCaseDocumentDelete => AuditFamily::UseCase,
            A::EvalSuiteSet | A::EvalRun => AuditFamily::Eval,
            A::FileCreate | A::FileDelete => AuditFamily::File,
            A::BatchCreate | A::BatchCancel => AuditFamily::Batch,
            A::LibraryCreate
            | A::LibraryRead
            | A::LibraryDelete
            | A::LibraryDocumentAdd
            | A::LibraryDocumentDelete
            | A::LibraryAsk => AuditFamily::Library,
            A::InferenceRefused(_) => AuditFamily::Inference,
        }
    }

    /// The name of an action other than a refusal (for which it is never called).
    fn fixed_name(&self) -> &'static str {
        use AuditAction as A;
        match self {
            A::EntityCreate => "entity.create",
            A::EntityList => "entity.list",
            A::EntityStatusSet => "entity.status.set",
            A::EntitySuspend => "entity.suspend",
            A::EntityReactivate => "entity.reactivate",
            A::UserCreate => "user.create",
            A::UserList => "user.list",
            A::UserProvision => "user.provision",
            A::UserReplace => "user.replace",
            A::UserUpdate => "user.update",
            A::UserDeprovision => "user.deprovision",
            A::UserErase => "user.erase",
            A::UserBind => "user.bind",
            A::ServiceAccountCreate => "service_account.create",
            A::RoleGrant => "role.grant",
            A::RoleRevoke => "role.revoke",
            A::RoleList => "role.list",
            A::KeyCreate => "key.create",
            A::KeyList => "key.list",
            A::KeyRevoke => "key.revoke",
            A::KeyRotate => "key.rotate",
            A::ScimTokenCreate => "scim_token.create",
            A::ScimTokenList => "scim_token.list",
            A::ScimTokenRevoke => "scim_token.revoke",
            A::TeamCreate => "team.create",
            A::TeamReplace => "team.replace",
            A::TeamUpdate => "team.update",
            A::TeamDelete => "team.delete",
            A::AuthSignIn => "auth.sign_in",
            A::AuthLoginLinkCreate => "auth.login_link.create",
            A::SessionList => "session.list",
            A::SessionRevoke => "session.revoke",
            A::AuditRead => "audit.read",
            A::SeatRead => "seat.read",
            A::SeatPoolSet => "seat.pool.set",
            A::SeatReservationSet => "seat.reservation.set",
            A::SeatAssign => "seat.assign",
            A::SeatReclaim => "seat.reclaim",
            A::SeatRelease => "seat.release",
            A::RateLimitRead => "rate_limit.read",
            A::RateLimitSet => "rate_limit.set",
            A::RateLimitDelete => "rate_limit.delete",
            A::BudgetRead => "budget.read",
            A::BudgetSet => "budget.set",
            A::BudgetDelete => "budget.delete",
            A::BudgetReset => "budget.reset",
            A::BudgetSoftThresholdReached => "budget.soft_threshold_reached",
            A::PoolShareSet => "pool_share.set",
            A::PoolShareList => "pool_share.list",
            A::UsageRead => "usage.read",
            A::ChargebackRead => "chargeback.read",
            A::ContentRead => "content.read",
            A::RetentionPurge => "retention.purge",
            A::LegalHoldPlace => "legal_hold.place",
            A::LegalHoldLift => "legal_hold.lift",
            A::LegalHoldList => "legal_hold.list",
            A::PolicyFlagged => "policy.flagged",
            A::PolicyRelaxed => "policy.relaxed",
            A::PolicyRead => "policy.read",
            A::PolicyDryRun => "policy.dry_run",
            A::UseCaseCreate => "use_case.create",
            A::UseCaseUpdate => "use_case.update",
            A::UseCaseRead => "use_case.read",
            A::UseCaseVersionCreate => "use_case.version.create",
            A::UseCaseSubmit => "use_case.submit",
            A::UseCaseReturn => "use_case.return",
            A::UseCaseApprove => "use_case.approve",
            A::UseCaseDeploy => "use_case.deploy",
            A::UseCaseRolloutSet => "use_case.rollout.set",
            A::UseCaseRollback => "use_case.rollback",
            A::UseCaseRetire => "use_case.retire",
            A::UseCaseExport => "use_case.export",
            A::UseCaseDocumentAdd => "use_case.document.add",
            A::UseCaseDocumentRead => "use_case.document.read",
            A::UseCaseDocumentDelete => "use_case.document.delete",
            A::EvalSuiteSet => "eval.suite.set",
            A::EvalRun => "eval.run",
            A::FileCreate => "file.create",
            A::FileDelete => "file.delete",
            A::BatchCreate => "batch.create",
            A::BatchCancel => "batch.cancel",
            A::LibraryCreate => "library.create",
            A::LibraryRead => "library.read",
            A::LibraryDelete => "library.delete",
            A::LibraryDocumentAdd => "library.document.add",
            A::LibraryDocumentDelete => "library.document.delete",
            A::LibraryAsk => "library.ask",
            A::InferenceRefused(_) => "inference",
        }
    }
}

impl Refusal {
    /// The refusal's error code (`model_not_allowed`).
    pub fn code(&self) -> &str {
        &self.name[INFERENCE_PREFIX.len()..]
    }
}

impl AuditFamily {
    pub const ALL: [AuditFamily; 26] = [
        AuditFamily::Entity,
        AuditFamily::User,
        AuditFamily::ServiceAccount,
        AuditFamily::Role,
        AuditFamily::Key,
        AuditFamily::ScimToken,
        AuditFamily::Team,
        AuditFamily::Auth,
        AuditFamily::Session,
        AuditFamily::Audit,
        AuditFamily::Seat,
        AuditFamily::RateLimit,
        AuditFamily::Budget,
        AuditFamily::PoolShare,
        AuditFamily::Usage,
        AuditFamily::Chargeback,
        AuditFamily::Content,
        AuditFamily::Retention,
        AuditFamily::LegalHold,
        AuditFamily::Policy,
        AuditFamily::UseCase,
        AuditFamily::Eval,
        AuditFamily::File,
        AuditFamily::Batch,
        AuditFamily::Library,
        AuditFamily::Inference,
    ];

    /// The family's name, the first part of its actions' names.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditFamily::Entity => "entity",
            AuditFamily::User => "user",
            AuditFamily::ServiceAccount => "service_account",
            AuditFamily::Role => "role",
            AuditFamily::Key => "key",
            AuditFamily::ScimToken => "scim_token",
            AuditFamily::Team => "team",
            AuditFamily::Auth => "auth",
            AuditFamily::Session => "session",
            AuditFamily::Audit => "audit",
            AuditFamily::Seat => "seat",
            AuditFamily::RateLimit => "rate_limit",
            AuditFamily::Budget => "budget",
            AuditFamily::PoolShare => "pool_share",
            AuditFamily::Usage => "usage",
            AuditFamily::Chargeback => "chargeback",
            AuditFamily::Content => "content",
            AuditFamily::Retention => "retention",
            AuditFamily::LegalHold => "legal_hold",
            AuditFamily::Policy => "policy",
            AuditFamily::UseCase => "use_case",
            AuditFamily::Eval => "eval",
            AuditFamily::File => "file",
            AuditFamily::Batch => "batch",
            AuditFamily::Library => "library",
            AuditFamily::Inference => "inference",
        }
    }

    /// The family named `name`.
    pub fn parse(name: &str) -> Option<AuditFamily> {
        AuditFamily::ALL
            .into_iter()
            .find(|family| family.as_str() == name)
    }
}

/// Whether `text` can follow a family's name: lowercase letters, digits and `_`, not empty.
fn is_name_part(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuditAction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        AuditAction::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown audit action `{name}`")))
    }
}

#[cfg(test)]
mod tests;
