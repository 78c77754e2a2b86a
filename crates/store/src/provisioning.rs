//! Users as the corporate directory provisions them: the product's columns plus the directory's
//! other attributes, kept as a JSON object in text form. Creation, change, suspension and deletion
//! all pass through here, each with its audit event in the same transaction. Suspension and
//! deletion release the user's seat in that same transaction (with a `seat.release` event);
//! assignment is decided in memory by `seats::Seats` and written by `record_seat_changes`.
//!
//! Deletion is soft: the row stays (usage and audit keep naming it) with `deleted_at` set, its
//! team memberships and sign-in bindings are removed and its API keys revoked; its user name is
//! free for a new user, and its identity provider account for a user provisioned again.

use domain::{AuditEvent, EntityId, KeyId, SignInSubject, Status, User, UserId, now_millis};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::audit::insert_targeted;
use crate::codec::{int, opt_text, parsed, status, text};
use crate::narrowing::{Listing, Page, Table, fold, paged_select};
use crate::user_search::write_search_words;
use crate::{Store, StoreError};

/// A user with everything SCIM shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedUser {
    pub user: User,
    /// The attributes kept without columns: a JSON object in text form.
    pub attributes: String,
    pub updated_at: domain::UnixMillis,
    /// Raised by every change; the SCIM ETag.
    pub version: i64,
}

/// A user's changeable fields, as a replacement writes them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFields {
    pub user_name: String,
    pub email: String,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub status: Status,
    pub attributes: String,
}

const PROVISIONED_COLUMNS: &str = "id, entity_id, user_name, email, display_name, external_id, \
     status, created_at, attributes, updated_at, version";

/// What it takes to create a user; the store assigns the id, status (active) and creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub entity_id: EntityId,
    pub user_name: String,
    pub email: String,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
}

impl Store {
    /// Creates a user from the directory. [`StoreError::Conflict`] when the user name is taken by a
    /// user that is not deleted (compared case-insensitively).
    pub async fn create_provisioned_user(
        &self,
        new: &NewUser,
        status: Status,
        attributes: &str,
        audit: &AuditEvent,
    ) -> Result<ProvisionedUser, StoreError> {
        let user = self
            .insert_new_user(new, status, attributes, None, audit)
            .await?;
        Ok(ProvisionedUser {
            updated_at: user.created_at,
            user,
            attributes: attributes.to_owned(),
            version: 1,
        })
    }

    /// A new user with its attributes, bound to the identity provider's account `subject` when
    /// there is one, written with its audit event in one transaction: what an administrator, a
    /// directory (SCIM) and sign-in's just-in-time provisioning all create.
    pub(crate) async fn insert_new_user(
        &self,
        new: &NewUser,
        status: Status,
        attributes: &str,
        subject: Option<&SignInSubject>,
        audit: &AuditEvent,
    ) -> Result<User, StoreError> {
        let user = User {
            id: UserId::generate(),
            entity_id: new.entity_id,
            user_name: new.user_name.clone(),
            email: new.email.clone(),
            display_name: new.display_name.clone(),
            external_id: new.external_id.clone(),
            status,
            created_at: now_millis(),
        };
        let mut tx = self.pool.begin().await?;
        insert_user(&mut tx, &user, attributes).await?;
        if let Some(subject) = subject {
            crate::subjects::insert_subject(&mut tx, user.id, subject).await?;
        }
        insert_targeted(&mut tx, audit, user.id.to_string(), Some(user.entity_id)).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// A user that is not deleted, with its attributes.
    pub async fn provisioned_user(
        &self,
        id: UserId,
    ) -> Result<Option<ProvisionedUser>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PROVISIONED_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(provisioned_row).transpose()
    }

