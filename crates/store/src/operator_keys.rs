//! Keys whose secret an operator chose — the bootstrap administrator's `FABRIQUE_ADMIN_KEY` —
//! stored with a slow, salted hash of it (`secret_kdf`, an Argon2id PHC string the admin crate
//! makes and checks); their `hash` column is the SHA-256 of a random placeholder, so neither a
//! fast hash nor a prefix of a human-chosen secret is ever stored.

use domain::{ApiKey, AuditEvent, KeyId, KeyOwner, UnixMillis};

use crate::audit::insert_targeted;
use crate::codec::{opt_int, opt_text, owner_columns, parsed};
use crate::keys::insert_key;
use crate::{Store, StoreError};

/// A live key of an owner, with the slow hash of its operator-chosen secret, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorKey {
    pub id: KeyId,
    pub secret_kdf: Option<String>,
    pub expires_at: Option<UnixMillis>,
}

impl Store {
    /// Stores `key` with `secret_kdf`, the slow hash of its secret, and its audit event (target:
    /// the key id), in one transaction.
    pub async fn create_operator_key(
        &self,
        key: &ApiKey,
        name: Option<&str>,
        secret_kdf: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_key(&mut tx, key, name).await?;
        sqlx::query("UPDATE api_keys SET secret_kdf = $1 WHERE id = $2")
            .bind(secret_kdf)
            .bind(key.id.to_string())
            .execute(&mut *tx)
            .await?;
        insert_targeted(&mut tx, audit, key.id.to_string(), key.entity_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The keys of `owner` not revoked (expired ones included), oldest first.
    pub async fn operator_keys(&self, owner: KeyOwner) -> Result<Vec<OperatorKey>, StoreError> {
        let (kind, id) = owner_columns(owner);
        let rows = sqlx::query(
            "SELECT id, secret_kdf, expires_at FROM api_keys \
             WHERE owner_kind = $1 AND owner_id = $2 AND revoked_at IS NULL \
             ORDER BY created_at, id",
        )
        .bind(kind)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OperatorKey {
                    id: parsed(row, "id")?,
                    secret_kdf: opt_text(row, "secret_kdf")?,
                    expires_at: opt_int(row, "expires_at")?,
                })
            })
            .collect()
    }
}
