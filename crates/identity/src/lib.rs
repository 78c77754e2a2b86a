//! In-memory index of API keys to principals, and of users: the hot path's authentication, no
//! database on the request path.
//!
//! The [`Directory`] is loaded once from the store at start and then kept current by whoever
//! changes keys or users (the admin API inserts new keys and revokes old ones here as well as in
//! the store; the admin API, SCIM and sign-in provisioning upsert the users they create or
//! change). Authenticating a key is one SHA-256 of the presented secret and one hash-map lookup
//! under a read lock; finding the user of a verified token is one lookup by the identity provider's
//! account it is bound to (by user name at its first sign-in), of a web session one lookup by user
//! id, and a user's teams one lookup by user id (SCIM group changes and user deletions keep them
//! current). Nothing on those paths waits on I/O.
//!
//! Web sessions are kept here too (`sessions.rs`): [`Directory::open_session`] at sign-in,
//! [`Directory::session_principal`] per request (one hash, two lookups when held; else one read
//! of the store, where every replica's sessions are), listed and ended by administrators
//! ([`Directory::sessions`], [`Directory::end_session`], [`Directory::end_sessions_of`]); a
//! user's rename, suspension or deletion and their entity's suspension end their sessions as the
//! directory learns of it (and in the store, by its triggers).
//!
//! # In detail
//!
//! `Directory`: the in-memory index from a presented key's hash to its `Principal` (which carries the
//! key's default classification, `api_keys.classification`, for the classify stage, its model scope for
//! resolve, its expiry for authenticate and its priority class for schedule), from user names to
//! users, and from users to their teams (`teams_of` → `Arc<[TeamId]>` in id order: one read lock, one
//! lookup, no allocation; the team → members direction is kept too, so a group change touches only
//! who joined or left, and each team's store version orders concurrent changes); `ScimTokens`: the
//! same for SCIM bearer tokens. **Invariant:** never touches the database after load (except
//! `Directory::restore_owner` and `reactivate_entity`, called when a suspended user or entity is
//! reactivated, `refresh` (`refresh.rs`), which applies other replicas' changes, and web sessions
//! (`sessions.rs`: opened, ended and listed in the store, and read from it when a cookie's session
//! is not held here); `suspend_entity` drops an entity's keys and marks its users in memory); the admin and SCIM APIs
//! keep them current (new keys and tokens inserted, revocations and suspensions removed, group
//! changes and user deletions applied to the team index, all before the HTTP answer), so revocation
//! and team changes hold from the next request.
//! **Keys' lifecycle in memory:** expiry is decided by `authenticate_at` with the clock it is given
//! (expired keys stay indexed so they are refused as expired, not as unknown); a rotation gives the
//! old key its expiry (`expire`) and indexes the successor through `admit_stored_key`, which keeps a
//! suspended owner's key out. Each indexed key has an `AtomicI64` last use, the start of the minute
//! (`LAST_USE_PRECISION_MILLIS`), stored once a minute at most by the request path; the binary's
//! `key_use` task takes `unstored_key_use()` every 5 s (and at shutdown), writes it with
//! `Store::record_key_use` (never moving a stored time back) and `mark_key_use_stored`. A key that
//! leaves the index (revoked, its owner or entity suspended) leaves its unstored last use in the
//! index's `retired_uses` until that flush stores it, and a key indexed again keeps a newer use seen
//! in memory than the store's. The admin listing shows the later of the stored and the live value.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use domain::{
    ApiKey, EntityId, KeyHash, KeyId, KeyOwner, Priority, Role, RoleGrant, ServiceAccountId,
    SignInSubject, Status, TeamId, UnixMillis, UserId, now_millis,
};
use parking_lot::{RwLock, RwLockUpgradableReadGuard};
use store::{Credential, Store, StoreError};

mod refresh;
mod scim_tokens;
mod sessions;
mod teams;
mod users;