    /// Replaces every changeable field of user `id`, provided it is still at `version`.
    /// [`StoreError::NotFound`] when the user does not exist or is deleted,
    /// [`StoreError::VersionMismatch`] when it changed since it was read,
    /// [`StoreError::Conflict`] when the new user name is taken.
    pub async fn replace_provisioned_user(
        &self,
        id: UserId,
        version: i64,
        fields: &UserFields,
        audit: &AuditEvent,
    ) -> Result<ProvisionedUser, StoreError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE users SET user_name = $1, user_name_folded = $2, email = $3, email_folded = $4, \
             display_name = $5, display_name_folded = $6, external_id = $7, status = $8, \
             attributes = $9, updated_at = $10, version = version + 1 \
             WHERE id = $11 AND version = $12 AND deleted_at IS NULL",
        )
        .bind(fields.user_name.as_str())
        .bind(fold(&fields.user_name))
        .bind(fields.email.as_str())
        .bind(fold(&fields.email))
        .bind(fields.display_name.clone())
        .bind(fields.display_name.as_deref().map(fold))
        .bind(fields.external_id.clone())
        .bind(fields.status.as_str())
        .bind(fields.attributes.as_str())
        .bind(now)
        .bind(id.to_string())
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            StoreError::from_write(e, || name_taken(&fields.user_name))
        })?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(self.missing_or_changed("user", &id.to_string()).await?);
        }
        let attributes = (
            fields.user_name.as_str(),
            fields.display_name.as_deref(),
            fields.email.as_str(),
        );
        write_search_words(&mut tx, &id.to_string(), attributes).await?;
        let row = sqlx::query(&format!(
            "SELECT {PROVISIONED_COLUMNS} FROM users WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let user = provisioned_row(&row)?;
        insert_targeted(&mut tx, audit, id.to_string(), Some(user.user.entity_id)).await?;
        if user.user.status == Status::Suspended {
            crate::seats::release_in(&mut tx, id, user.user.entity_id, audit, "suspended").await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    /// Deletes user `id` (softly, see the module documentation), revokes its keys and removes it
    /// from its teams. Returns the keys revoked, for the caller to drop from the key directory.
    /// [`StoreError::NotFound`] when the user does not exist or is already deleted.
    pub async fn delete_provisioned_user(
        &self,
        id: UserId,
        audit: &AuditEvent,
    ) -> Result<Vec<KeyId>, StoreError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let entity: Option<String> = sqlx::query_scalar(
            "UPDATE users SET deleted_at = $1, updated_at = $1, version = version + 1 \
             WHERE id = $2 AND deleted_at IS NULL RETURNING entity_id",
        )
        .bind(now)
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(entity) = entity else {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("no user with id `{id}`")));
        };
        let keys: Vec<String> = sqlx::query_scalar(
            "UPDATE api_keys SET revoked_at = $1 \
             WHERE owner_kind = 'user' AND owner_id = $2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        // A deleted user is found by no search.
        sqlx::query("DELETE FROM user_search_words WHERE user_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM team_members WHERE user_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        crate::subjects::delete_subjects_of(&mut tx, id).await?;
        let entity = crate::codec::parse("entity_id", &entity)?;
        insert_targeted(&mut tx, audit, id.to_string(), Some(entity)).await?;
        crate::seats::release_in(&mut tx, id, entity, audit, "deprovisioned").await?;
        tx.commit().await?;
        keys.iter()
            .map(|key| crate::codec::parse("id", key))
            .collect()
    }

    /// The users a listing selects (never deleted ones).
    pub async fn list_provisioned_users(
        &self,
        listing: &Listing,
    ) -> Result<Page<ProvisionedUser>, StoreError> {
        paged_select(
            &self.pool,
            Table::Users,
            PROVISIONED_COLUMNS,
            listing,
            provisioned_row,
        )
        .await
    }

    /// Why an update touched no row: the row is missing (or deleted), or its version moved on.
    pub(crate) async fn missing_or_changed(
        &self,
        what: &str,
        id: &str,
    ) -> Result<StoreError, StoreError> {
        let table = if what == "team" { "teams" } else { "users" };
        let deleted = if what == "team" {
            ""
        } else {
            " AND deleted_at IS NULL"
        };
        let exists: Option<String> =
            sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE id = $1{deleted}"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match exists {
            Some(_) => StoreError::VersionMismatch(format!("{what} `{id}` changed meanwhile")),
            None => StoreError::NotFound(format!("no {what} with id `{id}`")),
        })
    }
}

pub(crate) fn user_row(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: parsed(row, "id")?,
        entity_id: parsed(row, "entity_id")?,
        user_name: text(row, "user_name")?,
        email: text(row, "email")?,
        display_name: opt_text(row, "display_name")?,
        external_id: opt_text(row, "external_id")?,
        status: status(row, "status")?,
        created_at: int(row, "created_at")?,
    })
}

/// Inserts a user row, its folded columns filled from its fields.
pub(crate) async fn insert_user(
    conn: &mut AnyConnection,
    user: &User,
    attributes: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, entity_id, user_name, email, display_name, external_id, status, \
         created_at, user_name_folded, email_folded, display_name_folded, attributes, updated_at, \
         version, deleted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, NULL)",
    )
    .bind(user.id.to_string())
    .bind(user.entity_id.to_string())
    .bind(user.user_name.as_str())
    .bind(user.email.as_str())
    .bind(user.display_name.clone())
    .bind(user.external_id.clone())
    .bind(user.status.as_str())
    .bind(user.created_at)
    .bind(fold(&user.user_name))
    .bind(fold(&user.email))
    .bind(user.display_name.as_deref().map(fold))
    .bind(attributes)
    .bind(user.created_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::from_write(e, || name_taken(&user.user_name)))?;
    let attributes = (
        user.user_name.as_str(),
        user.display_name.as_deref(),
        user.email.as_str(),
    );
    write_search_words(conn, &user.id.to_string(), attributes).await
}

/// The conflict of a user name already held. User names are one namespace for the whole group
/// (they are the people's sign-in identities), so a name may be held in another entity: the answer
/// is the same wherever it is held and names no entity, so a caller learns nothing from it beyond
/// what any group-wide name implies (that a name absent from their own entity is used elsewhere).
fn name_taken(user_name: &str) -> String {
    format!(
        "user name `{user_name}` is not available: user names are unique across the group, in every entity"
    )
}

fn provisioned_row(row: &AnyRow) -> Result<ProvisionedUser, StoreError> {
    Ok(ProvisionedUser {
        user: user_row(row)?,
        attributes: text(row, "attributes")?,
        updated_at: int(row, "updated_at")?,
        version: int(row, "version")?,
    })
}
