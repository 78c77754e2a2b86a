//! Evidence that the audit trail was not altered: the hash chain over audit events, checkpoints of
//! its head signed with Ed25519, the verifier, and the export format auditors verify offline.
//!
//! # The chain
//! Every stored event carries `prev_hash` (the hash of the event before it) and `hash`:
//!
//! ```text
//! hash(n)      = SHA-256( hash(n-1) ‖ event_bytes(n) )        hash(0) = GENESIS (32 zero bytes)
//! event_bytes  = text("fabrique.audit.event.v1")
//!              ‖ u64(seq) ‖ i64(at)
//!              ‖ text(actor) ‖ text(action) ‖ optional(entity_id) ‖ text(target)
//!              ‖ text(outcome) ‖ text(detail)
//! text(s)      = u64(length of s in bytes) ‖ the UTF-8 bytes of s
//! optional(v)  = 0x00 when absent, 0x01 ‖ text(v) when present
//! ```
//!
//! Integers are big-endian and of fixed width; every variable-length field is length-prefixed, so no
//! two different events share an encoding. Fields are hashed in the text form the store keeps them in
//! (`outcome` as `success`, `entity_id` as `ent_…`, `detail` byte for byte), so a verifier needs
//! nothing but the stored columns. Hashes, keys and signatures are written as lower-case hex.
//!
//! # Checkpoints
//! A [`Checkpoint`] states "the chain's head at `seq` was `head`, after `event_count` events, at
//! `at`, after the checkpoint `previous`". Fabrique signs it with Ed25519 (RFC 8032) over
//!
//! ```text
//! text("fabrique.audit.checkpoint.v2") ‖ u64(seq) ‖ head ‖ i64(at) ‖ u64(event_count) ‖ previous
//! ```
//!
//! where `previous` is the digest of the checkpoint before it — SHA-256 of that checkpoint's signed
//! bytes — or the genesis value for the first. Checkpoints so form a chain of their own: deleting one
//! breaks the next one's link. Checkpoints signed before the link existed have no `previous` and were
//! signed over `text("fabrique.audit.checkpoint.v1") ‖ u64(seq) ‖ head ‖ i64(at) ‖ u64(event_count)`;
//! they still verify, and the first linked checkpoint names the newest of them.
//!
//! # What verification proves
//! See [`verify`]: with the chain alone, any edit of a stored event, any deletion in the middle and any
//! reordering is found unless the editor also recomputed every later hash — which needs no secret.
//! The signed checkpoints close that gap up to the newest checkpoint: a rewritten or truncated chain no
//! longer reaches a signed head, and only the holder of the signing key can sign a new one. Events newer
//! than the newest checkpoint are protected by the chain alone, and a database writer can delete the
//! newest checkpoints with the events they cover: checkpoints published outside the database as they
//! are signed, or heads an auditor wrote down, are what shows that (see [`Verifier::anchor_published`]
//! and [`Verifier::anchor`]).
//!
//! **Invariant:** no I/O. The store reads, the binary publishes; this crate only computes.

mod chain;
mod checkpoint;
pub mod export;
mod keys;
pub mod verify;

#[cfg(test)]
mod tests;

pub use chain::{ChainHash, ChainedEvent, EventContent, GENESIS, MalformedHash, chain_hash};
pub use checkpoint::{BrokenLink, Checkpoint, SignedCheckpoint, broken_links};
pub use keys::{AuditSigner, KeyError, PublicKey};
pub use verify::{MAX_PROBLEMS, OutsideAnchors, Problem, Report, Scope, Verifier};