pub use refresh::Refreshed;
pub use scim_tokens::{ScimClient, ScimTokens};
pub use sessions::{SessionInfo, SessionLimits, SessionRefused, SignInMethod};
pub use users::UserRecord;

/// Who a request acts as, as established by its key, its access token or its web session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The API key presented; `None` when the caller signed in (access token or web session).
    pub key_id: Option<KeyId>,
    pub owner: KeyOwner,
    /// The owner's entity; `None` for group-level service accounts.
    pub entity_id: Option<EntityId>,
    pub entity_slug: Option<Arc<str>>,
    pub roles: Vec<RoleGrant>,
    /// The key's default classification (a level name), when the key has one; classify makes it
    /// one input of the request's level.
    pub classification: Option<Arc<str>>,
    /// The public model names the key may use; `None`: every model of its entity.
    pub models: Option<Arc<[Arc<str>]>>,
    /// When the key stops working; `None`: never.
    pub expires_at: Option<UnixMillis>,
    /// The key's priority class: the default of its requests and the most urgent they may ask.
    pub priority: Option<Priority>,
}

/// Why a presented key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefused {
    /// No live key has this secret (never issued, revoked, or its owner suspended).
    Unknown,
    /// The key expired (or its rotation's grace period ended).
    Expired,
}

/// How often a key's last use is noted: once per minute at most, so the request path writes its
/// atomic once a minute and listings show the minute of the last use.
pub const LAST_USE_PRECISION_MILLIS: UnixMillis = 60_000;

impl Principal {
    /// The principal of a signed-in user: the user's stored roles plus `extra_roles` (from the
    /// identity provider's claims), without duplicates.
    pub fn of_user(user: &UserRecord, extra_roles: &[RoleGrant]) -> Principal {
        let mut roles = user.roles.clone();
        for grant in extra_roles {
            if !roles.contains(grant) {
                roles.push(*grant);
            }
        }
        Principal {
            key_id: None,
            owner: KeyOwner::User(user.id),
            entity_id: Some(user.entity_id),
            entity_slug: Some(Arc::clone(&user.entity_slug)),
            roles,
            classification: None,
            models: None,
            expires_at: None,
            priority: None,
        }
    }

    /// The principal a stored credential stands for.
    pub fn from_credential(credential: &Credential) -> Principal {
        Principal::of_key(
            &credential.key,
            credential.entity_slug.as_deref().map(Arc::from),
            credential.roles.clone(),
        )
    }

    /// The principal of `key`, whose owner holds `roles` and belongs to the entity `entity_slug`.
    pub fn of_key(key: &ApiKey, entity_slug: Option<Arc<str>>, roles: Vec<RoleGrant>) -> Principal {
        Principal {
            key_id: Some(key.id),
            owner: key.owner,
            entity_id: key.entity_id,
            entity_slug,
            roles,
            classification: key.classification.as_deref().map(Arc::from),
            models: key
                .models
                .as_ref()
                .map(|models| models.iter().map(|m| Arc::from(m.as_str())).collect()),
            expires_at: key.expires_at,
            priority: key.priority,
        }
    }

    /// Whether the key lets its holder use the model named `model` (its entity decides too).
    pub fn may_use_model(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| &**m == model))
    }

    /// Who acted, for audit events: the key when there is one, else the signed-in user.
    pub fn actor(&self) -> String {
        match (self.key_id, self.user_id()) {
            (Some(key), _) => key.to_string(),
            (None, Some(user)) => user.to_string(),
            (None, None) => "unknown".to_owned(),
        }
    }

    pub fn user_id(&self) -> Option<UserId> {
        match self.owner {
            KeyOwner::User(id) => Some(id),
            KeyOwner::ServiceAccount(_) => None,
        }
    }

    pub fn service_account_id(&self) -> Option<ServiceAccountId> {
        match self.owner {
            KeyOwner::ServiceAccount(id) => Some(id),
            KeyOwner::User(_) => None,
        }
    }

    /// Holds `group_admin` for the whole group (not merely for one entity).
    pub fn is_group_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|g| g.role == Role::GroupAdmin && g.entity_id.is_none())
    }

    /// Holds `role` over `entity`: a grant scoped to that entity, or a group-wide grant (which
    /// covers every entity). With `entity: None` only a group-wide grant qualifies.
    pub fn has_role(&self, role: Role, entity: Option<EntityId>) -> bool {
        self.roles
            .iter()
            .any(|g| g.role == role && (g.entity_id.is_none() || g.entity_id == entity))
    }
}

