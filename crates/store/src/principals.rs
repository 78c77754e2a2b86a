//! Entities and the principals inside them: users, service accounts and their role grants.

use domain::{
    AuditEvent, Entity, EntityId, KeyOwner, RoleGrant, ServiceAccount, ServiceAccountId,
    SignInSubject, Status, User, UserId, now_millis,
};
use std::collections::HashMap;

use futures_util::TryStreamExt;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::audit::{insert_audit, insert_targeted, targeted};
use crate::codec::{int, opt_parsed, owner_columns, parsed, role_grant, status, text};
use crate::narrowing::EntityListing;
use crate::provisioning::{NewUser, user_row};
use crate::{Store, StoreError, Window};

/// A user with what authenticating them needs: their entity's slug and status, their roles, and
/// the identity provider's accounts they are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIdentity {
    pub user: User,
    pub entity_slug: String,
    pub entity_status: Status,
    pub roles: Vec<RoleGrant>,
    pub subjects: Vec<SignInSubject>,
}

const ENTITY_COLUMNS: &str = "id, slug, name, status, created_at";
const USER_COLUMNS: &str =
    "id, entity_id, user_name, email, display_name, external_id, status, created_at";
const SERVICE_ACCOUNT_COLUMNS: &str = "id, entity_id, name, status, created_at";

