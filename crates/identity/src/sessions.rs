//! Web sessions: the browser's cookie holds a random secret, the directory only its SHA-256 and
//! the user's id, so a memory dump yields no usable cookie and a user renamed, suspended or deleted
//! (or a namesake created since) never inherits a session.
//!
//! A session ends at the first of: its absolute timeout after sign-in, its idle timeout after its
//! last use, sign-out, an administrator's revocation ([`Directory::end_session`],
//! [`Directory::end_sessions_of`]), the user's suspension, rename or deletion, or their entity's
//! suspension. The roles the identity provider's groups grant hold only for the session's role
//! time-to-live; after it the session carries the user's stored roles alone until the next sign-in
//! reads the groups again. Sessions live in this process's memory: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use domain::key::{KeySecret, SESSION_PREFIX};
use domain::{EntityId, KeyHash, RoleGrant, SessionId, UnixMillis, UserId};

use crate::{Directory, Principal};

/// How long a session lives, from `[sessions]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Unused for this long, a session ends.
    pub idle: Duration,
    /// This long after sign-in, a session ends whatever its use.
    pub absolute: Duration,
    /// How long the identity provider's roles hold in a session.
    pub role_ttl: Duration,
}

/// How a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    /// Through the identity provider (`/auth/callback`).
    Provider,
    /// With a one-time sign-in link an administrator minted.
    Link,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Provider => "provider",
            SignInMethod::Link => "link",
        }
    }
}

/// A live session as administrators see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    pub user_id: UserId,
    pub method: SignInMethod,
    pub started_at: UnixMillis,
    pub last_seen_at: UnixMillis,
    /// When it ends unless used again (the earlier of the idle and the absolute timeout).
    pub expires_at: UnixMillis,
}

/// Why a session cookie signs nobody in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRefused {
    /// No live session has this secret (never opened, ended, or timed out).
    NoSession,
    /// The session's user is no longer in the directory (deleted).
    UserGone(UserId),
    /// The user, or their entity, is suspended.
    UserSuspended(Arc<str>),
}

struct Session {
    id: SessionId,
    user: UserId,
    method: SignInMethod,
    /// The identity provider's roles, added to the user's stored ones until `roles_until`.
    roles: Vec<RoleGrant>,
    roles_until: UnixMillis,
    started_at: UnixMillis,
    ends_at: UnixMillis,
    idle_millis: i64,
    /// Written on the request path under the read lock.
    last_seen: AtomicI64,
}

impl Session {
    fn expires_at(&self) -> UnixMillis {
        self.ends_at
            .min(self.last_seen.load(Ordering::Relaxed) + self.idle_millis)
    }

    fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id,
            user_id: self.user,
            method: self.method,
            started_at: self.started_at,
            last_seen_at: self.last_seen.load(Ordering::Relaxed),
            expires_at: self.expires_at(),
        }
    }
}

/// Expired sessions are swept once per this many sign-ins, so the map stays bounded by the
/// sessions opened within a timeout without scanning it at every sign-in.
const SWEEP_EVERY: usize = 1024;

#[derive(Default)]
pub(crate) struct Sessions {
    by_hash: HashMap<KeyHash, Session>,
    hash_by_id: HashMap<SessionId, KeyHash>,
    opened_since_sweep: usize,
}

impl Sessions {
    pub(crate) fn len(&self) -> usize {
        self.by_hash.len()
    }

    fn insert(&mut self, hash: KeyHash, session: Session, now: UnixMillis) {
        self.opened_since_sweep += 1;
        if self.opened_since_sweep >= SWEEP_EVERY {
            self.opened_since_sweep = 0;
            self.by_hash.retain(|_, s| s.expires_at() > now);
            let by_hash = &self.by_hash;
            self.hash_by_id.retain(|_, hash| by_hash.contains_key(hash));
        }
        self.hash_by_id.insert(session.id, hash);
        self.by_hash.insert(hash, session);
    }

    fn remove(&mut self, hash: &KeyHash) -> Option<SessionInfo> {
        let session = self.by_hash.remove(hash)?;
        self.hash_by_id.remove(&session.id);
        Some(session.info())
    }