/// The live key and user index. `Send + Sync`; share it as `Arc<Directory>`.
#[derive(Default)]
pub struct Directory {
    index: RwLock<Index>,
    /// Users by id, name and sign-in account. Apart from the key index: the two are never
    /// changed together.
    users: RwLock<users::Users>,
    /// User → teams and team → members, apart again: changed by group changes only.
    teams: RwLock<teams::Memberships>,
    /// Web sessions by the hash of their secret; apart again: a session names its user by id.
    sessions: RwLock<sessions::Sessions>,
    /// Counts the changes this process makes, so that a refresh whose read they overlapped
    /// discards what it read rather than undo them (`refresh.rs`).
    changed_here: AtomicU64,
    /// Where web sessions are kept for every replica; `None`: in this process's memory only.
    store: Option<Store>,
}

/// Both maps under one lock so that an insert or a revocation is seen whole.
#[derive(Default)]
struct Index {
    by_hash: HashMap<KeyHash, LiveKey>,
    hash_by_key: HashMap<KeyId, KeyHash>,
    /// Last uses not stored yet of keys that left the index (revoked, suspended, replaced), kept
    /// until the flush stores them so that stopping a key never loses when it was last used.
    retired_uses: Vec<(KeyId, UnixMillis)>,
    /// Keys this process stopped (revoked, their owner or entity suspended) that a refresh must
    /// not index again from a read older than the stop. A revocation stops the key in memory
    /// before its store write commits (`None`): only the store holding it stopped lifts the
    /// guard. A suspension stops keys after its commit, at a count of this process's changes
    /// (`Some`): any refresh that began from that count on read the store after the commit, and
    /// lifts it whatever it read — the entity may have been reactivated elsewhere meanwhile.
    stopped_here: HashMap<KeyId, Option<u64>>,
}

/// A key the directory authenticates, and when it was last used.
struct LiveKey {
    principal: Arc<Principal>,
    /// The minute of the last successful authentication (0: none), written on the request path.
    last_used: AtomicI64,
    /// What the store holds of it, so only changes are written.
    stored_last_used: AtomicI64,
}

impl LiveKey {
    /// The key's last use if the store does not hold it yet.
    fn unstored_use(&self) -> Option<(KeyId, UnixMillis)> {
        let used = self.last_used.load(Ordering::Relaxed);
        let key = self.principal.key_id?;
        (used > self.stored_last_used.load(Ordering::Relaxed)).then_some((key, used))
    }
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("keys", &self.len())
            .field("users", &self.users.read().len())
            .field("users_in_teams", &self.teams.read().len())
            .field("sessions", &self.sessions.read().len())
            .finish()
    }
}

impl Directory {
    pub fn new() -> Self {
        Directory::default()
    }

