//! Web sessions and sign-ins in progress, in the database so that every replica serves them and a
//! restart signs nobody out (migration 0031).
//!
//! A session is stored by the SHA-256 of its cookie's secret, never the secret. It ends at the
//! first of its absolute end, its idle timeout after its last stored use, and `ended_at` (sign-out,
//! an administrator's revocation, or the database's triggers when its user is renamed, suspended,
//! moved or deleted, or their entity suspended). Ending one notifies the `sessions` topic on
//! PostgreSQL. Rows are deleted [`KEPT_AFTER_END`] after their absolute end, by the next sign-in.
//!
//! A sign-in flow is taken once, by the hash of the browser's flow secret and the state the
//! provider sent back: one conditional DELETE, so two replicas racing for it cannot both finish it.

use domain::{KeyHash, RoleGrant, SessionId, SignInMethod, UnixMillis, UserId};
use sqlx::any::AnyRow;

use crate::codec::{int, opt_int, parsed, text};
use crate::{Store, StoreError};

/// How long a row stays after its session's absolute end: long enough for every replica to have
/// read its ending, which the purge never needs to announce.
pub const KEPT_AFTER_END: UnixMillis = 24 * 3600 * 1000;

/// A web session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub method: SignInMethod,
    /// The identity provider's roles, held until `roles_until`.
    pub roles: Vec<RoleGrant>,
    pub roles_until: UnixMillis,
    pub started_at: UnixMillis,
    /// The absolute end.
    pub ends_at: UnixMillis,
    pub idle_millis: i64,
    /// The last use any replica has stored.
    pub last_seen_at: UnixMillis,
    /// When it was ended (signed out, revoked), if it was.
    pub ended_at: Option<UnixMillis>,
}

impl StoredSession {
    /// When it ends unless used again, ended or not.
    pub fn expires_at(&self) -> UnixMillis {
        self.ends_at
            .min(self.last_seen_at.saturating_add(self.idle_millis))
    }

    /// Whether it signs its user in at `now`.
    pub fn is_live(&self, now: UnixMillis) -> bool {
        self.ended_at.is_none() && self.expires_at() > now
    }
}

/// A sign-in with the identity provider between its start and its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFlow {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
    pub expires_at: UnixMillis,
}

const SESSION_COLUMNS: &str = "id, user_id, method, roles, roles_until, started_at, ends_at, \
     idle_millis, last_seen_at, ended_at";

fn session(row: &AnyRow) -> Result<StoredSession, StoreError> {
    let method = text(row, "method")?;
    let roles = text(row, "roles")?;
    Ok(StoredSession {
        id: parsed(row, "id")?,
        user_id: parsed(row, "user_id")?,
        method: SignInMethod::parse(&method)
            .ok_or_else(|| StoreError::Corrupt(format!("method = `{method}`")))?,
        roles: serde_json::from_str(&roles)
            .map_err(|_| StoreError::Corrupt(format!("roles = `{roles}`")))?,
        roles_until: int(row, "roles_until")?,
        started_at: int(row, "started_at")?,
        ends_at: int(row, "ends_at")?,
        idle_millis: int(row, "idle_millis")?,
        last_seen_at: int(row, "last_seen_at")?,
        ended_at: opt_int(row, "ended_at")?,
    })
}

