//! Checkpoints: the chain's head at one moment, signed so that nobody without the key can move it,
//! each naming the one before it so that none can be taken out of the line unnoticed.

use domain::UnixMillis;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chain::{ChainHash, GENESIS, push_text};
use crate::keys::{AuditSigner, PublicKey};

/// Checkpoints signed before they were linked: no `previous`.
const UNLINKED_TAG: &str = "fabrique.audit.checkpoint.v1";
const CHECKPOINT_TAG: &str = "fabrique.audit.checkpoint.v2";

/// "After `event_count` events, the event numbered `seq` had hash `head`", stated at `at`, after the
/// checkpoint whose digest is `previous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub head: ChainHash,
    pub at: UnixMillis,
    pub event_count: u64,
    /// The [digest](SignedCheckpoint::digest) of the checkpoint before this one, [`GENESIS`] for
    /// the first (see [`Checkpoint::previous_of`]).
    pub previous: ChainHash,
}

impl Checkpoint {
    /// What a new checkpoint names as the one before it: the newest stored checkpoint's digest, or
    /// [`GENESIS`] when there is none. `None` when that checkpoint's fields do not decode: a
    /// damaged checkpoint is no base for a new one.
    pub fn previous_of(newest: Option<&SignedCheckpoint>) -> Option<ChainHash> {
        match newest {
            None => Some(GENESIS),
            Some(newest) => newest.digest(),
        }
    }

    /// The signed bytes (see the crate documentation).
    pub fn message(&self) -> Vec<u8> {
        message(
            self.seq,
            &self.head,
            self.at,
            self.event_count,
            Some(&self.previous),
        )
    }

    pub fn sign(self, signer: &AuditSigner) -> SignedCheckpoint {
        let signature = signer.sign(&self.message());
        SignedCheckpoint {
            seq: self.seq,
            head: self.head.to_string(),
            at: self.at,
            event_count: self.event_count,
            previous: Some(self.previous.to_string()),
            public_key: signer.public_key().to_string(),
            signature: hex::encode(signature),
        }
    }
}

fn message(
    seq: u64,
    head: &ChainHash,
    at: UnixMillis,
    event_count: u64,
    previous: Option<&ChainHash>,
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(128);
    push_text(
        &mut bytes,
        if previous.is_some() {
            CHECKPOINT_TAG
        } else {
            UNLINKED_TAG
        },
    );
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&head.0);
    bytes.extend_from_slice(&at.to_be_bytes());
    bytes.extend_from_slice(&event_count.to_be_bytes());
    if let Some(previous) = previous {
        bytes.extend_from_slice(&previous.0);
    }
    bytes
}

/// A checkpoint as stored, published and exported: text fields as written, so that a damaged one
/// is reported rather than unreadable. `public_key` says which key signed it; trust comes from the
/// verifier's own list of keys, never from this field. `previous` is absent only from checkpoints
/// signed before checkpoints were linked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub seq: u64,
    pub head: String,
    pub at: UnixMillis,
    pub event_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    pub public_key: String,
    pub signature: String,
}

/// Why a signed checkpoint is not to be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureProblem {
    /// The head, previous or signature fields do not decode.
    Malformed,
    /// Signed by a key that is not among the trusted ones.
    UntrustedKey,
    /// No trusted key verifies the signature.
    Invalid,
}

impl SignedCheckpoint {
    /// The signed bytes, when the fields decode.
    fn message(&self) -> Option<Vec<u8>> {
        let head = self.head.parse().ok()?;
        let previous = match &self.previous {
            None => None,
            Some(text) => Some(text.parse::<ChainHash>().ok()?),
        };
        Some(message(
            self.seq,
            &head,
            self.at,
            self.event_count,
            previous.as_ref(),
        ))
    }

    /// The checkpoint's own hash, SHA-256 of its signed bytes: what the next checkpoint names as
    /// `previous`. `None` when the fields do not decode.
    pub fn digest(&self) -> Option<ChainHash> {
        self.message()
            .map(|message| ChainHash(Sha256::digest(message).into()))
    }

    /// The head as a hash, when it decodes.
    pub fn head_hash(&self) -> Option<ChainHash> {
        self.head.parse().ok()
    }

    /// Checks the signature against each trusted key (a deployment that rotated its key trusts the
    /// old and the new one).
    pub(crate) fn check(&self, trusted: &[PublicKey]) -> Result<(), SignatureProblem> {
        let message = self.message().ok_or(SignatureProblem::Malformed)?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut signature)
            .map_err(|_| SignatureProblem::Malformed)?;
        if trusted.iter().any(|key| key.verifies(&message, &signature)) {
            return Ok(());
        }
        let named_is_trusted = trusted.iter().any(|key| key.to_string() == self.public_key);
        if named_is_trusted {
            Err(SignatureProblem::Invalid)
        } else {
            Err(SignatureProblem::UntrustedKey)
        }
    }
}

/// A checkpoint whose `previous` is not the digest of the checkpoint before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: u64,
}

/// Checks that each checkpoint of `checkpoints` (in seq order) names the one before it. The first
/// is checked against `before`: `Some(GENESIS)` when it must be the very first checkpoint,
/// `Some(digest)` when the checkpoint before it is known, `None` when it is not (an export of a
/// range). Unlinked (older) checkpoints name nothing and are skipped.
pub fn broken_links(
    before: Option<ChainHash>,
    checkpoints: &[SignedCheckpoint],
) -> Vec<BrokenLink> {
    let mut expected = before;
    let mut broken = Vec::new();
    for checkpoint in checkpoints {
        if let Some(previous) = &checkpoint.previous {
            let named = previous.parse::<ChainHash>().ok();
            if expected.is_some_and(|expected| named != Some(expected)) || named.is_none() {
                broken.push(BrokenLink {
                    seq: checkpoint.seq,
                });
            }
        }
        expected = checkpoint.digest();
    }
    broken
}