    fn remove_where(&mut self, ends: impl Fn(UserId) -> bool) -> usize {
        let hashes: Vec<KeyHash> = self
            .by_hash
            .iter()
            .filter(|(_, session)| ends(session.user))
            .map(|(hash, _)| *hash)
            .collect();
        hashes
            .iter()
            .filter(|hash| self.remove(hash).is_some())
            .count()
    }
}

impl Directory {
    /// Opens a session for `user` at `now` and returns its id and its secret, the cookie's value
    /// (shown once, to the browser). `roles` are the identity provider's, held for
    /// `limits.role_ttl`.
    pub fn open_session(
        &self,
        user: UserId,
        roles: Vec<RoleGrant>,
        method: SignInMethod,
        limits: SessionLimits,
        now: UnixMillis,
    ) -> (SessionId, KeySecret) {
        let secret = KeySecret::generate_with_prefix(SESSION_PREFIX);
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let session = Session {
            id: SessionId::generate(),
            user,
            method,
            roles,
            roles_until: now.saturating_add(millis(limits.role_ttl)),
            started_at: now,
            ends_at: now.saturating_add(millis(limits.absolute)),
            idle_millis: millis(limits.idle),
            last_seen: AtomicI64::new(now),
        };
        let id = session.id;
        self.sessions.write().insert(secret.hash(), session, now);
        (id, secret)
    }

    /// The principal the session of cookie value `secret` signs in at `now`, which counts as a
    /// use. Memory only: one hash, two lookups, no I/O.
    pub fn session_principal(
        &self,
        secret: &str,
        now: UnixMillis,
    ) -> Result<Arc<Principal>, SessionRefused> {
        let (user, roles) = {
            let sessions = self.sessions.read();
            let session = sessions
                .by_hash
                .get(&KeyHash::of(secret))
                .filter(|session| session.expires_at() > now)
                .ok_or(SessionRefused::NoSession)?;
            session.last_seen.fetch_max(now, Ordering::Relaxed);
            let roles = match now < session.roles_until {
                true => session.roles.clone(),
                false => Vec::new(),
            };
            (session.user, roles)
        };
        let record = self
            .user_by_id(user)
            .ok_or(SessionRefused::UserGone(user))?;
        if !record.is_active() {
            return Err(SessionRefused::UserSuspended(Arc::clone(&record.user_name)));
        }
        Ok(Arc::new(Principal::of_user(&record, &roles)))
    }

    /// The live sessions at `now`, oldest first; with `entity`, of that entity's users only.
    pub fn sessions(&self, entity: Option<EntityId>, now: UnixMillis) -> Vec<SessionInfo> {
        let users = self.users.read();
        let mut live: Vec<SessionInfo> = self
            .sessions
            .read()
            .by_hash
            .values()
            .filter(|session| session.expires_at() > now)
            .filter(|session| {
                entity.is_none_or(|e| users.by_id(&session.user).is_some_and(|u| u.entity_id == e))
            })
            .map(Session::info)
            .collect();
        live.sort_by_key(|s| (s.started_at, s.id));
        live
    }

    /// The session of id `id`, live or timed out but not yet swept.
    pub fn session(&self, id: SessionId) -> Option<SessionInfo> {
        let sessions = self.sessions.read();
        let hash = sessions.hash_by_id.get(&id)?;
        sessions.by_hash.get(hash).map(Session::info)
    }

    /// Ends the session of id `id`; what it was, or `None` when there was none.
    pub fn end_session(&self, id: SessionId) -> Option<SessionInfo> {
        let mut sessions = self.sessions.write();
        let hash = *sessions.hash_by_id.get(&id)?;
        sessions.remove(&hash)
    }

    /// Ends the session of cookie value `secret` (sign-out); `false` when there was none.
    pub fn end_session_of_secret(&self, secret: &str) -> bool {
        self.sessions.write().remove(&KeyHash::of(secret)).is_some()
    }

    /// Ends every session of `user`; returns how many.
    pub fn end_sessions_of(&self, user: UserId) -> usize {
        self.sessions.write().remove_where(|u| u == user)
    }

    /// Ends every session of the users of `entity` (suspended).
    pub(crate) fn end_sessions_of_entity(&self, entity: EntityId) -> usize {
        let users = self.users.read();
        let of_entity = |user: UserId| users.by_id(&user).is_some_and(|u| u.entity_id == entity);
        self.sessions.write().remove_where(of_entity)
    }
}

#[cfg(test)]
mod tests;
