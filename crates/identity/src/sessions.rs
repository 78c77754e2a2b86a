//! Web sessions: the browser's cookie holds a random secret, the store and this directory only its
//! SHA-256 and the user's id, so a memory dump or a database copy yields no usable cookie and a
//! user renamed, suspended or deleted (or a namesake created since) never inherits a session.
//!
//! A session ends at the first of: its absolute timeout after sign-in, its idle timeout after its
//! last use, sign-out, an administrator's revocation ([`Directory::end_session`],
//! [`Directory::end_sessions_of`]), the user's suspension, rename or deletion, or their entity's
//! suspension. The roles the identity provider's groups grant hold only for the session's role
//! time-to-live; after it the session carries the user's stored roles alone until the next sign-in
//! reads the groups again.
//!
//! **Shared by every replica.** A directory loaded from a store ([`Directory::load`]) writes each
//! session to it (`store::StoredSession`) and keeps the sessions it served in memory, as a cache:
//! a cookie found there live costs one hash and two lookups, as before; one it does not hold (opened
//! by another replica, or before a restart), or holds past its idle timeout (used meanwhile
//! through another replica), is read from the store once and cached. Ending a session writes its
//! `ended_at` first, then forgets it here; other replicas hear of it through the `sessions` change
//! notice and [`Directory::refresh_sessions`] forgets it there, within a second. The database's
//! triggers end the sessions of a user renamed, suspended, moved or deleted and of an entity
//! suspended, whichever replica made the change. Uses are noted in memory and stored every few
//! seconds ([`Directory::unstored_session_use`]), so an idle timeout counts uses on every
//! replica. A directory without a store ([`Directory::new`]) keeps sessions in memory only.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

pub use domain::SignInMethod;
use domain::key::{KeySecret, SESSION_PREFIX};
use domain::{EntityId, KeyHash, RoleGrant, SessionId, UnixMillis, UserId};
use store::{StoreError, StoredSession};

use crate::{Directory, Principal, UserRecord};

