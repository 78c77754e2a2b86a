//! API keys: only hashes are stored. Also the bulk load that builds the in-memory key index.

use std::collections::HashMap;

use futures_util::TryStreamExt;

use domain::{
    ApiKey, AuditEvent, EntityId, KeyHash, KeyId, KeyOwner, Priority, RoleGrant, Status, UnixMillis,
};
use sqlx::any::AnyRow;

use crate::audit::insert_targeted;
use crate::codec::{
    int, opt_int, opt_parsed, opt_status, opt_text, owner, owner_columns, parsed, role_grant, text,
};
use crate::narrowing::EntityListing;
use crate::{Store, StoreError, Window};

/// A live key with everything authentication needs, as loaded at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub key: ApiKey,
    pub entity_slug: Option<String>,
    pub owner_status: Status,
    pub entity_status: Option<Status>,
    pub roles: Vec<RoleGrant>,
}

/// A key as listed to administrators: the stored key, its optional label and the key that
/// replaced it by rotation, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListing {
    pub key: ApiKey,
    pub name: Option<String>,
    pub replaced_by: Option<KeyId>,
}

/// What became of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The new key is stored and the old one expires at the instant asked (or earlier, when it
    /// was already to expire sooner).
    Rotated,
    /// The old key is revoked or expired: nothing was changed.
    NotLive,
    /// The old key was rotated before; a key has at most one successor.
    AlreadyRotated,
}

const KEY_COLUMNS: &str = "id, owner_kind, owner_id, entity_id, name, hash, display_prefix, created_at, revoked_at, classification, \
     models, expires_at, priority, rotated_from, last_used_at";

/// `KEY_COLUMNS` of the table aliased `k`, with the successor of each key as `replaced_by`
/// (rotation refuses a second successor, so the join adds no row).
const LISTING_SELECT: &str = "SELECT k.id, k.owner_kind, k.owner_id, k.entity_id, k.name, k.hash, k.display_prefix, \
     k.created_at, k.revoked_at, k.classification, k.models, k.expires_at, k.priority, k.rotated_from, \
     k.last_used_at, r.id AS replaced_by \
     FROM api_keys k LEFT JOIN api_keys r ON r.rotated_from = k.id";

impl Store {
    /// Stores `key` (its hash, never a secret). The audit target is the key id.
    /// [`StoreError::Conflict`] when a key with the same hash or id exists.
    pub async fn create_key(&self, key: &ApiKey, audit: &AuditEvent) -> Result<(), StoreError> {
        self.create_named_key(key, None, audit).await
    }

