//! The audit trail's evidence as the binary handles it: the key that signs checkpoints, the
//! background task that signs them, and the `fabrique audit verify` and `export` commands. The
//! encoding and the verification rules live in the `evidence` crate; this module only wires them to
//! the store, the configuration and the command line.
//!
//! # The audit evidence, end to end
//!
//! Governance must be able to prove the audit trail was not altered. Three layers:
//!
//! 1. **Hash chain.** Each event's `hash = SHA-256(prev_hash ‖ event_bytes)`, the first event chaining from
//!    64 zero hex digits. `event_bytes` is a length-prefixed encoding of a version tag, `seq` (u64), `at`
//!    (i64), `actor`, `action`, `entity_id` (absent/present byte), `target`, `outcome`, `detail`, each
//!    text as a big-endian u64 byte length then its UTF-8 bytes (`evidence` documents it byte by byte).
//!    Hashing the stored text forms means a verifier needs only the stored columns.
//! 2. **Dense numbering under one lock.** Appends update `audit_chain_head` first; on PostgreSQL that is a
//!    row lock, on SQLite the database write lock, held to commit. The head gives the next `seq` (the
//!    next `n` for a batch of `n`) and the previous hash, so concurrent transactions append one after the other and a rolled-back append
//!    leaves no gap: a missing number is a deleted event. Tests append from 32 concurrent tasks on both
//!    databases and verify the result. Events stored before migration 0003 are chained once at start;
//!    gaps among them (`legacy_through`) are tolerated, their links are not.
//! 3. **Signed checkpoints.** A background task signs `(seq, head hash, time, event count)` with Ed25519
//!    every `checkpoint_every_events` events or `checkpoint_interval_secs` after an event, and at a clean
//!    shutdown; one checkpoint per head (replicas racing keep one). The key is a 32-byte seed from
//!    `[audit] signing_key_env` or `signing_key_file`, or generated into `data_dir/audit-signing.key`
//!    (0600) at first start, its public key logged.
//!
//! `fabrique audit verify` reads checkpoints, then the head, then events up to the head (so concurrent
//! appends raise no false alarm), and reports every problem by number: content altered, event missing,
//! out of order, link broken, unchained row, checkpoint head or count mismatch, truncation (a signed
//! checkpoint beyond the last event), untrusted or bad signature, head row disagreeing with the last
//! event, event numbered beyond the head. Trust comes from `--public-key` (repeatable, for rotation) or the configured key, never from
//! the key a checkpoint names.
//!
//! **Detected:** any change to a stored event's columns; deletion or reordering anywhere; any rewrite or
//! truncation of the chain up to the newest signed checkpoint, even one that recomputes every hash.
//! **Not detected:** a consistent rewrite of, or the deletion of, events newer than the newest checkpoint
//! when the head row is adjusted to match (bounded by the checkpoint cadence, and by the shutdown
//! checkpoint); anything done by someone holding the signing key, or who can replace the public key the
//! auditor trusts — hence publish the public key out of band and keep the seed out of the database's
//! reach. The database itself does not forbid `UPDATE`/`DELETE` on `audit_events`; the evidence is what
//! makes such edits visible.
//!
//! **Exports** (`fabrique audit export`) are JSON lines: a header (format, public keys, range, entity,
//! `legacy_through`), the events with `prev_hash`/`hash`, then the checkpoints within the range. A full
//! export verifies like the store; a `--from` range links up from its first event's `prev_hash`; an
//! `--entity` export has gaps, so each event is checked only against its own hashes and a checkpoint only
//! when its event is included — membership in the signed chain is proven by comparing those hashes with
//! a full export. Without `--public-key`, `verify --file` trusts the keys named in the file and says so.

pub mod checkpoints;
pub mod cli;
pub mod publish;
pub mod signing_key;
