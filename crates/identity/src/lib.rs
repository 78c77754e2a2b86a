//! In-memory index of API keys to principals, and of user names to users: the hot path's
//! authentication, no database on the request path.
//!
//! The [`Directory`] is loaded once from the store at start and then kept current by whoever
//! changes keys or users (the admin API inserts new keys and revokes old ones here as well as in
//! the store; sign-in provisioning upserts the users it creates). Authenticating a key is one
//! SHA-256 of the presented secret and one hash-map lookup under a read lock; finding the user of a
//! verified token is one lookup by user name, and a user's teams one lookup by user id (SCIM group
//! changes and user deletions keep them current). Nothing on those paths waits on I/O.

use std::collections::HashMap;
use std::sync::Arc;

use domain::{
    EntityId, KeyHash, KeyId, KeyOwner, Role, RoleGrant, ServiceAccountId, Status, TeamId, UserId,
};
use parking_lot::RwLock;
use store::{Credential, Store, StoreError, UserIdentity};

mod scim_tokens;
mod teams;

pub use scim_tokens::{ScimClient, ScimTokens};

/// Who a request acts as, as established by its key.
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
}

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
        }
    }

    /// The principal a stored credential stands for.
    pub fn from_credential(credential: &Credential) -> Principal {
        Principal {
            key_id: Some(credential.key.id),
            owner: credential.key.owner,
            entity_id: credential.key.entity_id,
            entity_slug: credential.entity_slug.as_deref().map(Arc::from),
            roles: credential.roles.clone(),
            classification: credential.key.classification.as_deref().map(Arc::from),
        }
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

/// A user as sign-in needs them: enough to build a [`Principal`] without the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub entity_id: EntityId,
    pub entity_slug: Arc<str>,
    /// The user's own status.
    pub status: Status,
    /// The status of the user's entity: a suspended entity suspends its users.
    pub entity_status: Status,
    /// The roles granted in the store.
    pub roles: Vec<RoleGrant>,
}

impl UserRecord {
    pub fn from_identity(identity: &UserIdentity) -> UserRecord {
        UserRecord {
            id: identity.user.id,
            entity_id: identity.user.entity_id,
            entity_slug: Arc::from(identity.entity_slug.as_str()),
            status: identity.user.status,
            entity_status: identity.entity_status,
            roles: identity.roles.clone(),
        }
    }

    /// Both the user and their entity are active.
    pub fn is_active(&self) -> bool {
        self.status == Status::Active && self.entity_status == Status::Active
    }
}

/// The live key and user index. `Send + Sync`; share it as `Arc<Directory>`.
#[derive(Default)]
pub struct Directory {
    index: RwLock<Index>,
    /// User name → user. Apart from the key index: the two are never changed together.
    users: RwLock<HashMap<String, Arc<UserRecord>>>,
    /// User → teams and team → members, apart again: changed by group changes only.
    teams: RwLock<teams::Memberships>,
}

/// Both maps under one lock so that an insert or a revocation is seen whole.
#[derive(Default)]
struct Index {
    by_hash: HashMap<KeyHash, Arc<Principal>>,
    hash_by_key: HashMap<KeyId, KeyHash>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("keys", &self.len())
            .field("users", &self.users.read().len())
            .field("users_in_teams", &self.teams.read().len())
            .finish()
    }
}

impl Directory {
    pub fn new() -> Self {
        Directory::default()
    }

    /// Every live key of the store, except those whose owner or entity is suspended.
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let credentials = store.load_credentials().await?;
        let directory = Directory::new();
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
                index.insert(credential.key.hash, principal);
            }
        }
        let identities = store.user_identities().await?;
        {
            let mut users = directory.users.write();
            users.reserve(identities.len());
            for identity in &identities {
                users.insert(
                    identity.user.user_name.clone(),
                    Arc::new(UserRecord::from_identity(identity)),
                );
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
        self.users.read().get(user_name).cloned()
    }

    /// Adds or replaces the user named `user_name`; provisioning calls this after the store write.
    pub fn upsert_user(&self, user_name: &str, record: UserRecord) {
        self.users
            .write()
            .insert(user_name.to_owned(), Arc::new(record));
    }

    /// Forgets the user; `false` when they were not indexed.
    pub fn remove_user(&self, user_name: &str) -> bool {
        self.users.write().remove(user_name).is_some()
    }

    /// The teams of `user`, in id order (the first is the one the user's usage is charged to);
    /// `None` when the user belongs to none. One read lock and one lookup, no allocation.
    pub fn teams_of(&self, user: &UserId) -> Option<Arc<[TeamId]>> {
        self.teams.read().teams_of(user)
    }

    /// Makes `members` the members of `team`, as of the team's stored `version`; the SCIM API calls
    /// this after each group change commits. A change older than the one indexed is ignored.
    pub fn set_team_members(&self, team: TeamId, version: i64, members: &[UserId]) {
        if !self.teams.write().set_team(team, version, members) {
            tracing::debug!(%team, version, "stale team change ignored");
        }
    }

    /// Forgets a deleted team's memberships.
    pub fn remove_team(&self, team: TeamId) {
        self.teams.write().remove_team(team);
    }

    /// Forgets a deleted user's team memberships.
    pub fn remove_user_teams(&self, user: UserId) {
        self.teams.write().remove_user(user);
    }

    /// The principal of the key whose secret is `presented`, if that key is live.
    pub fn authenticate(&self, presented: &str) -> Option<Arc<Principal>> {
        let hash = KeyHash::of(presented);
        self.index.read().by_hash.get(&hash).cloned()
    }

    /// Adds (or replaces) the key with this hash.
    pub fn insert(&self, hash: KeyHash, principal: Principal) {
        self.index.write().insert(hash, principal);
    }

    /// Forgets the key; the very next [`Directory::authenticate`] with it fails. `false` when the
    /// key was not in the index.
    pub fn revoke(&self, key_id: KeyId) -> bool {
        let mut index = self.index.write();
        match index.hash_by_key.remove(&key_id) {
            Some(hash) => index.by_hash.remove(&hash).is_some(),
            None => false,
        }
    }

    /// Makes the live keys of a user who was reactivated authenticate again (their owner is read
    /// as active from the store, so suspended entities still keep them out). Returns how many.
    pub async fn restore_owner(&self, store: &Store, owner: KeyOwner) -> Result<usize, StoreError> {
        let mut restored = 0;
        for credential in store.credentials_of(owner).await? {
            if is_usable(&credential) {
                self.insert(credential.key.hash, Principal::from_credential(&credential));
                restored += 1;
            }
        }
        Ok(restored)
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
    fn insert(&mut self, hash: KeyHash, principal: Principal) {
        // Only keys are indexed here; a principal without a key has nothing to be found by.
        let Some(key_id) = principal.key_id else {
            return;
        };
        match self.hash_by_key.insert(key_id, hash) {
            Some(previous) if previous != hash => {
                self.by_hash.remove(&previous);
            }
            _ => {}
        }
        match self.by_hash.insert(hash, Arc::new(principal)) {
            Some(replaced) if replaced.key_id != Some(key_id) => {
                if let Some(replaced_id) = replaced.key_id {
                    self.hash_by_key.remove(&replaced_id);
                }
            }
            _ => {}
        }
    }
}

/// Whether a stored credential may authenticate: its owner and its entity are active.
fn is_usable(credential: &Credential) -> bool {
    credential.owner_status == Status::Active
        && credential.entity_status.is_none_or(|s| s == Status::Active)
}

#[cfg(test)]
mod tests;