    /// [`Store::create_key`] with a label chosen by the administrator.
    pub async fn create_named_key(
        &self,
        key: &ApiKey,
        name: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_key(&mut tx, key, name).await?;
        insert_targeted(&mut tx, audit, key.id.to_string(), key.entity_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks the key revoked at `at`. `false` (and nothing audited) when the key is unknown or
    /// already revoked.
    pub async fn revoke_key(
        &self,
        id: KeyId,
        at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.revoke(Revocable::ApiKey, id.to_string(), at, audit)
            .await
    }

    /// Mints `new` as the successor of key `old`, which stops working at `old_expires_at` (or
    /// earlier if it was to expire sooner): both with the audit event (target: the new key) in
    /// one transaction. `now` decides whether the old key is still live.
    pub async fn rotate_key(
        &self,
        old: KeyId,
        old_expires_at: UnixMillis,
        new: &ApiKey,
        name: Option<&str>,
        now: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The old key's row first: its lock makes concurrent rotations of one key take turns.
        let updated = sqlx::query(
            "UPDATE api_keys SET expires_at = CASE WHEN expires_at IS NOT NULL AND expires_at < $1 \
             THEN expires_at ELSE $1 END \
             WHERE id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(old_expires_at)
        .bind(old.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Rotation::NotLive);
        }
        let successor = sqlx::query("SELECT id FROM api_keys WHERE rotated_from = $1")
            .bind(old.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if successor.is_some() {
            tx.rollback().await?;
            return Ok(Rotation::AlreadyRotated);
        }
        insert_key(&mut tx, new, name).await?;
        insert_targeted(&mut tx, audit, new.id.to_string(), new.entity_id).await?;
        tx.commit().await?;
        Ok(Rotation::Rotated)
    }

    /// Stores when keys were last used, in one transaction; a stored time is never moved back.
    pub async fn record_key_use(&self, uses: &[(KeyId, UnixMillis)]) -> Result<(), StoreError> {
        let rows: Vec<(String, i64)> = uses.iter().map(|(k, at)| (k.to_string(), *at)).collect();
        crate::last_seen::record(self, "api_keys", "last_used_at", &rows).await
    }

    /// One key with its label and successor, revoked or not.
    pub async fn key_listing(&self, id: KeyId) -> Result<Option<KeyListing>, StoreError> {
        let row = sqlx::query(&format!("{LISTING_SELECT} WHERE k.id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(listing_row).transpose()
    }

    /// One key, revoked or not.
    pub async fn key(&self, id: KeyId) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_row).transpose()
    }

    /// The key with this hash, revoked or not.
    pub async fn key_by_hash(&self, hash: KeyHash) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1"
        ))
        .bind(hash.to_hex())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_row).transpose()
    }

    /// Keys of one entity, or all keys, revoked ones included, oldest first.
    pub async fn list_keys(&self, entity: Option<EntityId>) -> Result<Vec<ApiKey>, StoreError> {
        Ok(self
            .list_named_keys(entity, Window::ALL)
            .await?
            .into_iter()
            .map(|listing| listing.key)
            .collect())
    }

    /// [`Store::list_keys`] with each key's label, within `window`.
    pub async fn list_named_keys(
        &self,
        entity: Option<EntityId>,
        window: Window,
    ) -> Result<Vec<KeyListing>, StoreError> {
        EntityListing {
            select: LISTING_SELECT,
            condition: None,
            entity_column: "k.entity_id",
            order: "k.created_at, k.id",
        }
        .fetch(&self.pool, entity, window, listing_row)
        .await
    }

    /// Every non-revoked key with its owner's status, its entity and its owner's roles: two
    /// queries whatever the number of keys, joined in memory. Keys whose owner row is missing are
    /// skipped with a warning (the owner reference is polymorphic, so no foreign key guards it).
    pub async fn load_credentials(&self) -> Result<Vec<Credential>, StoreError> {
        self.credentials(Keys::All).await
    }

    /// [`Store::load_credentials`] for the keys of one owner: what a reactivated user's keys need
    /// to authenticate again.
    pub async fn credentials_of(&self, owner: KeyOwner) -> Result<Vec<Credential>, StoreError> {
        self.credentials(Keys::Owner(owner_columns(owner))).await
    }

    /// [`Store::load_credentials`] for the keys of one entity's users and service accounts: what
    /// they need to authenticate again once the entity is reactivated.
    pub async fn credentials_of_entity(
        &self,
        entity: EntityId,
    ) -> Result<Vec<Credential>, StoreError> {
        self.credentials(Keys::Entity(entity.to_string())).await
    }

    async fn credentials(&self, keys: Keys) -> Result<Vec<Credential>, StoreError> {
        let mut roles: HashMap<(String, String), Vec<RoleGrant>> = HashMap::new();
        let grant_rows = match &keys {
            Keys::Owner((kind, id)) => {
                sqlx::query(
                    "SELECT principal_kind, principal_id, role, entity_id FROM role_grants \
                     WHERE principal_kind = $1 AND principal_id = $2",
                )
                .bind(*kind)
                .bind(id.as_str())
                .fetch_all(&self.pool)
                .await?
            }
            Keys::All | Keys::Entity(_) => {
                sqlx::query("SELECT principal_kind, principal_id, role, entity_id FROM role_grants")
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        for row in &grant_rows {
            let principal = (text(row, "principal_kind")?, text(row, "principal_id")?);
            roles.entry(principal).or_default().push(role_grant(row)?);
        }
        drop(grant_rows);

        // A deleted user's keys are revoked with it; the join also treats the row as missing.
        let base = "SELECT k.id, k.owner_kind, k.owner_id, k.entity_id, k.name, k.hash, k.display_prefix, k.created_at, \
                    k.revoked_at, k.classification, k.models, k.expires_at, k.priority, k.rotated_from, \
                    k.last_used_at, e.slug AS entity_slug, e.status AS entity_status, \
                    COALESCE(u.status, s.status) AS owner_status \
             FROM api_keys k \
             LEFT JOIN entities e ON e.id = k.entity_id \
             LEFT JOIN users u ON k.owner_kind = 'user' AND u.id = k.owner_id AND u.deleted_at IS NULL \
             LEFT JOIN service_accounts s ON k.owner_kind = 'service_account' AND s.id = k.owner_id \
             WHERE k.revoked_at IS NULL";
        // Streamed: 100,000 keys are never all held as rows at once, only as credentials.
        let by_owner = format!("{base} AND k.owner_kind = $1 AND k.owner_id = $2");
        let by_entity = format!("{base} AND k.entity_id = $1");
        let query = match &keys {
            Keys::Owner((kind, id)) => sqlx::query(&by_owner).bind(*kind).bind(id.as_str()),
            Keys::Entity(entity) => sqlx::query(&by_entity).bind(entity.as_str()),
            Keys::All => sqlx::query(base),
        };
        let mut rows = query.fetch(&self.pool);
        let mut credentials = Vec::new();
        while let Some(row) = rows.try_next().await? {
            let key = key_row(&row)?;
            let Some(owner_status) = opt_status(&row, "owner_status")? else {
                tracing::warn!(key_id = %key.id, "skipping key whose owner does not exist");
                continue;
            };
            let principal = (text(&row, "owner_kind")?, text(&row, "owner_id")?);
            credentials.push(Credential {
                entity_slug: opt_text(&row, "entity_slug")?,
                entity_status: opt_status(&row, "entity_status")?,
                owner_status,
                roles: roles.get(&principal).cloned().unwrap_or_default(),
                key,
            });
        }
        Ok(credentials)
    }
}

/// Which live keys [`Store::credentials`] reads.
enum Keys {
    All,
    /// One owner's, as `owner_columns` gives it.
    Owner((&'static str, String)),
    /// One entity's, by id.
    Entity(String),
}

/// Writes one key row (its hash, never a secret).
pub(crate) async fn insert_key(
    tx: &mut sqlx::AnyConnection,
    key: &ApiKey,
    name: Option<&str>,
) -> Result<(), StoreError> {
    let (owner_kind, owner_id) = owner_columns(key.owner);
    sqlx::query(
        "INSERT INTO api_keys (id, owner_kind, owner_id, entity_id, name, hash, display_prefix, created_at, revoked_at, \
         classification, models, expires_at, priority, rotated_from, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(key.id.to_string())
    .bind(owner_kind)
    .bind(owner_id)
    .bind(key.entity_id.map(|e| e.to_string()))
    .bind(name.map(str::to_owned))
    .bind(key.hash.to_hex())
    .bind(key.display_prefix.as_str())
    .bind(key.created_at)
    .bind(key.revoked_at)
    .bind(key.classification.clone())
    .bind(key.models.as_ref().map(|models| models.join("\n")))
    .bind(key.expires_at)
    .bind(key.priority.map(|p| p.as_str()))
    .bind(key.rotated_from.map(|k| k.to_string()))
    .bind(key.last_used_at)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::from_write(e, || format!("key {} already exists", key.id)))?;
    Ok(())
}

fn listing_row(row: &AnyRow) -> Result<KeyListing, StoreError> {
    Ok(KeyListing {
        key: key_row(row)?,
        name: opt_text(row, "name")?,
        replaced_by: opt_parsed(row, "replaced_by")?,
    })
}

fn key_row(row: &AnyRow) -> Result<ApiKey, StoreError> {
    let hash = text(row, "hash")?;
    Ok(ApiKey {
        id: parsed(row, "id")?,
        owner: owner(&text(row, "owner_kind")?, &text(row, "owner_id")?)?,
        entity_id: opt_parsed(row, "entity_id")?,
        hash: KeyHash::from_hex(&hash)
            .ok_or_else(|| StoreError::Corrupt(format!("api key hash `{hash}`")))?,
        display_prefix: text(row, "display_prefix")?,
        created_at: int(row, "created_at")?,
        revoked_at: opt_int(row, "revoked_at")?,
        classification: opt_text(row, "classification")?,
        // Stored one per line: model names are configured names, which hold no line break.
        models: opt_text(row, "models")?.map(|models| models.lines().map(str::to_owned).collect()),
        expires_at: opt_int(row, "expires_at")?,
        priority: opt_text(row, "priority")?
            .map(|p| {
                Priority::parse(&p).ok_or_else(|| StoreError::Corrupt(format!("priority = `{p}`")))
            })
            .transpose()?,
        rotated_from: opt_parsed(row, "rotated_from")?,
        last_used_at: opt_int(row, "last_used_at")?,
    })
}

/// The tables of credentials that are revoked by stamping `revoked_at`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Revocable {
    ApiKey,
    ScimToken,
}

impl Store {
    /// Marks credential `id` revoked at `at`, with `audit` aimed at it, in one transaction.
    /// `false` (and nothing audited) when it is unknown or already revoked.
    pub(crate) async fn revoke(
        &self,
        table: Revocable,
        id: String,
        at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let sql = match table {
            Revocable::ApiKey => {
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
            }
            Revocable::ScimToken => {
                "UPDATE scim_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
            }
        };
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(sql)
            .bind(at)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_targeted(&mut tx, audit, id, None).await?;
        tx.commit().await?;
        Ok(true)
    }
}
