//! One-time sign-in links: only the SHA-256 of a link's token is stored, with its user and its
//! expiry. Consuming a link is one conditional UPDATE, so a link signs in once, even when two
//! requests (or two replicas) race for it.

use domain::{AuditEvent, EntityId, KeyHash, UnixMillis, UserId};

use crate::audit::insert_targeted;
use crate::codec::{opt_int, parse};
use crate::{Store, StoreError};

/// What presenting a link's token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginLinkUse {
    /// The link was live and is now used: sign this user in.
    SignIn(UserId),
    /// The link was used already.
    Used,
    /// The link expired unused.
    Expired,
    /// No link has this token.
    Unknown,
}

impl Store {
    /// Stores a link for `user` (of `entity`) by its token's hash, valid until `expires_at`, with
    /// its audit event (target: the user).
    pub async fn create_login_link(
        &self,
        hash: &KeyHash,
        user: UserId,
        entity: EntityId,
        expires_at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO login_links (hash, user_id, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(hash.to_hex())
        .bind(user.to_string())
        .bind(audit.at)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, || "this sign-in link exists already".to_owned()))?;
        insert_targeted(&mut tx, audit, user.to_string(), Some(entity)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses the link of token hash `hash` at `now`, if it is live; says why not otherwise.
    pub async fn consume_login_link(
        &self,
        hash: &KeyHash,
        now: UnixMillis,
    ) -> Result<LoginLinkUse, StoreError> {
        let hash = hash.to_hex();
        let user: Option<String> = sqlx::query_scalar(
            "UPDATE login_links SET used_at = $1 \
             WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(now)
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(user) = user {
            return Ok(LoginLinkUse::SignIn(parse("user_id", &user)?));
        }
        let row = sqlx::query("SELECT used_at FROM login_links WHERE hash = $1")
            .bind(&hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            None => LoginLinkUse::Unknown,
            Some(row) => match opt_int(&row, "used_at")? {
                Some(_) => LoginLinkUse::Used,
                None => LoginLinkUse::Expired,
            },
        })
    }
}
