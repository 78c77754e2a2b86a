//! The Ed25519 key pair that signs checkpoints: the secret seed (32 bytes, written as hex or base64)
//! and the public key auditors pin.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand::RngCore as _;

/// A key given as text that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text never appears in the message: it may be a secret.
    #[error("expected 32 bytes written as 64 hex digits or as base64, found {0} characters")]
    NotThirtyTwoBytes(usize),
    #[error("these 32 bytes are not an Ed25519 public key")]
    NotAPublicKey,
}

/// Signs checkpoints. `Debug` never shows the seed; two signers are equal when their public keys
/// are.
#[derive(Clone)]
pub struct AuditSigner {
    key: SigningKey,
}

impl PartialEq for AuditSigner {
    fn eq(&self, other: &Self) -> bool {
        self.public_key() == other.public_key()
    }
}

impl Eq for AuditSigner {}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSigner")
            .field("public_key", &self.public_key().to_string())
            .finish_non_exhaustive()
    }
}

impl AuditSigner {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> AuditSigner {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        AuditSigner::from_seed(seed)
    }

    pub fn from_seed(seed: [u8; 32]) -> AuditSigner {
        AuditSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The seed as written in a key file or environment variable: 64 hex digits or base64 (standard
    /// alphabet, padding optional); surrounding whitespace is ignored.
    pub fn from_seed_text(text: &str) -> Result<AuditSigner, KeyError> {
        Ok(AuditSigner::from_seed(thirty_two_bytes(text)?))
    }

    /// The seed in hex, for the key file Fabrique writes when it generates a key.
    pub fn seed_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// An Ed25519 public key; shown as hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub(crate) VerifyingKey);

impl PublicKey {
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Whether `signature` is this key's signature of `message` (strict RFC 8032 verification, which
    /// refuses malleable signatures and weak keys).
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0.to_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    /// 64 hex digits or base64, like a seed.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        VerifyingKey::from_bytes(&thirty_two_bytes(text)?)
            .map(PublicKey)
            .map_err(|_| KeyError::NotAPublicKey)
    }
}

fn thirty_two_bytes(text: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    let mut bytes = [0u8; 32];
    if text.len() == 64 && hex::decode_to_slice(text, &mut bytes).is_ok() {
        return Ok(bytes);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .map_err(|_| KeyError::NotThirtyTwoBytes(text.chars().count()))?;
    <[u8; 32]>::try_from(decoded.as_slice())
        .map_err(|_| KeyError::NotThirtyTwoBytes(text.chars().count()))
}