    /// Notes a change made by this process (see [`Directory::refresh`]); the count it makes.
    fn change_here(&self) -> u64 {
        self.changed_here.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Every live key of the store, except those whose owner or entity is suspended.
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let credentials = store.load_credentials().await?;
        let directory = Directory {
            store: Some(store.clone()),
            ..Directory::default()
        };
        let mut skipped = 0usize;
        {
            let mut index = directory.index.write();
            index.by_hash.reserve(credentials.len());
            index.hash_by_key.reserve(credentials.len());
            // Entity slugs are shared between the principals of one entity rather than copied.
            let mut slugs: HashMap<&str, Arc<str>> = HashMap::new();
            for credential in &credentials {
                if !is_usable(credential) {
                    skipped += 1;
                    continue;
                }
                let mut principal = Principal::from_credential(credential);
                principal.entity_slug = credential
                    .entity_slug
                    .as_deref()
                    .map(|slug| slugs.entry(slug).or_insert_with(|| Arc::from(slug)).clone());
                let last_used = credential.key.last_used_at.unwrap_or(0);
                index.insert(credential.key.hash, principal, last_used);
            }
        }
        let identities = store.user_identities().await?;
        {
            let mut users = directory.users.write();
            users.reserve(identities.len());
            for identity in &identities {
                users.insert(UserRecord::from_identity(identity));
            }
        }
        let memberships = store.team_memberships().await?;
        {
            let mut teams = directory.teams.write();
            for team in &memberships {
                teams.set_team(team.team, team.version, &team.members);
            }
        }
        tracing::info!(
            keys = directory.len(),
            users = identities.len(),
            teams = memberships.len(),
            skipped,
            "key directory loaded"
        );
        Ok(directory)
    }

    /// The user named `user_name`, suspended or not (the caller decides what suspension means).
    pub fn user(&self, user_name: &str) -> Option<Arc<UserRecord>> {
        self.users.read().by_name(user_name)
    }

    /// The user of id `id`, suspended or not.
    pub fn user_by_id(&self, id: UserId) -> Option<Arc<UserRecord>> {
        self.users.read().by_id(&id)
    }

    /// The user bound to the identity provider's account `subject`, suspended or not.
    pub fn user_by_subject(&self, subject: &SignInSubject) -> Option<Arc<UserRecord>> {
        self.users.read().by_subject(subject)
    }

    /// Adds the user or replaces the record of the same id, renamed or not; the store is written
    /// first (user creation, provisioning, a change of name or status). A rename or a suspension
    /// ends the user's web sessions.
    pub fn upsert_user(&self, record: UserRecord) {
        self.change_here();
        let id = record.id;
        let ends_sessions = !record.is_active()
            || self
                .user_by_id(id)
                .is_some_and(|old| old.user_name != record.user_name);
        self.users.write().insert(record);
        if ends_sessions {
            self.forget_sessions_of(id);
        }
    }

    /// Forgets the user (deleted) and ends their web sessions; `false` when they were not indexed.
    pub fn remove_user(&self, id: UserId) -> bool {
        self.change_here();
        let removed = self.users.write().remove(&id);
        self.forget_sessions_of(id);
        removed
    }

    /// The teams of `user`, in id order (the first is the one the user's usage is charged to);
    /// `None` when the user belongs to none. One read lock and one lookup, no allocation.
    pub fn teams_of(&self, user: &UserId) -> Option<Arc<[TeamId]>> {
        self.teams.read().teams_of(user)
    }

    /// Makes `members` the members of `team`, as of the team's stored `version`; the SCIM API calls
    /// this after each group change commits. A change older than the one indexed is ignored.
    pub fn set_team_members(&self, team: TeamId, version: i64, members: &[UserId]) {
        self.change_here();
        if !self.teams.write().set_team(team, version, members) {
            tracing::debug!(%team, version, "stale team change ignored");
        }
    }

    /// Forgets a deleted team's memberships.
    pub fn remove_team(&self, team: TeamId) {
        self.change_here();
        self.teams.write().remove_team(team);
    }

    /// Forgets a deleted user's team memberships.
    pub fn remove_user_teams(&self, user: UserId) {
        self.change_here();
        self.teams.write().remove_user(user);
    }

