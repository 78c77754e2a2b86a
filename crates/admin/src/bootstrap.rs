//! The first administrator. A fresh installation has no keys, so nobody could call the admin API;
//! the operator sets `FABRIQUE_ADMIN_KEY` (or `serve` generates a key and prints it once) and each
//! start makes that secret the key of the group-level service account `bootstrap-admin`, a group
//! administrator.
//!
//! The secret is the operator's choice, so it is held to more than a generated key:
//! - at least [`MIN_SECRET_LEN`] characters, unless the operator says `allow_weak` (a trial);
//! - stored only as an Argon2id hash (salted, slow: `secret_kdf`), verified once per start; the key
//!   row's `hash` is that of a random placeholder and its `display_prefix` a generated id, so no
//!   fast hash and no prefix of the secret is stored or audited. The process indexes the secret's
//!   SHA-256 in memory only, so the request path stays one hash and one lookup;
//! - it expires [`BootstrapSettings::ttl`] after it was first used (24 hours by default): later
//!   starts with the same secret keep the key until then and refuse it after;
//! - a start with another secret rotates: every live key of the account is revoked (audited
//!   `key.revoke`, reason `rotated`) and the new secret becomes the account's key.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use domain::{
    ApiKey, AuditAction, AuditEvent, KeyId, KeyOwner, KeySecret, Role, RoleGrant, ServiceAccountId,
    UnixMillis, now_millis,
};
use identity::{Directory, Principal};
use serde_json::json;
use store::{OperatorKey, Store, StoreError};

/// The group-level service account that holds the bootstrap key.
pub const BOOTSTRAP_ACCOUNT_NAME: &str = "bootstrap-admin";

/// The shortest operator-chosen secret accepted without `allow_weak`.
pub const MIN_SECRET_LEN: usize = 32;

/// How the bootstrap key is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapSettings {
    /// How long the key works after it is first stored.
    pub ttl: Duration,
    /// Accept a secret shorter than [`MIN_SECRET_LEN`] (trials only).
    pub allow_weak: bool,
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        BootstrapSettings {
            ttl: Duration::from_secs(24 * 3600),
            allow_weak: false,
        }
    }
}

/// What [`bootstrap_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapOutcome {
    /// No secret was given.
    NotRequested,
    /// The secret is the account's live key already; it works until `expires_at`.
    Kept {
        key_id: KeyId,
        expires_at: UnixMillis,
    },
    /// The secret is now a group administrator's key, in the store and in the directory; `revoked`
    /// earlier keys of the account (another secret) were revoked.
    Created {
        key_id: KeyId,
        service_account_id: ServiceAccountId,
        revoked: usize,
    },
}

/// Why the secret was not made a key.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "FABRIQUE_ADMIN_KEY is {0} characters long; use at least {MIN_SECRET_LEN} random characters \
         (or start without it: `serve` then generates a key and prints it once)"
    )]
    Weak(usize),
    #[error("FABRIQUE_ADMIN_KEY has expired; set a new secret, which replaces it")]
    Expired,
    #[error("hashing FABRIQUE_ADMIN_KEY failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Makes `secret` the bootstrap administrator's key, as the module says.
pub async fn bootstrap_admin(
    store: &Store,
    directory: &Directory,
    secret: Option<String>,
    settings: BootstrapSettings,
) -> Result<BootstrapOutcome, BootstrapError> {
    let Some(secret) = secret.filter(|s| !s.trim().is_empty()) else {
        return Ok(BootstrapOutcome::NotRequested);
    };
    let length = secret.chars().count();
    if length < MIN_SECRET_LEN && !settings.allow_weak {
        return Err(BootstrapError::Weak(length));
    }
    let account = store
        .service_account_get_or_create(
            None,
            BOOTSTRAP_ACCOUNT_NAME,
            &system_event(
                AuditAction::ServiceAccountCreate,
                json!({"name": BOOTSTRAP_ACCOUNT_NAME}),
            ),
        )
        .await?;
    let owner = KeyOwner::ServiceAccount(account.id);
    let now = now_millis();
    let live = store.operator_keys(owner).await?;
    let (outcome, key_id, expires_at) = match live.iter().find(|key| verifies(&secret, key)) {
        Some(key) => {
            let expires_at = key.expires_at.unwrap_or(UnixMillis::MAX);
            if expires_at <= now {
                return Err(BootstrapError::Expired);
            }
            let key_id = key.id;
            (
                BootstrapOutcome::Kept { key_id, expires_at },
                key_id,
                expires_at,
            )
        }
        None => {
            let revoked = revoke_all(store, directory, &live, now).await?;
            let expires_at = now.saturating_add(millis(settings.ttl));
            let key_id = store_key(store, owner, &secret, now, expires_at).await?;
            let service_account_id = account.id;
            let outcome = BootstrapOutcome::Created {
                key_id,
                service_account_id,
                revoked,
            };
            (outcome, key_id, expires_at)
        }
    };
    let grant = RoleGrant {
        role: Role::GroupAdmin,
        entity_id: None,
    };
    if !store.roles(owner).await?.contains(&grant) {
        let detail = json!({"role": grant.role});
        let event = system_event(AuditAction::RoleGrant, detail);
        store.grant_role(owner, grant, &event).await?;
    }
    directory.insert(
        KeySecret::from_operator(secret).hash(),
        Principal {
            key_id: Some(key_id),
            owner,
            entity_id: None,
            entity_slug: None,
            roles: vec![grant],
            classification: None,
            models: None,
            expires_at: Some(expires_at),
            priority: None,
        },
    );
    tracing::info!(%key_id, ?outcome, "bootstrap administrator key from FABRIQUE_ADMIN_KEY");
    Ok(outcome)
}

/// Whether `secret` is the one whose slow hash `key` keeps.
fn verifies(secret: &str, key: &OperatorKey) -> bool {
    key.secret_kdf
        .as_deref()
        .and_then(|phc| PasswordHash::new(phc).ok())
        .is_some_and(|hash| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &hash)
                .is_ok()
        })
}

/// Revokes the account's other keys (FABRIQUE_ADMIN_KEY changed): from memory first, then in the
/// store, each audited.
async fn revoke_all(
    store: &Store,
    directory: &Directory,
    live: &[OperatorKey],
    now: UnixMillis,
) -> Result<usize, StoreError> {
    for key in live {
        directory.revoke(key.id);
        let event = system_event(AuditAction::KeyRevoke, json!({"reason": "rotated"}));
        store.revoke_key(key.id, now, &event).await?;
    }
    Ok(live.len())
}

/// Stores the bootstrap key: a random placeholder's hash and a generated display id in the key
/// row, the secret's Argon2id hash beside it.
async fn store_key(
    store: &Store,
    owner: KeyOwner,
    secret: &str,
    now: UnixMillis,
    expires_at: UnixMillis,
) -> Result<KeyId, BootstrapError> {
    let salt = SaltString::generate(&mut OsRng);
    let kdf = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| BootstrapError::Hash(e.to_string()))?
        .to_string();
    let mut key = ApiKey::issue(owner, None, &KeySecret::generate(), now);
    key.expires_at = Some(expires_at);
    let detail = json!({"owner": owner, "name": "bootstrap", "expires_at": expires_at});
    let event = system_event(AuditAction::KeyCreate, detail);
    store
        .create_operator_key(&key, Some("bootstrap"), &kdf, &event)
        .await?;
    Ok(key.id)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// An audit event for Fabrique's own action; the store fills in the target.
fn system_event(action: AuditAction, detail: serde_json::Value) -> AuditEvent {
    AuditEvent::system(action, detail.to_string())
}
