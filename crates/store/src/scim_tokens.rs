//! SCIM bearer tokens: only hashes are stored; the in-memory index is loaded from here at start.

use domain::{AuditEvent, EntityId, KeyHash, ScimToken, ScimTokenId, UnixMillis};
use sqlx::any::AnyRow;

use crate::audit::insert_targeted;
use crate::codec::{int, opt_int, opt_parsed, opt_text, parsed, text};
use crate::keys::Revocable;
use crate::narrowing::EntityListing;
use crate::{Store, StoreError, Window};

const TOKEN_COLUMNS: &str = "id, name, entity_id, hash, display_prefix, created_at, revoked_at";

impl Store {
    /// Stores `token` (its hash). The audit target is the token id.
    pub async fn create_scim_token(
        &self,
        token: &ScimToken,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO scim_tokens (id, name, entity_id, hash, display_prefix, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.id.to_string())
        .bind(token.name.clone())
        .bind(token.entity_id.map(|e| e.to_string()))
        .bind(token.hash.to_hex())
        .bind(token.display_prefix.as_str())
        .bind(token.created_at)
        .bind(token.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, || format!("SCIM token {} already exists", token.id)))?;
        insert_targeted(&mut tx, audit, token.id.to_string(), token.entity_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks the token revoked at `at`. `false` (and nothing audited) when it is unknown or already
    /// revoked.
    pub async fn revoke_scim_token(
        &self,
        id: ScimTokenId,
        at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.revoke(Revocable::ScimToken, id.to_string(), at, audit)
            .await
    }

    pub async fn scim_token(&self, id: ScimTokenId) -> Result<Option<ScimToken>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM scim_tokens WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_row).transpose()
    }

    /// Tokens of one entity, or all, revoked ones included, oldest first, within `window`.
    pub async fn list_scim_tokens(
        &self,
        entity: Option<EntityId>,
        window: Window,
    ) -> Result<Vec<ScimToken>, StoreError> {
        EntityListing {
            select: &format!("SELECT {TOKEN_COLUMNS} FROM scim_tokens"),
            condition: None,
            entity_column: "entity_id",
            order: "created_at, id",
        }
        .fetch(&self.pool, entity, window, token_row)
        .await
    }
}

fn token_row(row: &AnyRow) -> Result<ScimToken, StoreError> {
    let hash = text(row, "hash")?;
    Ok(ScimToken {
        id: parsed(row, "id")?,
        name: opt_text(row, "name")?,
        entity_id: opt_parsed(row, "entity_id")?,
        hash: KeyHash::from_hex(&hash)
            .ok_or_else(|| StoreError::Corrupt(format!("SCIM token hash `{hash}`")))?,
        display_prefix: text(row, "display_prefix")?,
        created_at: int(row, "created_at")?,
        revoked_at: opt_int(row, "revoked_at")?,
    })
}