    /// The principal of the key whose secret is `presented`, if that key is live at `now`; its
    /// last use is noted (one atomic store a minute).
    pub fn authenticate_at(
        &self,
        presented: &str,
        now: UnixMillis,
    ) -> Result<Arc<Principal>, KeyRefused> {
        let hash = KeyHash::of(presented);
        let index = self.index.read();
        let live = index.by_hash.get(&hash).ok_or(KeyRefused::Unknown)?;
        if live.principal.expires_at.is_some_and(|at| now >= at) {
            return Err(KeyRefused::Expired);
        }
        let minute = now - now.rem_euclid(LAST_USE_PRECISION_MILLIS);
        if live.last_used.load(Ordering::Relaxed) < minute {
            live.last_used.store(minute, Ordering::Relaxed);
        }
        Ok(Arc::clone(&live.principal))
    }

    /// The principal of the live key `key_id` at `now`, as a request with its secret would get it:
    /// for work done later on a caller's behalf (a batch's lines), so that a key revoked or
    /// expired since stops that work too. Its last use is not noted.
    pub fn key_principal(
        &self,
        key_id: KeyId,
        now: UnixMillis,
    ) -> Result<Arc<Principal>, KeyRefused> {
        let index = self.index.read();
        let live = index
            .hash_by_key
            .get(&key_id)
            .and_then(|hash| index.by_hash.get(hash))
            .ok_or(KeyRefused::Unknown)?;
        if live.principal.expires_at.is_some_and(|at| now >= at) {
            return Err(KeyRefused::Expired);
        }
        Ok(Arc::clone(&live.principal))
    }

    /// [`Directory::authenticate_at`] now, for callers that need no reason for a refusal.
    pub fn authenticate(&self, presented: &str) -> Option<Arc<Principal>> {
        self.authenticate_at(presented, now_millis()).ok()
    }

    /// Adds (or replaces) the key with this hash.
    pub fn insert(&self, hash: KeyHash, principal: Principal) {
        self.change_here();
        self.index.write().insert(hash, principal, 0);
    }

    /// Gives a live key an expiry (a rotated key's end of grace); `false` when it is not live.
    pub fn expire(&self, key_id: KeyId, at: UnixMillis) -> bool {
        self.change_here();
        let mut index = self.index.write();
        let Some(hash) = index.hash_by_key.get(&key_id).copied() else {
            return false;
        };
        let Some(live) = index.by_hash.get_mut(&hash) else {
            return false;
        };
        let mut principal = (*live.principal).clone();
        principal.expires_at = Some(principal.expires_at.map_or(at, |old| old.min(at)));
        live.principal = Arc::new(principal);
        true
    }

    /// Makes `roles` the roles of `owner` (read from the store after a grant or a revocation
    /// committed): on every live key of theirs and, for a user, on their record, which web
    /// sessions and access tokens are built from. Returns how many keys changed.
    pub fn set_roles(&self, owner: KeyOwner, roles: &[RoleGrant]) -> usize {
        self.change_here();
        let mut changed = 0;
        for live in self.index.write().by_hash.values_mut() {
            if live.principal.owner == owner && live.principal.roles != roles {
                let mut principal = (*live.principal).clone();
                principal.roles = roles.to_vec();
                live.principal = Arc::new(principal);
                changed += 1;
            }
        }
        if let KeyOwner::User(id) = owner {
            self.users.write().change_each(|record| {
                (record.id == id && record.roles != roles).then(|| UserRecord {
                    roles: roles.to_vec(),
                    ..record.clone()
                })
            });
        }
        changed
    }

    /// The keys used since their last use was last stored, with that minute, live keys and
    /// keys stopped since alike. Reads every live key's atomic under the read lock: the flush
    /// task's cost, every few seconds, not the request path's.
    pub fn unstored_key_use(&self) -> Vec<(KeyId, UnixMillis)> {
        let index = self.index.read();
        index
            .by_hash
            .values()
            .filter_map(LiveKey::unstored_use)
            .chain(index.retired_uses.iter().copied())
            .collect()
    }

