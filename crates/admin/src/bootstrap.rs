//! The first administrator. A fresh installation has no keys, so nobody could call the admin API;
//! the operator sets `FABRIQUE_ADMIN_KEY` and the first start turns that secret into a group
//! administrator's key. Later starts find a group administrator and do nothing.

use domain::{
    ApiKey, AuditAction, AuditEvent, KeyHash, KeyId, KeyOwner, KeySecret, Role, RoleGrant,
    ServiceAccountId, now_millis,
};
use identity::{Directory, Principal};
use serde_json::json;
use store::{Store, StoreError};

/// The group-level service account that holds the bootstrap key.
pub const BOOTSTRAP_ACCOUNT_NAME: &str = "bootstrap-admin";

/// Below this length an operator-chosen secret is guessable enough to deserve a warning.
const WEAK_SECRET_LEN: usize = 32;

/// What [`bootstrap_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapOutcome {
    /// No secret was given.
    NotRequested,
    /// A group administrator already exists; the secret was not used.
    AlreadyBootstrapped,
    /// The secret is now a group administrator's key, in the store and in the directory.
    Created {
        key_id: KeyId,
        service_account_id: ServiceAccountId,
    },
}

/// Makes `secret` a group administrator's key when no group administrator exists yet.
///
/// The steps (service account, key, role) run in an order that survives a crash between any two:
/// the role, whose existence ends the bootstrap for good, is granted last, and a key already
/// stored by an interrupted attempt is reused.
pub async fn bootstrap_admin(
    store: &Store,
    directory: &Directory,
    secret: Option<String>,
) -> Result<BootstrapOutcome, StoreError> {
    let Some(secret) = secret.filter(|s| !s.trim().is_empty()) else {
        return Ok(BootstrapOutcome::NotRequested);
    };
    if store.has_group_admin().await? {
        tracing::debug!("a group administrator exists; FABRIQUE_ADMIN_KEY is not used");
        return Ok(BootstrapOutcome::AlreadyBootstrapped);
    }
    if secret.len() < WEAK_SECRET_LEN {
        tracing::warn!(
            "FABRIQUE_ADMIN_KEY is shorter than {WEAK_SECRET_LEN} characters; prefer a long random secret"
        );
    }
    let secret = KeySecret::from_operator(secret);
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
    let key = stored_key(store, owner, &secret).await?;
    let grant = RoleGrant {
        role: Role::GroupAdmin,
        entity_id: None,
    };
    store
        .grant_role(
            owner,
            grant,
            &system_event(AuditAction::RoleGrant, json!({"role": grant.role})),
        )
        .await?;

    directory.insert(
        key.hash,
        Principal {
            key_id: Some(key.id),
            owner,
            entity_id: None,
            entity_slug: None,
            roles: vec![grant],
            classification: None,
            models: None,
            expires_at: None,
            priority: None,
        },
    );
    tracing::info!(key_id = %key.id, "bootstrap administrator key created from FABRIQUE_ADMIN_KEY");
    Ok(BootstrapOutcome::Created {
        key_id: key.id,
        service_account_id: account.id,
    })
}

/// The bootstrap key: created, or found from an interrupted earlier attempt.
async fn stored_key(
    store: &Store,
    owner: KeyOwner,
    secret: &KeySecret,
) -> Result<ApiKey, StoreError> {
    let hash: KeyHash = secret.hash();
    if let Some(existing) = store.key_by_hash(hash).await? {
        if existing.owner == owner && existing.revoked_at.is_none() {
            return Ok(existing);
        }
        return Err(StoreError::Conflict(
            "FABRIQUE_ADMIN_KEY is the secret of another (or a revoked) key; choose a new secret"
                .to_owned(),
        ));
    }
    let key = ApiKey::issue(owner, None, secret, now_millis());
    let detail = json!({"owner": owner, "display_prefix": key.display_prefix, "name": "bootstrap"});
    store
        .create_named_key(
            &key,
            Some("bootstrap"),
            &system_event(AuditAction::KeyCreate, detail),
        )
        .await?;
    Ok(key)
}

/// An audit event for Fabrique's own action; the store fills in the target.
fn system_event(action: AuditAction, detail: serde_json::Value) -> AuditEvent {
    AuditEvent::system(action, detail.to_string())
}
