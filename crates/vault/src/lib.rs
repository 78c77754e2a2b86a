//! Encryption of stored prompt and completion content, as a three-level key hierarchy:
//!
//! - the **master key** (32 bytes, from configuration or environment, never stored) wraps
//! - one **data key** per entity (stored wrapped), which wraps
//! - one **content key** per user or service account (stored wrapped), which seals
//! - each stored **content record**.
//!
//! Every layer is XChaCha20-Poly1305 (`chacha20poly1305`, RustCrypto) with a random 192-bit nonce,
//! so nonces can be drawn at random without a collision in any realistic lifetime. Each sealing
//! binds its context as associated data: a wrapped data key its entity, a wrapped content key its
//! entity and owner, a record its id, entity and owner. A ciphertext moved to another row, entity
//! or owner therefore fails to open rather than decrypting under the wrong name.
//!
//! Destroying a content key (erasure of a user) makes every record it sealed unreadable: this is
//! crypto-shredding. It holds for copies of the records in backups as long as no copy of the
//! wrapped content key survives: `retention` can keep those keys outside the database for that.
//!
//! Keys are held unwrapped only in memory, and their bytes are zeroed when dropped.
//!
//! **Invariant:** no I/O, no clock; the only randomness is the operating system's (`OsRng`).

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of every key, in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the nonce that starts every sealed value.
const NONCE_LEN: usize = 24;
/// The version byte that starts every sealed value, so the format can evolve.
const FORMAT_V1: u8 = 1;

/// Why something could not be opened or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// Wrong key, wrong context, or altered bytes: AEAD does not say which, on purpose.
    #[error("the sealed value does not open: wrong key, wrong context or altered bytes")]
    Unauthentic,
    #[error("the sealed value is malformed: {0}")]
    Malformed(&'static str),
    #[error("the master key must be 32 bytes written in base64 ({0})")]
    BadMasterKey(&'static str),
}

/// The root of the hierarchy. `Debug` never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct MasterKey([u8; KEY_LEN]);

/// An entity's data key, unwrapped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; KEY_LEN]);

/// A user's (or service account's) content key, unwrapped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ContentKey([u8; KEY_LEN]);

/// What a content record is bound to: a sealed record opens only under the same binding.
#[derive(Debug, Clone, Copy)]
pub struct RecordBinding<'a> {
    pub record_id: &'a str,
    pub entity_id: &'a str,
    /// The content key's owner, e.g. `user:usr_…`.
    pub owner: &'a str,
}

impl MasterKey {
    /// Reads a key written as standard base64 (with or without padding) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<MasterKey, VaultError> {
        let text = text.trim();
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| VaultError::BadMasterKey("not base64"))?;
        let key = <[u8; KEY_LEN]>::try_from(bytes.as_slice())
            .map_err(|_| VaultError::BadMasterKey("wrong length"));
        bytes.zeroize();
        Ok(MasterKey(key?))
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        MasterKey(bytes)
    }

    /// Wraps `entity_id`'s data key for storage.
    pub fn wrap(&self, entity_id: &str, key: &DataKey) -> Vec<u8> {
        seal(
            &self.0,
            &context(b"fabrique.data-key.v1", &[entity_id]),
            &key.0,
        )
    }

    /// Unwraps a data key stored for `entity_id`.
    pub fn unwrap(&self, entity_id: &str, wrapped: &[u8]) -> Result<DataKey, VaultError> {
        let ad = context(b"fabrique.data-key.v1", &[entity_id]);
        open(&self.0, &ad, wrapped).and_then(key_bytes).map(DataKey)
    }
}

impl DataKey {
    pub fn generate() -> DataKey {
        DataKey(random_key())
    }

    /// Wraps the content key of `owner` in `entity_id` for storage.
    pub fn wrap(&self, entity_id: &str, owner: &str, key: &ContentKey) -> Vec<u8> {
        let ad = context(b"fabrique.content-key.v1", &[entity_id, owner]);
        seal(&self.0, &ad, &key.0)
    }

    /// Unwraps the content key stored for `owner` in `entity_id`.
    pub fn unwrap(
        &self,
        entity_id: &str,
        owner: &str,
        wrapped: &[u8],
    ) -> Result<ContentKey, VaultError> {
        let ad = context(b"fabrique.content-key.v1", &[entity_id, owner]);
        open(&self.0, &ad, wrapped)
            .and_then(key_bytes)
            .map(ContentKey)
    }
}

impl ContentKey {
    pub fn generate() -> ContentKey {
        ContentKey(random_key())
    }

    /// Seals one record's content.
    pub fn seal(&self, binding: &RecordBinding<'_>, content: &[u8]) -> Vec<u8> {
        seal(&self.0, &record_context(binding), content)
    }

    /// Opens one record's content; fails unless key, binding and bytes are all the original ones.
    pub fn open(&self, binding: &RecordBinding<'_>, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        open(&self.0, &record_context(binding), sealed)
    }
}

macro_rules! redacted_debug {
    ($($name:ident),*) => {$(
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    )*};
}
redacted_debug!(MasterKey, DataKey, ContentKey);

fn record_context(binding: &RecordBinding<'_>) -> Vec<u8> {
    context(
        b"fabrique.content.v1",
        &[binding.record_id, binding.entity_id, binding.owner],
    )
}

/// Associated data: a purpose tag, then each field as a big-endian u32 length and its bytes, so
/// no two different field lists encode alike.
fn context(purpose: &[u8], fields: &[&str]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(purpose.len() + fields.iter().map(|f| f.len() + 4).sum::<usize>());
    out.extend_from_slice(purpose);
    for field in fields {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

fn random_key() -> [u8; KEY_LEN] {
    let mut key = XChaCha20Poly1305::generate_key(&mut OsRng);
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(&key);
    key.zeroize();
    out
}

/// `FORMAT_V1 ‖ nonce ‖ ciphertext and tag`.
fn seal(key: &[u8; KEY_LEN], ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: ad,
            },
        )
        // Encryption fails only for inputs beyond 256 GiB, far above any request body limit.
        .unwrap_or_default();
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

fn open(key: &[u8; KEY_LEN], ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
    let (&version, rest) = sealed.split_first().ok_or(VaultError::Malformed("empty"))?;
    if version != FORMAT_V1 {
        return Err(VaultError::Malformed("unknown format version"));
    }
    if rest.len() < NONCE_LEN {
        return Err(VaultError::Malformed("too short"));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: ad,
            },
        )
        .map_err(|_| VaultError::Unauthentic)
}

fn key_bytes(mut bytes: Vec<u8>) -> Result<[u8; KEY_LEN], VaultError> {
    let key = <[u8; KEY_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| VaultError::Malformed("a wrapped key of the wrong length"));
    bytes.zeroize();
    key
}

#[cfg(test)]
mod tests;
