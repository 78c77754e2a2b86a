//! From a verified identity to a Fabrique user, bound to the provider's account.
//!
//! A user is found by the account (`iss`, `sub`) they are bound to. A user not yet bound to an
//! account of this issuer is found by user name and bound at this first sign-in (one store write,
//! audited `user.bind`); a user the index does not know is created when `jit_provisioning` is on,
//! bound in the same transaction. A user bound to another account is refused, however the token
//! names them, and so is a user of another entity than the one the claims name. The record is
//! always the stored user's own, their entity's slug and status included, never the claims'.

use std::sync::Arc;

use access::SignInError;
use configuration::OidcConfig;
use domain::{AuditAction, AuditEvent, KeyOwner, Outcome, SignInSubject, now_millis};
use identity::{Directory, UserRecord};
use store::{NewUser, Store, StoreError, UserIdentity};

use crate::claims::Identity;

/// The indexed user the identity stands for, bound or created first when allowed. Suspension is
/// the caller's business (it may still want to audit the attempt).
pub(crate) async fn user_of(
    directory: &Directory,
    store: &Store,
    settings: &OidcConfig,
    identity: &Identity,
) -> Result<Arc<UserRecord>, SignInError> {
    let subject = SignInSubject {
        issuer: settings.issuer.clone(),
        subject: identity.subject.clone(),
    };
    if let Some(user) = directory.user_by_subject(&subject) {
        require_entity(&user, identity)?;
        return Ok(user);
    }
    match directory.user(&identity.user_name) {
        Some(user) => bind(directory, store, &user, subject, identity).await,
        None if settings.jit_provisioning => provision(directory, store, subject, identity).await,
        None => Err(SignInError::UnknownUser(identity.user_name.clone())),
    }
}

/// Refuses a suspended user (or a user of a suspended entity).
pub(crate) fn require_active(user: &UserRecord) -> Result<(), SignInError> {
    if user.is_active() {
        Ok(())
    } else {
        Err(SignInError::UserSuspended(user.user_name.to_string()))
    }
}

/// Refuses a user of another entity than the one the claims name, when they name one.
fn require_entity(user: &UserRecord, identity: &Identity) -> Result<(), SignInError> {
    match &identity.claimed_entity {
        Some(claimed) if claimed.as_str() != &*user.entity_slug => {
            Err(SignInError::EntityMismatch {
                user_name: user.user_name.to_string(),
                claimed: claimed.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// Binds `user`, found by name, to the token's account: their first sign-in with this issuer.
async fn bind(
    directory: &Directory,
    store: &Store,
    user: &UserRecord,
    subject: SignInSubject,
    identity: &Identity,
) -> Result<Arc<UserRecord>, SignInError> {
    require_entity(user, identity)?;
    if user.subject_of(&subject.issuer).is_some() {
        return Err(SignInError::SubjectMismatch(user.user_name.to_string()));
    }
    let audit = AuditEvent {
        at: now_millis(),
        actor: user.id.to_string(),
        action: AuditAction::UserBind,
        entity_id: Some(user.entity_id),
        target: user.id.to_string(),
        outcome: Outcome::Success,
        detail: serde_json::json!({
            "user_name": &*user.user_name,
            "issuer": subject.issuer,
            "subject": subject.subject,
        })
        .to_string(),
    };
    match store.bind_subject(user.id, &subject, &audit).await {
        Ok(()) => {}
        // Bound meanwhile by another request or replica: to this account, or to another.
        Err(StoreError::Conflict(_)) => {
            if store.subject_user(&subject).await? != Some(user.id) {
                return Err(SignInError::SubjectMismatch(user.user_name.to_string()));
            }
        }
        Err(error) => return Err(error.into()),
    }
    tracing::info!(user_id = %user.id, issuer = %subject.issuer, "user bound at first sign-in");
    let mut subjects = user.subjects.clone();
    subjects.push(subject);
    directory.upsert_user(UserRecord {
        subjects,
        ..user.clone()
    });
    directory
        .user_by_id(user.id)
        .ok_or_else(|| SignInError::UnknownUser(user.user_name.to_string()))
}

/// Creates the user of a first sign-in, bound to its account, in the entity the claims (or the
/// default) give.
async fn provision(
    directory: &Directory,
    store: &Store,
    subject: SignInSubject,
    identity: &Identity,
) -> Result<Arc<UserRecord>, SignInError> {
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
    let user = match store
        .create_user_bound_to(&new, Some(&subject), &audit)
        .await
    {
        Ok(user) => user,
        // The name was taken first (by another request, or by a user this index does not hold
        // yet): that user is found as they are stored, in their own entity, and bound if they
        // may be.
        Err(StoreError::Conflict(_)) => {
            let stored = store
                .user_identity_by_name(&new.user_name)
                .await?
                .ok_or_else(|| SignInError::UnknownUser(new.user_name.clone()))?;
            let record = UserRecord::from_identity(&stored);
            directory.upsert_user(record.clone());
            if record.subject_of(&subject.issuer) == Some(&subject) {
                require_entity(&record, identity)?;
                return directory
                    .user_by_id(record.id)
                    .ok_or_else(|| SignInError::UnknownUser(new.user_name.clone()));
            }
            return bind(directory, store, &record, subject, identity).await;
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(user_id = %user.id, entity = %entity.slug, "user provisioned at first sign-in");
    let roles = store.roles(KeyOwner::User(user.id)).await?;
    let id = user.id;
    directory.upsert_user(UserRecord::from_identity(&UserIdentity {
        user,
        entity_slug: entity.slug,
        entity_status: entity.status,
        roles,
        subjects: vec![subject],
    }));
    directory
        .user_by_id(id)
        .ok_or_else(|| SignInError::UnknownUser(new.user_name.clone()))
}