    /// Notes that the store now holds these last uses.
    pub fn mark_key_use_stored(&self, uses: &[(KeyId, UnixMillis)]) {
        let index = self.index.upgradable_read();
        for (key, at) in uses {
            if let Some(live) = index
                .hash_by_key
                .get(key)
                .and_then(|h| index.by_hash.get(h))
            {
                live.stored_last_used.fetch_max(*at, Ordering::Relaxed);
            }
        }
        if !index.retired_uses.is_empty() {
            let stored: HashSet<&(KeyId, UnixMillis)> = uses.iter().collect();
            let mut index = RwLockUpgradableReadGuard::upgrade(index);
            index
                .retired_uses
                .retain(|retired| !stored.contains(retired));
        }
    }

    /// Forgets the key; the very next [`Directory::authenticate`] with it fails. `false` when the
    /// key was not in the index.
    pub fn revoke(&self, key_id: KeyId) -> bool {
        self.change_here();
        let mut index = self.index.write();
        index.stopped_here.insert(key_id, None);
        index.remove(key_id)
    }

    /// Stops every key of `owner`, from memory alone: a suspension calls it after its commit, where
    /// a read that failed would leave the keys live. Idempotent; returns how many stopped.
    pub fn stop_owner(&self, owner: KeyOwner) -> usize {
        let committed = self.change_here();
        let mut index = self.index.write();
        let stopped: Vec<KeyId> = index
            .by_hash
            .values()
            .filter(|live| live.principal.owner == owner)
            .filter_map(|live| live.principal.key_id)
            .collect();
        stopped
            .into_iter()
            .filter(|key| index.stop(*key, committed))
            .count()
    }

    /// Makes the live keys of a user who was reactivated authenticate again (their owner is read
    /// as active from the store, so suspended entities still keep them out). Returns how many.
    pub async fn restore_owner(&self, store: &Store, owner: KeyOwner) -> Result<usize, StoreError> {
        Ok(self.admit_usable(&store.credentials_of(owner).await?))
    }

    /// Indexes the credentials that may authenticate (owner and entity active); returns how many.
    fn admit_usable(&self, credentials: &[Credential]) -> usize {
        self.change_here();
        let mut index = self.index.write();
        let mut admitted = 0;
        for credential in credentials.iter().filter(|c| is_usable(c)) {
            let last_used = credential.key.last_used_at.unwrap_or(0);
            index.insert(
                credential.key.hash,
                Principal::from_credential(credential),
                last_used,
            );
            admitted += 1;
        }
        admitted
    }

    /// Stops every key of the entity's users and service accounts, and marks its users' entity
    /// suspended, so their access tokens are refused too; the very next request of any of them
    /// fails. Returns how many keys stopped.
    pub fn suspend_entity(&self, entity: EntityId) -> usize {
        self.set_users_entity_status(entity, Status::Suspended);
        self.forget_sessions_of_entity(entity);
        let committed = self.change_here();
        let mut index = self.index.write();
        let stopped: Vec<KeyId> = index
            .by_hash
            .values()
            .filter(|live| live.principal.entity_id == Some(entity))
            .filter_map(|live| live.principal.key_id)
            .collect();
        stopped
            .into_iter()
            .filter(|key| index.stop(*key, committed))
            .count()
    }

    /// Undoes [`Directory::suspend_entity`] once the store holds the entity as active: its users'
    /// usable keys (owner active, not revoked) authenticate again. Returns how many.
    pub async fn reactivate_entity(
        &self,
        store: &Store,
        entity: EntityId,
    ) -> Result<usize, StoreError> {
        let credentials = store.credentials_of_entity(entity).await?;
        self.set_users_entity_status(entity, Status::Active);
        Ok(self.admit_usable(&credentials))
    }

    fn set_users_entity_status(&self, entity: EntityId, status: Status) {
        self.change_here();
        self.users.write().change_each(|record| {
            (record.entity_id == entity && record.entity_status != status).then(|| UserRecord {
                entity_status: status,
                ..record.clone()
            })
        });
    }

