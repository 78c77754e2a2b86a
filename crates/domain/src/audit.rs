//! Audit events: one per administrative change, access decision, policy action, seat or key change.

use serde::{Deserialize, Serialize};

use crate::{EntityId, UnixMillis, now_millis};

mod action;

pub use action::{AuditAction, AuditFamily, Refusal};

/// Whether the audited action happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Denied, Outcome::Failure];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

/// Who did what, to what, in which entity, with which result. `detail` is a JSON object in text form
/// and never holds secrets or personal-data values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: UnixMillis,
    /// The acting principal: `key_…` id, or `system` for Fabrique's own actions.
    pub actor: String,
    /// What was done; stored by its dotted name, e.g. `entity.create`, `key.revoke`.
    pub action: AuditAction,
    pub entity_id: Option<EntityId>,
    /// The id of the object acted upon.
    pub target: String,
    pub outcome: Outcome,
    pub detail: String,
}

impl AuditEvent {
    /// A successful action of Fabrique's own (actor `system`), now; the store fills in the target.
    pub fn system(action: AuditAction, detail: String) -> AuditEvent {
        AuditEvent {
            at: now_millis(),
            actor: "system".to_owned(),
            action,
            entity_id: None,
            target: String::new(),
            outcome: Outcome::Success,
            detail,
        }
    }
}
