//! The export file: JSON lines an auditor verifies offline with `fabrique audit verify --file`.
//!
//! ```text
//! {"type":"header","format":"fabrique.audit.export.v1","public_keys":["…"],"from":1,"to":null,"entity":null,"legacy_through":0,"exported_at":…}
//! {"type":"event","seq":1,"at":…,"actor":"…","action":"…","entity_id":null,"target":"…","outcome":"success","detail":"{…}","prev_hash":"…","hash":"…"}
//! …
//! {"type":"checkpoint","seq":1000,"head":"…","at":…,"event_count":1000,"public_key":"…","signature":"…"}
//! ```
//!
//! The header comes first, then the events in seq order, then the checkpoints that fall within the
//! exported numbers. `detail` is the stored text, byte for byte, since it is hashed as such.
//!
//! What a file proves depends on what was exported:
//! - everything (no `--from`, `--to`, `--entity`): the whole chain from the genesis value, every
//!   signed checkpoint, truncation after the newest one;
//! - a range: the stretch links up from its first event's `prev_hash` and reaches the signed heads
//!   within it; that first `prev_hash` is the anchor to compare with an earlier export;
//! - one entity's events: the numbers have gaps, so links cannot be followed. Each event's `hash` is
//!   still checked against its content and `prev_hash`, and a checkpoint whose event is included is
//!   checked against it; to prove an event belongs to the signed chain, compare its `hash` with the
//!   event of the same number in a full export, or with a signed head.

use domain::UnixMillis;
use serde::{Deserialize, Serialize};

use crate::chain::ChainedEvent;
use crate::checkpoint::SignedCheckpoint;

/// The `format` of files this version writes and reads.
pub const FORMAT: &str = "fabrique.audit.export.v1";

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportLine {
    Header(Header),
    Event(ChainedEvent),
    Checkpoint(SignedCheckpoint),
}

/// What was exported, and the keys the exporting Fabrique signs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    /// The public keys that signed the included checkpoints, as the exporting Fabrique knows them.
    /// An auditor should check them against the key published by the operator (`--public-key`).
    pub public_keys: Vec<String>,
    pub from: Option<u64>,
    pub to: Option<u64>,
    /// The entity slug and id the events were filtered on.
    pub entity: Option<String>,
    /// See [`crate::Scope::Whole`].
    pub legacy_through: u64,
    pub exported_at: UnixMillis,
}

impl Header {
    /// The verification scope the file allows.
    pub fn scope(&self) -> crate::Scope {
        if self.entity.is_some() {
            crate::Scope::Selection
        } else if self.from.is_some_and(|from| from > 1) {
            crate::Scope::Range
        } else {
            crate::Scope::Whole {
                legacy_through: self.legacy_through,
            }
        }
    }
}