    /// Indexes the stored key `key_id` of `owner` if it may authenticate (owner and entity
    /// active, not revoked): a rotated key's successor enters this way, so a suspended owner's
    /// new key stays out as their old one did. `false` when it was not indexed.
    pub async fn admit_stored_key(
        &self,
        store: &Store,
        owner: KeyOwner,
        key_id: KeyId,
    ) -> Result<bool, StoreError> {
        let credentials = store.credentials_of(owner).await?;
        let Some(credential) = credentials.iter().find(|c| c.key.id == key_id) else {
            return Ok(false);
        };
        if !is_usable(credential) {
            return Ok(false);
        }
        let last_used = credential.key.last_used_at.unwrap_or(0);
        self.change_here();
        self.index.write().insert(
            credential.key.hash,
            Principal::from_credential(credential),
            last_used,
        );
        Ok(true)
    }

    /// The minute the key was last used as this process saw it (possibly newer than the store's).
    pub fn last_used(&self, key_id: KeyId) -> Option<UnixMillis> {
        let index = self.index.read();
        let live = index.by_hash.get(index.hash_by_key.get(&key_id)?)?;
        let used = live.last_used.load(Ordering::Relaxed);
        (used > 0).then_some(used)
    }

    /// The number of live keys.
    pub fn len(&self) -> usize {
        self.index.read().by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Index {
    /// Keeps the two maps inverse of each other: a key id re-inserted under a new hash loses its
    /// old hash, and a hash taken over by another key id unlinks that id.
    fn insert(&mut self, hash: KeyHash, principal: Principal, last_used: UnixMillis) {
        // Only keys are indexed here; a principal without a key has nothing to be found by.
        let Some(key_id) = principal.key_id else {
            return;
        };
        self.stopped_here.remove(&key_id);
        let previous = match self.hash_by_key.insert(key_id, hash) {
            Some(previous) if previous != hash => self.by_hash.remove(&previous),
            _ => None,
        };
        let live = LiveKey {
            principal: Arc::new(principal),
            last_used: AtomicI64::new(last_used),
            stored_last_used: AtomicI64::new(last_used),
        };
        let replaced = self.by_hash.insert(hash, live);
        for old in previous.iter().chain(&replaced) {
            if old.principal.key_id == Some(key_id) {
                // The same key indexed again (restored, re-read): it keeps a newer use seen here.
                let used = old.last_used.load(Ordering::Relaxed);
                if let Some(new) = self.by_hash.get(&hash) {
                    new.last_used.fetch_max(used, Ordering::Relaxed);
                }
            } else {
                if let Some(replaced_id) = old.principal.key_id {
                    self.hash_by_key.remove(&replaced_id);
                }
                self.retired_uses.extend(old.unstored_use());
            }
        }
    }

    /// [`Index::remove`] for a key this process stopped after the store committed it, at the
    /// count of changes `committed`: a refresh will not index it again from an older read.
    fn stop(&mut self, key_id: KeyId, committed: u64) -> bool {
        self.stopped_here.insert(key_id, Some(committed));
        self.remove(key_id)
    }

    /// Takes the key out of the index, keeping its last use until stored. `false` when the key
    /// was not in the index.
    fn remove(&mut self, key_id: KeyId) -> bool {
        let Some(live) = self
            .hash_by_key
            .remove(&key_id)
            .and_then(|hash| self.by_hash.remove(&hash))
        else {
            return false;
        };
        self.retired_uses.extend(live.unstored_use());
        true
    }
}

/// Whether a stored credential may authenticate: its owner and its entity are active.
fn is_usable(credential: &Credential) -> bool {
    credential.owner_status == Status::Active
        && credential.entity_status.is_none_or(|s| s == Status::Active)
}

#[cfg(test)]
mod tests;
