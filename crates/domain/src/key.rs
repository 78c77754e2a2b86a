//! API keys. The secret is shown once at creation; only its SHA-256 hash is stored. A key's secret is
//! 256 bits of randomness, so a plain (unsalted) hash is safe at rest and lets the gateway find a key
//! by hashing what the caller presented, with one in-memory map lookup.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{EntityId, KeyId, Priority, ScimTokenId, ServiceAccountId, UnixMillis, UserId};

/// Every secret Fabrique mints starts with this, so secret scanners can recognise a leaked key.
pub const KEY_PREFIX: &str = "fabk_";

/// SCIM bearer tokens carry their own prefix, so a leaked provisioning token is told apart from an
/// inference key at a glance (and by scanners).
pub const SCIM_TOKEN_PREFIX: &str = "fabs_";

/// Web session ids (the session cookie's value) carry their own prefix too.
pub const SESSION_PREFIX: &str = "fabw_";

/// One-time sign-in links' tokens likewise.
pub const LOGIN_LINK_PREFIX: &str = "fabl_";

/// How many characters of a secret are kept in clear to help people tell their keys apart.
const DISPLAY_PREFIX_LEN: usize = 12;

/// A key's secret, held only long enough to show it once or to hash it.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret(String);

impl KeySecret {
    /// A fresh secret: the prefix and 32 random bytes in lowercase hex.
    pub fn generate() -> Self {
        KeySecret::generate_with_prefix(KEY_PREFIX)
    }

    /// A fresh secret under another prefix (SCIM tokens use [`SCIM_TOKEN_PREFIX`]).
    pub fn generate_with_prefix(prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        KeySecret(format!("{prefix}{}", hex::encode(bytes)))
    }

    /// A secret chosen by an operator (the bootstrap key from `FABRIQUE_ADMIN_KEY`).
    pub fn from_operator(secret: String) -> Self {
        KeySecret(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }

    /// The clear beginning of the secret, stored to identify the key in listings.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(DISPLAY_PREFIX_LEN).collect()
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySecret(<redacted>)")
    }
}

/// SHA-256 of a key's secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn of(presented: &str) -> Self {
        KeyHash(Sha256::digest(presented.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(KeyHash(out))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", &self.to_hex()[..8])
    }
}

/// Who a key acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum KeyOwner {
    User(UserId),
    ServiceAccount(ServiceAccountId),
}

/// An API key as stored: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: KeyId,
    pub owner: KeyOwner,
    /// The owner's entity; `None` for group-level service accounts.
    pub entity_id: Option<EntityId>,
    pub hash: KeyHash,
    pub display_prefix: String,
    pub created_at: UnixMillis,
    pub revoked_at: Option<UnixMillis>,
    /// The key's default classification, a level name of the configured ladder: requests made with
    /// the key are classified at least this high. `None`: no default of its own.
    pub classification: Option<String>,
    /// The public model names the key may use; `None`: every model its entity may use.
    pub models: Option<Vec<String>>,
    /// From this instant on the key is refused (`api_key_expired`); `None`: it never expires.
    pub expires_at: Option<UnixMillis>,
    /// The key's priority class: the default when a request names none, and the most urgent
    /// class its requests may ask for. `None`: `standard` by default, any class on request.
    pub priority: Option<Priority>,
    /// The key this one replaced by rotation.
    pub rotated_from: Option<KeyId>,
    /// The start of the minute of the key's last successful authentication, as last stored.
    pub last_used_at: Option<UnixMillis>,
}

impl ApiKey {
    /// A new key for `secret` (only its hash and display prefix are kept), issued at `created_at`
    /// to `owner` of `entity_id`, with no scope, expiry, class or default classification yet.
    pub fn issue(
        owner: KeyOwner,
        entity_id: Option<EntityId>,
        secret: &KeySecret,
        created_at: UnixMillis,
    ) -> ApiKey {
        ApiKey {
            id: KeyId::generate(),
            owner,
            entity_id,
            hash: secret.hash(),
            display_prefix: secret.display_prefix(),
            created_at,
            revoked_at: None,
            classification: None,
            models: None,
            expires_at: None,
            priority: None,
            rotated_from: None,
            last_used_at: None,
        }
    }

    /// Whether the key may no longer be used at `now`.
    pub fn is_expired(&self, now: UnixMillis) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

/// A SCIM bearer token as stored: the corporate directory's credential for `/scim/v2`. Bound to one
/// entity (it then sees and changes only that entity's users and groups) or, with `entity_id: None`,
/// to the whole group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimToken {
    pub id: ScimTokenId,
    pub name: Option<String>,
    pub entity_id: Option<EntityId>,
    pub hash: KeyHash,
    pub display_prefix: String,
    pub created_at: UnixMillis,
    pub revoked_at: Option<UnixMillis>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_secrets_are_prefixed_unique_and_hash_stably() {
        let a = KeySecret::generate();
        let b = KeySecret::generate();
        assert!(a.expose().starts_with(KEY_PREFIX));
        assert_ne!(a, b);
        assert_eq!(a.hash(), KeyHash::of(a.expose()));
        assert_eq!(KeyHash::from_hex(&a.hash().to_hex()), Some(a.hash()));
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