impl Store {
    /// Creates an active entity. The audit event's target becomes the new id and its entity the
    /// new entity. [`StoreError::Conflict`] when the slug is taken.
    pub async fn create_entity(
        &self,
        slug: &str,
        name: &str,
        audit: &AuditEvent,
    ) -> Result<Entity, StoreError> {
        let entity = Entity {
            id: EntityId::generate(),
            slug: slug.to_owned(),
            name: name.to_owned(),
            status: Status::Active,
            created_at: now_millis(),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO entities (id, slug, name, status, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(entity.id.to_string())
        .bind(entity.slug.as_str())
        .bind(entity.name.as_str())
        .bind(entity.status.as_str())
        .bind(entity.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            StoreError::from_write(e, || format!("entity slug `{slug}` already exists"))
        })?;
        insert_targeted(&mut tx, audit, entity.id.to_string(), Some(entity.id)).await?;
        tx.commit().await?;
        Ok(entity)
    }

    /// Every entity, by slug.
    pub async fn list_entities(&self) -> Result<Vec<Entity>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTITY_COLUMNS} FROM entities ORDER BY slug"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entity_row).collect()
    }

    pub async fn entity_by_slug(&self, slug: &str) -> Result<Option<Entity>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENTITY_COLUMNS} FROM entities WHERE slug = $1"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(entity_row).transpose()
    }

    pub async fn entity(&self, id: EntityId) -> Result<Option<Entity>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENTITY_COLUMNS} FROM entities WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(entity_row).transpose()
    }

    /// Suspends or reactivates the entity, with its audit event, in one transaction; suspension
    /// releases the seats its users hold (each a `seat.release` event, cause `entity_suspended`).
    /// `false` (and no event) when it already had that status or does not exist.
    pub async fn set_entity_status(
        &self,
        id: EntityId,
        status: Status,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query("UPDATE entities SET status = $1 WHERE id = $2 AND status <> $1")
            .bind(status.as_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if changed {
            let event = targeted(audit, id.to_string(), Some(id));
            insert_audit(&mut tx, &event).await?;
            if status == Status::Suspended {
                crate::seats::release_entity_in(&mut tx, id, &event, "entity_suspended").await?;
            }
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Creates an active user. [`StoreError::Conflict`] when the user name is taken,
    /// [`StoreError::NotFound`] when the entity does not exist.
    pub async fn create_user(&self, new: &NewUser, audit: &AuditEvent) -> Result<User, StoreError> {
        self.create_user_bound_to(new, None, audit).await
    }

    /// [`Store::create_user`], bound at once to the identity provider's account `subject` when
    /// there is one (sign-in's just-in-time provisioning), in the same transaction.
    pub async fn create_user_bound_to(
        &self,
        new: &NewUser,
        subject: Option<&SignInSubject>,
        audit: &AuditEvent,
    ) -> Result<User, StoreError> {
        self.insert_new_user(new, Status::Active, "{}", subject, audit)
            .await
    }

    /// A user that is not deleted.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// The user whose user name is `user_name`.
    pub async fn user_by_name(&self, user_name: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE user_name = $1 AND deleted_at IS NULL"
        ))
        .bind(user_name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// Every user with their entity, roles and subjects, for the in-memory user index: three
    /// queries whatever the number of users.
    pub async fn user_identities(&self) -> Result<Vec<UserIdentity>, StoreError> {
        self.identities(None).await
    }

    /// The user named `user_name` (compared case-insensitively, as names are unique) with their
    /// own entity, roles and subjects; `None` when there is none or they are deleted.
    pub async fn user_identity_by_name(
        &self,
        user_name: &str,
    ) -> Result<Option<UserIdentity>, StoreError> {
        Ok(self.identities(Some(user_name)).await?.pop())
    }

    /// The identities of every user, or of the one named `user_name`.
    async fn identities(&self, user_name: Option<&str>) -> Result<Vec<UserIdentity>, StoreError> {
        let folded = user_name.map(crate::fold);
        let mut roles = self.user_roles(folded.as_deref()).await?;
        let mut subjects = self.user_subjects(folded.as_deref()).await?;
        // Streamed: 100,000 users are never all held as rows at once.
        let mut rows = sqlx::query(
            "SELECT u.id, u.entity_id, u.user_name, u.email, u.display_name, u.external_id, \
             u.status, u.created_at, e.slug AS entity_slug, e.status AS entity_status \
             FROM users u JOIN entities e ON e.id = u.entity_id \
             WHERE u.deleted_at IS NULL AND ($1 IS NULL OR u.user_name_folded = $1) \
             ORDER BY u.user_name",
        )
        .bind(folded.clone())
        .fetch(&self.pool);
        let mut identities = Vec::new();
        while let Some(row) = rows.try_next().await? {
            let user = user_row(&row)?;
            let id = user.id.to_string();
            identities.push(UserIdentity {
                roles: roles.remove(&id).unwrap_or_default(),
                subjects: subjects.remove(&id).unwrap_or_default(),
                entity_slug: text(&row, "entity_slug")?,
                entity_status: status(&row, "entity_status")?,
                user,
            });
        }
        Ok(identities)
    }

    /// Users' role grants by user id: every user's, or the one named (folded) `user_name`'s.
    async fn user_roles(
        &self,
        user_name: Option<&str>,
    ) -> Result<HashMap<String, Vec<RoleGrant>>, StoreError> {
        let grants = sqlx::query(
            "SELECT g.principal_id, g.role, g.entity_id FROM role_grants g \
             WHERE g.principal_kind = $1 AND ($2 IS NULL OR g.principal_id IN \
             (SELECT id FROM users WHERE user_name_folded = $2 AND deleted_at IS NULL))",
        )
        .bind(crate::codec::OWNER_USER)
        .bind(user_name)
        .fetch_all(&self.pool)
        .await?;
        let mut roles: HashMap<String, Vec<RoleGrant>> = HashMap::new();
        for row in &grants {
            roles
                .entry(text(row, "principal_id")?)
                .or_default()
                .push(role_grant(row)?);
        }
        Ok(roles)
    }

    /// Users of one entity, or of all, by user name, within `window`; deleted users are not
    /// listed.
    pub async fn list_users(
        &self,
        entity: Option<EntityId>,
        window: Window,
    ) -> Result<Vec<User>, StoreError> {
        EntityListing {
            select: &format!("SELECT {USER_COLUMNS} FROM users"),
            condition: Some("deleted_at IS NULL"),
            entity_column: "entity_id",
            order: "user_name",
        }
        .fetch(&self.pool, entity, window, user_row)
        .await
    }

    /// The service account `name` of `entity_id` (or of the group when `None`), created when
    /// missing. The audit event is written only when the account is created.
    pub async fn service_account_get_or_create(
        &self,
        entity_id: Option<EntityId>,
        name: &str,
        audit: &AuditEvent,
    ) -> Result<ServiceAccount, StoreError> {
        // Looked up outside the transaction: on SQLite a transaction that reads and then writes
        // fails at once (busy snapshot) if another writer committed in between; one whose first
        // statement writes waits for the lock instead.
        if let Some(existing) =
            find_service_account(&mut *self.pool.acquire().await?, entity_id, name).await?
        {
            return Ok(existing);
        }
        let mut tx = self.pool.begin().await?;
        let account = ServiceAccount {
            id: ServiceAccountId::generate(),
            entity_id,
            name: name.to_owned(),
            status: Status::Active,
            created_at: now_millis(),
        };
        // ON CONFLICT: a concurrent creator may have won since the lookup; then we return theirs.
        let inserted = sqlx::query(
            "INSERT INTO service_accounts (id, entity_id, name, status, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(account.id.to_string())
        .bind(entity_id.map(|id| id.to_string()))
        .bind(name)
        .bind(account.status.as_str())
        .bind(account.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, || format!("service account `{name}` already exists")))?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            let mut conn = self.pool.acquire().await?;
            return find_service_account(&mut conn, entity_id, name)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("service account `{name}`")));
        }
        insert_targeted(&mut tx, audit, account.id.to_string(), entity_id).await?;
        tx.commit().await?;
        Ok(account)
    }

    pub async fn service_account(
        &self,
        id: ServiceAccountId,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(service_account_row).transpose()
    }

    /// Grants `grant` to `owner`; granting a role already held changes nothing (and is still
    /// audited, as the request was made). The audit target is the owner's id.
    pub async fn grant_role(
        &self,
        owner: KeyOwner,
        grant: RoleGrant,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (kind, id) = owner_columns(owner);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO role_grants (principal_kind, principal_id, role, entity_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(kind)
        .bind(id.as_str())
        .bind(grant.role.as_str())
        .bind(grant.entity_id.map(|e| e.to_string()))
        .bind(now_millis())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, || format!("role already granted to {id}")))?;
        let entity = audit.entity_id.or(grant.entity_id);
        insert_targeted(&mut tx, audit, id, entity).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The roles `owner` holds.
    pub async fn roles(&self, owner: KeyOwner) -> Result<Vec<RoleGrant>, StoreError> {
        let (kind, id) = owner_columns(owner);
        let rows = sqlx::query(
            "SELECT role, entity_id FROM role_grants WHERE principal_kind = $1 AND principal_id = $2 \
             ORDER BY role, entity_id",
        )
        .bind(kind)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(role_grant).collect()
    }

    /// Whether any principal holds `group_admin` for the whole group: the bootstrap's question.
    pub async fn has_group_admin(&self) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM role_grants WHERE role = $1 AND entity_id IS NULL",
        )
        .bind(domain::Role::GroupAdmin.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(count > 0)
    }
}

async fn find_service_account(
    conn: &mut AnyConnection,
    entity_id: Option<EntityId>,
    name: &str,
) -> Result<Option<ServiceAccount>, StoreError> {
    let row = match entity_id {
        Some(entity) => {
            sqlx::query(&format!(
                "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE entity_id = $1 AND name = $2"
            ))
            .bind(entity.to_string())
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE entity_id IS NULL AND name = $1"
            ))
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    row.as_ref().map(service_account_row).transpose()
}

fn entity_row(row: &AnyRow) -> Result<Entity, StoreError> {
    Ok(Entity {
        id: parsed(row, "id")?,
        slug: text(row, "slug")?,
        name: text(row, "name")?,
        status: status(row, "status")?,
        created_at: int(row, "created_at")?,
    })
}

fn service_account_row(row: &AnyRow) -> Result<ServiceAccount, StoreError> {
    Ok(ServiceAccount {
        id: parsed(row, "id")?,
        entity_id: opt_parsed(row, "entity_id")?,
        name: text(row, "name")?,
        status: status(row, "status")?,
        created_at: int(row, "created_at")?,
    })
}
