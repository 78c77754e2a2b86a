//! The canonical encoding of one audit event and the hash that links it to the one before.

use std::fmt;
use std::str::FromStr;

use domain::AuditEvent;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const EVENT_TAG: &str = "fabrique.audit.event.v1";

/// A SHA-256 link of the chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

/// What the first event chains from.
pub const GENESIS: ChainHash = ChainHash([0; 32]);

/// A stored hash that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a SHA-256 hash in hex (64 hex digits)")]
pub struct MalformedHash(pub String);

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

impl FromStr for ChainHash {
    type Err = MalformedHash;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0; 32];
        // Upper-case hex decodes too but is refused, so that one hash has one spelling.
        if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(MalformedHash(text.to_owned()));
        }
        hex::decode_to_slice(text, &mut bytes).map_err(|_| MalformedHash(text.to_owned()))?;
        Ok(ChainHash(bytes))
    }
}

/// An event's hashed fields, in the text form the store keeps them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventContent<'a> {
    pub seq: u64,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub entity_id: Option<&'a str>,
    pub target: &'a str,
    pub outcome: &'a str,
    pub detail: &'a str,
}

impl<'a> EventContent<'a> {
    /// The content of `event` about to be stored as number `seq`, with its entity id already in
    /// text form (the only field that needs formatting, so the caller owns that string).
    pub fn of(seq: u64, event: &'a AuditEvent, entity_id: Option<&'a str>) -> EventContent<'a> {
        EventContent {
            seq,
            at: event.at,
            actor: &event.actor,
            action: event.action.as_str(),
            entity_id,
            target: &event.target,
            outcome: event.outcome.as_str(),
            detail: &event.detail,
        }
    }

    /// The canonical bytes (see the crate documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(
            96 + self.actor.len() + self.action.len() + self.target.len() + self.detail.len(),
        );
        push_text(&mut bytes, EVENT_TAG);
        bytes.extend_from_slice(&self.seq.to_be_bytes());
        bytes.extend_from_slice(&self.at.to_be_bytes());
        push_text(&mut bytes, self.actor);
        push_text(&mut bytes, self.action);
        match self.entity_id {
            None => bytes.push(0),
            Some(id) => {
                bytes.push(1);
                push_text(&mut bytes, id);
            }
        }
        push_text(&mut bytes, self.target);
        push_text(&mut bytes, self.outcome);
        push_text(&mut bytes, self.detail);
        bytes
    }
}

pub(crate) fn push_text(bytes: &mut Vec<u8>, text: &str) {
    bytes.extend_from_slice(&(text.len() as u64).to_be_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

/// `SHA-256(prev ‖ canonical bytes of content)`.
pub fn chain_hash(prev: &ChainHash, content: &EventContent<'_>) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(prev.0);
    hasher.update(content.canonical_bytes());
    ChainHash(hasher.finalize().into())
}

/// A stored event as read back for verification or export: every column as stored, hashes as their
/// stored text (absent when the row was written outside the chain), so that a damaged row is reported
/// by number instead of stopping the reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedEvent {
    pub seq: u64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub entity_id: Option<String>,
    pub target: String,
    pub outcome: String,
    /// The JSON detail as its exact stored text: re-encoding it would change the hash.
    pub detail: String,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl ChainedEvent {
    pub fn content(&self) -> EventContent<'_> {
        EventContent {
            seq: self.seq,
            at: self.at,
            actor: &self.actor,
            action: &self.action,
            entity_id: self.entity_id.as_deref(),
            target: &self.target,
            outcome: &self.outcome,
            detail: &self.detail,
        }
    }
}
