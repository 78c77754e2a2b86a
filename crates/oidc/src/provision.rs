//! From a verified identity to a Fabrique user: the in-memory user index first, and — only for a
//! user never seen before, when `jit_provisioning` is on — one store write that creates the user
//! with its audit event, after which the index knows them.

use std::sync::Arc;

use domain::{AuditAction, AuditEvent, KeyOwner, Outcome, now_millis};
use identity::{Directory, UserRecord};
use store::{NewUser, Store, StoreError, UserIdentity};

use crate::claims::Identity;
use access::SignInError;

/// The indexed user the identity names, created first when allowed. Suspension is the caller's
/// business (it may still want to audit the attempt).
pub(crate) async fn user_of(
    directory: &Directory,
    store: &Store,
    jit_provisioning: bool,
    identity: &Identity,
) -> Result<Arc<UserRecord>, SignInError> {
    if let Some(user) = directory.user(&identity.user_name) {
        return Ok(user);
    }
    if !jit_provisioning {
        return Err(SignInError::UnknownUser(identity.user_name.clone()));
    }
    let slug = identity.entity_slug.as_deref().ok_or_else(|| {
        SignInError::NoEntity(
            identity.user_name.clone(),
            "the claims name none and no default entity is configured".to_owned(),
        )
    })?;
    let entity = store.entity_by_slug(slug).await?.ok_or_else(|| {
        SignInError::NoEntity(
            identity.user_name.clone(),
            format!("the entity `{slug}` does not exist"),
        )
    })?;
    let new = NewUser {
        entity_id: entity.id,
        user_name: identity.user_name.clone(),
        email: identity.email.clone().unwrap_or_default(),
        display_name: identity.display_name.clone(),
        external_id: Some(identity.subject.clone()),
    };
    let audit = AuditEvent {
        at: now_millis(),
        actor: "oidc".to_owned(),
        action: AuditAction::UserCreate,
        entity_id: Some(entity.id),
        target: String::new(),
        outcome: Outcome::Success,
        detail: serde_json::json!({"user_name": new.user_name, "source": "jit_provisioning"})
            .to_string(),
    };
    let user = match store.create_user(&new, &audit).await {
        Ok(user) => user,
        // Another request provisioned the same user first: theirs is the user.
        Err(StoreError::Conflict(_)) => store
            .user_by_name(&new.user_name)
            .await?
            .ok_or_else(|| SignInError::UnknownUser(new.user_name.clone()))?,
        Err(error) => return Err(error.into()),
    };
    tracing::info!(user_id = %user.id, entity = %entity.slug, "user provisioned at first sign-in");
    let roles = store.roles(KeyOwner::User(user.id)).await?;
    let record = UserRecord::from_identity(&UserIdentity {
        user,
        entity_slug: entity.slug,
        entity_status: entity.status,
        roles,
    });
    directory.upsert_user(&identity.user_name, record);
    directory
        .user(&identity.user_name)
        .ok_or_else(|| SignInError::UnknownUser(identity.user_name.clone()))
}

/// Refuses a suspended user (or a user of a suspended entity).
pub(crate) fn require_active(user: &UserRecord, user_name: &str) -> Result<(), SignInError> {
    if user.is_active() {
        Ok(())
    } else {
        Err(SignInError::UserSuspended(user_name.to_owned()))
    }
}
