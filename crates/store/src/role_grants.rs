//! Role grants as administrators see them: listed with who holds them, and taken back.
//!
//! Granting is [`Store::grant_role`] (`principals.rs`), shared with the bootstrap and the tests.
//! Taking back the last group-wide `group_admin` is refused in the revocation's transaction, so
//! no sequence of revocations, however concurrent, leaves the group without an administrator
//! (on PostgreSQL such revocations take one advisory lock, so they count one after the other).

use domain::{AuditEvent, EntityId, KeyOwner, Role, RoleGrant, UnixMillis};
use sqlx::any::AnyRow;

use crate::audit::insert_targeted;
use crate::codec::{int, opt_parsed, owner, owner_columns, role_grant, text};
use crate::{Backend, Store, StoreError, Window};

/// A role grant with its holder, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRole {
    pub holder: KeyOwner,
    /// The holder's user name, or service account name.
    pub holder_name: String,
    /// The holder's own entity (`None`: a group-level service account).
    pub holder_entity: Option<EntityId>,
    pub grant: RoleGrant,
    pub granted_at: UnixMillis,
}

/// Which grants a listing shows; every field narrows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleSelection {
    /// Grants over this entity, or held by a user or service account of it.
    pub entity: Option<EntityId>,
    /// Grants held by this principal.
    pub holder: Option<KeyOwner>,
}

impl Store {
    /// The grants `selection` picks, by holder name, role and entity, within `window`; deleted
    /// users' grants are not listed.
    pub async fn list_role_grants(
        &self,
        selection: RoleSelection,
        window: Window,
    ) -> Result<Vec<HeldRole>, StoreError> {
        let (holder_kind, holder_id) = match selection.holder.map(owner_columns) {
            Some((kind, id)) => (Some(kind), Some(id)),
            None => (None, None),
        };
        let sql = format!(
            "SELECT g.principal_kind, g.principal_id, g.role, g.entity_id, g.created_at, \
             COALESCE(u.user_name, s.name) AS holder_name, \
             COALESCE(u.entity_id, s.entity_id) AS holder_entity \
             FROM role_grants g \
             LEFT JOIN users u ON g.principal_kind = 'user' AND u.id = g.principal_id \
             LEFT JOIN service_accounts s ON g.principal_kind = 'service_account' AND s.id = g.principal_id \
             WHERE u.deleted_at IS NULL AND COALESCE(u.user_name, s.name) IS NOT NULL \
             AND ($1 IS NULL OR g.entity_id = $1 OR u.entity_id = $1 OR s.entity_id = $1) \
             AND ($2 IS NULL OR (g.principal_kind = $2 AND g.principal_id = $3)) \
             ORDER BY holder_name, g.role, g.entity_id{}",
            window.sql()
        );
        let rows = sqlx::query(&sql)
            .bind(selection.entity.map(|e| e.to_string()))
            .bind(holder_kind)
            .bind(holder_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(held_role).collect()
    }

    /// Takes `grant` back from `holder`, with its audit event (target: the holder's id), in one
    /// transaction. `false` (and no event) when the holder did not hold it;
    /// [`StoreError::Conflict`] when it is the last group-wide `group_admin`.
    pub async fn revoke_role(
        &self,
        holder: KeyOwner,
        grant: RoleGrant,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let (kind, id) = owner_columns(holder);
        let last_admin_at_stake = grant.role == Role::GroupAdmin && grant.entity_id.is_none();
        let mut tx = self.pool.begin().await?;
        if last_admin_at_stake && self.backend == Backend::Postgres {
            // Two revocations of two group administrators each see the other's row still there
            // under READ COMMITTED; this lock makes them count one after the other.
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext('group_admin'))",
            )
            .execute(&mut *tx)
            .await?;
        }
        // The delete comes first: on SQLite a transaction whose first statement writes waits for
        // the lock, where one that reads first fails if another writer committed meanwhile.
        let deleted = sqlx::query(
            "DELETE FROM role_grants WHERE principal_kind = $1 AND principal_id = $2 \
             AND role = $3 AND COALESCE(entity_id, '') = $4",
        )
        .bind(kind)
        .bind(id.as_str())
        .bind(grant.role.as_str())
        .bind(grant.entity_id.map(|e| e.to_string()).unwrap_or_default())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        if last_admin_at_stake {
            let left: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM role_grants WHERE role = $1 AND entity_id IS NULL",
            )
            .bind(Role::GroupAdmin.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if left == 0 {
                tx.rollback().await?;
                return Err(StoreError::Conflict(
                    "this is the group's last group administrator: grant the role to someone else first"
                        .to_owned(),
                ));
            }
        }
        insert_targeted(&mut tx, audit, id, grant.entity_id).await?;
        tx.commit().await?;
        Ok(true)
    }
}

fn held_role(row: &AnyRow) -> Result<HeldRole, StoreError> {
    Ok(HeldRole {
        holder: owner(&text(row, "principal_kind")?, &text(row, "principal_id")?)?,
        holder_name: text(row, "holder_name")?,
        holder_entity: opt_parsed(row, "holder_entity")?,
        grant: role_grant(row)?,
        granted_at: int(row, "created_at")?,
    })
}
