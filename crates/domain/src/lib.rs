//! Fabrique's domain model: who may call, what serves them, at what level.
//!
//! Plain data and the rules that need no I/O. Storage, HTTP and configuration files live above this
//! crate; nothing here knows about them.

pub mod audit;
pub mod classification;
pub mod engine;
pub mod ids;
pub mod key;
pub mod principal;
pub mod seat_ledger;
pub mod serving;
pub mod usage;

pub use audit::{AuditAction, AuditEvent, AuditFamily, Outcome};
pub use classification::{Classification, ClassificationLadder};
pub use engine::{Dialect, EndpointKind, FimTemplate, UpstreamPath, UpstreamRoute};
pub use ids::{
    BatchId, EntityId, FileId, InvalidId, KeyId, LegalHoldId, ScimTokenId, ServiceAccountId,
    SessionId, TeamId, UseCaseDocumentId, UserId,
};
pub use key::{ApiKey, KeyHash, KeyOwner, KeySecret, SCIM_TOKEN_PREFIX, ScimToken};
pub use principal::{
    Entity, Role, RoleGrant, ServiceAccount, SignInMethod, SignInSubject, Status, User,
};
pub use serving::{EndpointIdx, Hosting, ModelIdx, ModelKind, Priority};
pub use usage::{
    DATA_POLICY_REFUSALS, Feedback, Operation, Rating, UsageRecord, UsageTotals, is_slug,
};

/// Milliseconds since the Unix epoch: the one time representation in records and storage.
pub type UnixMillis = i64;

/// The current time in Unix milliseconds.
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
