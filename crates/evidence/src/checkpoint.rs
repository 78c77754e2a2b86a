//! Checkpoints: the chain's head at one moment, signed so that nobody without the key can move it.

use domain::UnixMillis;
use serde::{Deserialize, Serialize};

use crate::chain::{ChainHash, push_text};
use crate::keys::{AuditSigner, PublicKey};

const CHECKPOINT_TAG: &str = "fabrique.audit.checkpoint.v1";

/// "After `event_count` events, the event numbered `seq` had hash `head`", stated at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub head: ChainHash,
    pub at: UnixMillis,
    pub event_count: u64,
}

impl Checkpoint {
    /// The signed bytes (see the crate documentation).
    pub fn message(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(96);
        push_text(&mut bytes, CHECKPOINT_TAG);
        bytes.extend_from_slice(&self.seq.to_be_bytes());
        bytes.extend_from_slice(&self.head.0);
        bytes.extend_from_slice(&self.at.to_be_bytes());
        bytes.extend_from_slice(&self.event_count.to_be_bytes());
        bytes
    }

    pub fn sign(self, signer: &AuditSigner) -> SignedCheckpoint {
        let signature = signer.sign(&self.message());
        SignedCheckpoint {
            seq: self.seq,
            head: self.head.to_string(),
            at: self.at,
            event_count: self.event_count,
            public_key: signer.public_key().to_string(),
            signature: hex::encode(signature),
        }
    }
}

/// A checkpoint as stored and exported: text fields as written, so that a damaged one is reported
/// rather than unreadable. `public_key` says which key signed it; trust comes from the verifier's own
/// list of keys, never from this field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub seq: u64,
    pub head: String,
    pub at: UnixMillis,
    pub event_count: u64,
    pub public_key: String,
    pub signature: String,
}

/// Why a signed checkpoint is not to be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureProblem {
    /// The head or signature fields do not decode.
    Malformed,
    /// Signed by a key that is not among the trusted ones.
    UntrustedKey,
    /// No trusted key verifies the signature.
    Invalid,
}

impl SignedCheckpoint {
    /// The checkpoint, when its fields decode.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        Some(Checkpoint {
            seq: self.seq,
            head: self.head.parse().ok()?,
            at: self.at,
            event_count: self.event_count,
        })
    }

    /// Checks the signature against each trusted key (a deployment that rotated its key trusts the
    /// old and the new one).
    pub(crate) fn check(&self, trusted: &[PublicKey]) -> Result<(), SignatureProblem> {
        let checkpoint = self.checkpoint().ok_or(SignatureProblem::Malformed)?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut signature)
            .map_err(|_| SignatureProblem::Malformed)?;
        let message = checkpoint.message();
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