/// How far back, before the last refresh began, a refresh looks for ended sessions: more than
/// the clocks of replicas and database may differ by, or a write may take to commit.
pub const ENDED_LOOKBACK_MILLIS: UnixMillis = 60_000;

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
    /// The last use the store holds, so only newer ones are written.
    stored_last_seen: AtomicI64,
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

    fn of_stored(stored: &StoredSession) -> Session {
        Session {
            id: stored.id,
            user: stored.user_id,
            method: stored.method,
            roles: stored.roles.clone(),
            roles_until: stored.roles_until,
            started_at: stored.started_at,
            ends_at: stored.ends_at,
            idle_millis: stored.idle_millis,
            last_seen: AtomicI64::new(stored.last_seen_at),
            stored_last_seen: AtomicI64::new(stored.last_seen_at),
        }
    }

    fn stored(&self) -> StoredSession {
        StoredSession {
            id: self.id,
            user_id: self.user,
            method: self.method,
            roles: self.roles.clone(),
            roles_until: self.roles_until,
            started_at: self.started_at,
            ends_at: self.ends_at,
            idle_millis: self.idle_millis,
            last_seen_at: self.last_seen.load(Ordering::Relaxed),
            ended_at: None,
        }
    }

    /// The user and the roles it signs in at `now`, counting it as a use; `None` if not live.
    fn sign_in(&self, now: UnixMillis) -> Option<(UserId, Vec<RoleGrant>)> {
        if self.expires_at() <= now {
            return None;
        }
        self.last_seen.fetch_max(now, Ordering::Relaxed);
        let roles = match now < self.roles_until {
            true => self.roles.clone(),
            false => Vec::new(),
        };
        Some((self.user, roles))
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
    /// Counts the refreshes that forgot ended sessions, so that a session read from the store
    /// before one of them is not cached after it (it may be one that refresh ended).
    refreshes: u64,
    /// When the last refresh began reading: the next one reads the endings since then (less
    /// [`ENDED_LOOKBACK_MILLIS`]).
    checked_at: Option<UnixMillis>,
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

    fn remove_id(&mut self, id: SessionId) -> Option<SessionInfo> {
        let hash = *self.hash_by_id.get(&id)?;
        self.remove(&hash)
    }

    fn remove_where(&mut self, ends: impl Fn(UserId) -> bool) -> Vec<SessionId> {
        let hashes: Vec<KeyHash> = self
            .by_hash
            .iter()
            .filter(|(_, session)| ends(session.user))
            .map(|(hash, _)| *hash)
            .collect();
        hashes
            .iter()
            .filter_map(|hash| self.remove(hash))
            .map(|info| info.id)
            .collect()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Directory {
    /// Opens a session for `user` at `now`, stores it (when the directory has a store) and
    /// returns its id and its secret, the cookie's value (shown once, to the browser). `roles` are
    /// the identity provider's, held for `limits.role_ttl`.
    pub async fn open_session(
        &self,
        user: UserId,
        roles: Vec<RoleGrant>,
        method: SignInMethod,
        limits: SessionLimits,
        now: UnixMillis,
    ) -> Result<(SessionId, KeySecret), StoreError> {
        let secret = KeySecret::generate_with_prefix(SESSION_PREFIX);
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
            stored_last_seen: AtomicI64::new(now),
        };
        let id = session.id;
        let hash = secret.hash();
        if let Some(store) = &self.store {
            store.insert_session(&hash, &session.stored()).await?;
        }
        self.sessions.write().insert(hash, session, now);
        Ok((id, secret))
    }

    /// The principal the session of cookie value `secret` signs in at `now`, which counts as a
    /// use. From memory when this directory holds it live (one hash, two lookups, no I/O), else
    /// read from the store once and held from then on.
    pub async fn session_principal(
        &self,
        secret: &str,
        now: UnixMillis,
    ) -> Result<Arc<Principal>, SessionRefused> {
        let hash = KeyHash::of(secret);
        let held = self
            .sessions
            .read()
            .by_hash
            .get(&hash)
            .and_then(|session| session.sign_in(now));
        let (user, roles) = match held {
            Some(found) => found,
            None => self.stored_session(hash, now).await?,
        };
        let record = match self.user_by_id(user) {
            Some(record) => record,
            None => self
                .stored_user(user)
                .await
                .ok_or(SessionRefused::UserGone(user))?,
        };
        if !record.is_active() {
            return Err(SessionRefused::UserSuspended(Arc::clone(&record.user_name)));
        }
        Ok(Arc::new(Principal::of_user(&record, &roles)))
    }

    /// A session's user this directory does not hold: one signed in for the first time through
    /// another replica, whose change notice has not reached this one yet. Read from the store and
    /// held from now on; `None` when the store has no such user (deleted) or cannot say.
    async fn stored_user(&self, id: UserId) -> Option<Arc<UserRecord>> {
        let store = self.store.as_ref()?;
        let read = async {
            let Some(user) = store.user(id).await? else {
                return Ok(None);
            };
            store.user_identity_by_name(&user.user_name).await
        };
        let identity = match read.await {
            Ok(identity) => identity.filter(|identity| identity.user.id == id)?,
            Err(error) => {
                tracing::warn!(%error, "could not read a web session's user from the store");
                return None;
            }
        };
        self.upsert_user(UserRecord::from_identity(&identity));
        self.user_by_id(id)
    }

    /// A session this directory does not hold live, read from the store and, if live there,
    /// held from now on (unless a refresh forgot ended sessions meanwhile).
    async fn stored_session(
        &self,
        hash: KeyHash,
        now: UnixMillis,
    ) -> Result<(UserId, Vec<RoleGrant>), SessionRefused> {
        let Some(store) = &self.store else {
            return Err(SessionRefused::NoSession);
        };
        let refreshes = self.sessions.read().refreshes;
        let stored = match store.session_by_hash(&hash).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, "could not read a web session from the store");
                return Err(SessionRefused::NoSession);
            }
        };
        let mut sessions = self.sessions.write();
        let Some(stored) = stored.filter(|stored| stored.is_live(now)) else {
            sessions.remove(&hash);
            return Err(SessionRefused::NoSession);
        };
        if sessions.refreshes != refreshes {
            // A refresh ran during the read: what was read may be what it ended.
            sessions.remove(&hash);
            return Session::of_stored(&stored)
                .sign_in(now)
                .ok_or(SessionRefused::NoSession);
        }
        if !sessions.by_hash.contains_key(&hash) {
            sessions.insert(hash, Session::of_stored(&stored), now);
        }
        let session = &sessions.by_hash[&hash];
        session
            .last_seen
            .fetch_max(stored.last_seen_at, Ordering::Relaxed);
        session.sign_in(now).ok_or(SessionRefused::NoSession)
    }

    /// The live sessions at `now`, oldest first; with `entity`, of that entity's users only. Read
    /// from the store when there is one (every replica's), with this directory's newer uses.
    pub async fn sessions(
        &self,
        entity: Option<EntityId>,
        now: UnixMillis,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let mut live: Vec<SessionInfo> = match &self.store {
            Some(store) => {
                let stored = store.live_sessions(now).await?;
                let held = self.sessions.read();
                stored
                    .iter()
                    .map(|stored| {
                        let session = Session::of_stored(stored);
                        if let Some(hash) = held.hash_by_id.get(&stored.id) {
                            let seen = held.by_hash[hash].last_seen.load(Ordering::Relaxed);
                            session.last_seen.fetch_max(seen, Ordering::Relaxed);
                        }
                        session.info()
                    })
                    .collect()
            }
            None => self
                .sessions
                .read()
                .by_hash
                .values()
                .filter(|session| session.expires_at() > now)
                .map(Session::info)
                .collect(),
        };
        let users = self.users.read();
        live.retain(|s| {
            entity.is_none_or(|e| users.by_id(&s.user_id).is_some_and(|u| u.entity_id == e))
        });
        live.sort_by_key(|s| (s.started_at, s.id));
        Ok(live)
    }

    /// The session of id `id` if it is live at `now`.
    pub async fn session(
        &self,
        id: SessionId,
        now: UnixMillis,
    ) -> Result<Option<SessionInfo>, StoreError> {
        if let Some(store) = &self.store {
            let stored = store.session_by_id(id).await?;
            return Ok(stored
                .filter(|stored| stored.is_live(now))
                .map(|stored| Session::of_stored(&stored).info()));
        }
        let sessions = self.sessions.read();
        Ok(sessions
            .hash_by_id
            .get(&id)
            .and_then(|hash| sessions.by_hash.get(hash))
            .filter(|session| session.expires_at() > now)
            .map(Session::info))
    }

    /// Ends the session of id `id` at `now`, in the store first; `false` when it was not live.
    pub async fn end_session(&self, id: SessionId, now: UnixMillis) -> Result<bool, StoreError> {
        let stored = match &self.store {
            Some(store) => Some(store.end_session(id, now).await?),
            None => None,
        };
        let held = self.sessions.write().remove_id(id);
        Ok(stored.unwrap_or(held.is_some_and(|s| s.expires_at > now)))
    }

    /// Ends the session of cookie value `secret` at `now` (sign-out); `false` when there was none.
    pub async fn end_session_of_secret(
        &self,
        secret: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let hash = KeyHash::of(secret);
        let stored = match &self.store {
            Some(store) => Some(store.end_session_by_hash(&hash, now).await?),
            None => None,
        };
        let held = self.sessions.write().remove(&hash);
        Ok(stored.unwrap_or(held.is_some_and(|s| s.expires_at > now)))
    }

    /// Ends every live session of `user` at `now`, in the store first; returns their ids.
    pub async fn end_sessions_of(
        &self,
        user: UserId,
        now: UnixMillis,
    ) -> Result<Vec<SessionId>, StoreError> {
        let stored = match &self.store {
            Some(store) => Some(store.end_sessions_of_user(user, now).await?),
            None => None,
        };
        let held = self.forget_sessions_of(user);
        Ok(stored.unwrap_or(held))
    }

    /// Forgets every session of `user` held here: the store ends them itself (its triggers), on a
    /// rename, suspension or deletion.
    pub(crate) fn forget_sessions_of(&self, user: UserId) -> Vec<SessionId> {
        self.sessions.write().remove_where(|u| u == user)
    }

    /// Forgets every session of the users of `entity` (suspended) held here.
    pub(crate) fn forget_sessions_of_entity(&self, entity: EntityId) -> usize {
        let users = self.users.read();
        let of_entity = |user: UserId| users.by_id(&user).is_some_and(|u| u.entity_id == entity);
        self.sessions.write().remove_where(of_entity).len()
    }

    /// Forgets the sessions the store says have ended since the last refresh (less
    /// [`ENDED_LOOKBACK_MILLIS`]; the first refresh looks back one absolute timeout's worth of
    /// rows kept, `store::KEPT_AFTER_END`); returns how many it forgot.
    pub async fn refresh_sessions(&self, store: &store::Store) -> Result<usize, StoreError> {
        let began = domain::now_millis();
        let checked_at = self.sessions.read().checked_at;
        let since = checked_at.map_or(0, |at| at.saturating_sub(ENDED_LOOKBACK_MILLIS));
        let ended = store.sessions_ended_since(since).await?;
        let mut sessions = self.sessions.write();
        let forgotten = ended
            .iter()
            .filter(|id| sessions.remove_id(**id).is_some())
            .count();
        sessions.refreshes += 1;
        sessions.checked_at = Some(began);
        Ok(forgotten)
    }

    /// The sessions' uses the store does not hold yet, for the periodic flush.
    pub fn unstored_session_use(&self) -> Vec<(SessionId, UnixMillis)> {
        self.sessions
            .read()
            .by_hash
            .values()
            .filter_map(|session| {
                let seen = session.last_seen.load(Ordering::Relaxed);
                (seen > session.stored_last_seen.load(Ordering::Relaxed))
                    .then_some((session.id, seen))
            })
            .collect()
    }

    /// Notes that the store now holds `uses`.
    pub fn mark_session_use_stored(&self, uses: &[(SessionId, UnixMillis)]) {
        let sessions = self.sessions.read();
        for (id, at) in uses {
            if let Some(session) = sessions
                .hash_by_id
                .get(id)
                .and_then(|h| sessions.by_hash.get(h))
            {
                session.stored_last_seen.fetch_max(*at, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests;
