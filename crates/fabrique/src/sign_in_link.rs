//! The bootstrap administrator's one-time sign-in link, printed by `fabrique serve` at start when
//! no identity provider is configured: the web's first user needs no directory.
//!
//! The link signs in the user `admin`, a group administrator; a fresh installation gets that user
//! (in an entity `group`, "Group", created for it when no entity exists) at its first start with
//! `FABRIQUE_ADMIN_KEY`. Every start mints a new link (15 minutes, once), audited
//! `auth.login_link.create` by `system`.

use std::sync::Arc;

use anyhow::Context;
use domain::{AuditAction, AuditEvent, KeyOwner, Role, RoleGrant, User};
use identity::{Directory, UserRecord};
use store::{NewUser, Store};

/// The bootstrap administrator's user name.
pub const ADMIN_USER_NAME: &str = "admin";

/// The entity a fresh installation's administrator belongs to.
const GROUP_ENTITY_SLUG: &str = "group";

/// Mints the link (creating the administrator's user first if needed); returns its path.
pub async fn bootstrap_link(store: &Store, directory: &Arc<Directory>) -> anyhow::Result<String> {
    let user = match store.user_by_name(ADMIN_USER_NAME).await? {
        Some(user) => user,
        None => create_admin(store, directory).await?,
    };
    admin::mint_login_link(store, user.id, user.entity_id)
        .await
        .context("minting the administrator's sign-in link")
}

async fn create_admin(store: &Store, directory: &Arc<Directory>) -> anyhow::Result<User> {
    let event = |action, detail: serde_json::Value| AuditEvent::system(action, detail.to_string());
    let entity = match store.list_entities().await?.into_iter().next() {
        Some(entity) => entity,
        None => {
            let detail = serde_json::json!({"slug": GROUP_ENTITY_SLUG, "reason": "bootstrap"});
            store
                .create_entity(
                    GROUP_ENTITY_SLUG,
                    "Group",
                    &event(AuditAction::EntityCreate, detail),
                )
                .await?
        }
    };
    let new = NewUser {
        entity_id: entity.id,
        user_name: ADMIN_USER_NAME.to_owned(),
        email: String::new(),
        display_name: Some("Administrator".to_owned()),
        external_id: None,
    };
    let detail = serde_json::json!({"user_name": ADMIN_USER_NAME, "reason": "bootstrap"});
    let user = store
        .create_user(&new, &event(AuditAction::UserCreate, detail))
        .await?;
    let grant = RoleGrant {
        role: Role::GroupAdmin,
        entity_id: None,
    };
    let detail = serde_json::json!({"role": grant.role});
    store
        .grant_role(
            KeyOwner::User(user.id),
            grant,
            &event(AuditAction::RoleGrant, detail),
        )
        .await?;
    directory.upsert_user(UserRecord {
        roles: vec![grant],
        ..UserRecord::created(&user, &entity)
    });
    Ok(user)
}