impl Store {
    /// Stores a session opened at `session.started_at` under its secret's `hash`, and deletes the
    /// rows [`KEPT_AFTER_END`] past their end.
    pub async fn insert_session(
        &self,
        hash: &KeyHash,
        session: &StoredSession,
    ) -> Result<(), StoreError> {
        let roles = serde_json::to_string(&session.roles).unwrap_or_else(|_| "[]".to_owned());
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM web_sessions WHERE ends_at < $1")
            .bind(session.started_at.saturating_sub(KEPT_AFTER_END))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (id, hash, user_id, method, roles, roles_until, started_at, \
             ends_at, idle_millis, last_seen_at, ended_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)",
        )
        .bind(session.id.to_string())
        .bind(hash.to_hex())
        .bind(session.user_id.to_string())
        .bind(session.method.as_str())
        .bind(roles)
        .bind(session.roles_until)
        .bind(session.started_at)
        .bind(session.ends_at)
        .bind(session.idle_millis)
        .bind(session.last_seen_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, || "this session exists already".to_owned()))?;
        tx.commit().await?;
        Ok(())
    }

    /// The session of secret hash `hash`, ended or not.
    pub async fn session_by_hash(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<StoredSession>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM web_sessions WHERE hash = $1");
        let row = sqlx::query(&sql)
            .bind(hash.to_hex())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session).transpose()
    }

    /// The session of id `id`, ended or not.
    pub async fn session_by_id(&self, id: SessionId) -> Result<Option<StoredSession>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM web_sessions WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session).transpose()
    }

    /// The sessions live at `now`, oldest first.
    pub async fn live_sessions(&self, now: UnixMillis) -> Result<Vec<StoredSession>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM web_sessions \
             WHERE ended_at IS NULL AND ends_at > $1 AND last_seen_at + idle_millis > $1 \
             ORDER BY started_at, id"
        );
        let rows = sqlx::query(&sql).bind(now).fetch_all(&self.pool).await?;
        rows.iter().map(session).collect()
    }

    /// Ends the session of id `id` at `now`; `true` if it was live.
    pub async fn end_session(&self, id: SessionId, now: UnixMillis) -> Result<bool, StoreError> {
        self.end_sessions_where("id = $2", &id.to_string(), now)
            .await
            .map(|ended| !ended.is_empty())
    }

    /// Ends the session of secret hash `hash` at `now` (sign-out); `true` if it was live.
    pub async fn end_session_by_hash(
        &self,
        hash: &KeyHash,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        self.end_sessions_where("hash = $2", &hash.to_hex(), now)
            .await
            .map(|ended| !ended.is_empty())
    }

    /// Ends every live session of `user` at `now`; the ids of those ended.
    pub async fn end_sessions_of_user(
        &self,
        user: UserId,
        now: UnixMillis,
    ) -> Result<Vec<SessionId>, StoreError> {
        self.end_sessions_where("user_id = $2", &user.to_string(), now)
            .await
    }

    /// Sets `ended_at` of the live sessions matching `condition` (on `$2`, the store's own SQL,
    /// never input) to `now`.
    async fn end_sessions_where(
        &self,
        condition: &str,
        value: &str,
        now: UnixMillis,
    ) -> Result<Vec<SessionId>, StoreError> {
        let sql = format!(
            "UPDATE web_sessions SET ended_at = $1 \
             WHERE {condition} AND ended_at IS NULL AND ends_at > $1 \
             AND last_seen_at + idle_millis > $1 RETURNING id"
        );
        let ids: Vec<String> = sqlx::query_scalar(&sql)
            .bind(now)
            .bind(value)
            .fetch_all(&self.pool)
            .await?;
        ids.iter().map(|id| crate::codec::parse("id", id)).collect()
    }

    /// The sessions ended at or after `since`, by any replica or trigger.
    pub async fn sessions_ended_since(
        &self,
        since: UnixMillis,
    ) -> Result<Vec<SessionId>, StoreError> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM web_sessions WHERE ended_at >= $1")
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
        ids.iter().map(|id| crate::codec::parse("id", id)).collect()
    }

    /// Stores sessions' last uses, never moving one back.
    pub async fn record_session_use(
        &self,
        uses: &[(SessionId, UnixMillis)],
    ) -> Result<(), StoreError> {
        let rows: Vec<(String, i64)> = uses.iter().map(|(s, at)| (s.to_string(), *at)).collect();
        crate::last_seen::record(self, "web_sessions", "last_seen_at", &rows).await
    }

    /// Stores a sign-in flow under the hash of the browser's flow secret, and deletes the
    /// expired ones (abandoned at the provider).
    pub async fn start_sign_in_flow(
        &self,
        hash: &KeyHash,
        flow: &SignInFlow,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sign_in_flows WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_in_flows (hash, state, nonce, code_verifier, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash.to_hex())
        .bind(&flow.state)
        .bind(&flow.nonce)
        .bind(&flow.code_verifier)
        .bind(flow.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, || "this sign-in exists already".to_owned()))?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes the live flow of secret hash `hash` whose state is `state`, once: a second call, or a
    /// call with another flow's state, finds nothing (and leaves a mismatched flow in place).
    pub async fn take_sign_in_flow(
        &self,
        hash: &KeyHash,
        state: &str,
        now: UnixMillis,
    ) -> Result<Option<SignInFlow>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM sign_in_flows WHERE hash = $1 AND state = $2 AND expires_at > $3 \
             RETURNING state, nonce, code_verifier, expires_at",
        )
        .bind(hash.to_hex())
        .bind(state)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SignInFlow {
                state: text(&row, "state")?,
                nonce: text(&row, "nonce")?,
                code_verifier: text(&row, "code_verifier")?,
                expires_at: int(&row, "expires_at")?,
            })
        })
        .transpose()
    }
}
