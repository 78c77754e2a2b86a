//! Bringing the in-memory indexes in line with the store, for changes this process did not make:
//! another replica's (told by a change notice) or any missed (the periodic full refresh).
//!
//! A refresh reads the store, then applies the difference under the indexes' locks. A change this
//! process makes is never undone by an older read: a refresh that a change here overlapped
//! discards what it read (the caller reads again), an entry is removed only if it was indexed
//! before the read began and added only if it was absent before it too, and a key this process
//! stopped is not indexed again until the store holds it stopped (a revocation stops the key in
//! memory before its store write commits). The request path keeps its one read lock per lookup;
//! the write locks are held for the in-memory difference only, never across the read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use domain::{KeyId, ScimTokenId, TeamId, UserId};
use store::{Credential, Store, StoreError};

use crate::{Directory, Principal, ScimTokens, UserRecord, is_usable};

/// What a refresh changed, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

impl Refreshed {
    pub fn is_empty(&self) -> bool {
        *self == Refreshed::default()
    }
}

impl Directory {
    /// Reloads keys, users and teams from the store and applies what changed: keys revoked,
    /// rotated, created or restricted, owners and entities suspended or reactivated, roles granted,
    /// users renamed, deleted or bound to sign-in accounts, team memberships. A user suspended,
    /// renamed or deleted loses their web sessions, as when the change is made here. `None`: this
    /// process changed the directory during the read, which was discarded; refresh again.
    pub async fn refresh(&self, store: &Store) -> Result<Option<Refreshed>, StoreError> {
        let generation = self.changed_here.load(Ordering::Acquire);
        let keys_before: HashSet<KeyId> = self.index.read().hash_by_key.keys().copied().collect();
        let users_before: HashSet<UserId> = self.users.read().ids().collect();
        let teams_before: HashSet<TeamId> = self.teams.read().team_ids().collect();
        let credentials = store.load_credentials().await?;
        let identities = store.user_identities().await?;
        let memberships = store.team_memberships().await?;
        if self.changed_here.load(Ordering::Acquire) != generation {
            return Ok(None);
        }

        let mut refreshed = self.refresh_keys(&credentials, &keys_before, generation);
        let stored_users: HashSet<UserId> = identities.iter().map(|i| i.user.id).collect();
        for identity in &identities {
            let record = UserRecord::from_identity(identity);
            match self.user_by_id(record.id) {
                Some(held) if *held == record => {}
                Some(_) => {
                    refreshed.changed += 1;
                    self.upsert_user(record);
                }
                None if users_before.contains(&record.id) => {}
                None => {
                    refreshed.added += 1;
                    self.upsert_user(record);
                }
            }
        }
        for gone in users_before.difference(&stored_users) {
            if self.remove_user(*gone) {
                refreshed.removed += 1;
            }
        }
        let stored_teams: HashSet<TeamId> = memberships.iter().map(|t| t.team).collect();
        {
            let mut teams = self.teams.write();
            for team in &memberships {
                if teams.set_team(team.team, team.version, &team.members) {
                    refreshed.changed += 1;
                }
            }
            for gone in teams_before.difference(&stored_teams) {
                teams.remove_team(*gone);
                refreshed.removed += 1;
            }
        }
        Ok(Some(refreshed))
    }

    /// The key index's part of [`Directory::refresh`]. A key keeps the hash it is indexed under:
    /// the bootstrap key is indexed under its secret's hash, which the store never holds.
    /// `generation`: the count of this process's changes when the read began.
    fn refresh_keys(
        &self,
        credentials: &[Credential],
        before: &HashSet<KeyId>,
        generation: u64,
    ) -> Refreshed {
        let usable: HashMap<KeyId, &Credential> = credentials
            .iter()
            .filter(|c| is_usable(c))
            .map(|c| (c.key.id, c))
            .collect();
        let mut refreshed = Refreshed::default();
        let mut index = self.index.write();
        // Stopped here and stopped in the store, or stopped after a commit this read came after:
        // nothing left to guard.
        index.stopped_here.retain(|key, committed| {
            usable.contains_key(key) && committed.is_none_or(|at| at > generation)
        });
        let gone: Vec<KeyId> = before
            .iter()
            .filter(|key| !usable.contains_key(key))
            .copied()
            .collect();
        for key in gone {
            if index.remove(key) {
                refreshed.removed += 1;
            }
        }
        for (key, credential) in usable {
            let principal = Principal::from_credential(credential);
            let held = index.hash_by_key.get(&key).copied();
            let kept_out = before.contains(&key) || index.stopped_here.contains_key(&key);
            match held.and_then(|hash| index.by_hash.get_mut(&hash)) {
                Some(live) if *live.principal == principal => {}
                Some(live) => {
                    live.principal = Arc::new(principal);
                    refreshed.changed += 1;
                }
                None if kept_out => {}
                None => {
                    let last_used = credential.key.last_used_at.unwrap_or(0);
                    index.insert(credential.key.hash, principal, last_used);
                    refreshed.added += 1;
                }
            }
        }
        refreshed
    }
}

impl ScimTokens {
    /// Reloads the live tokens from the store and applies what changed (created, revoked).
    pub async fn refresh(&self, store: &Store) -> Result<Refreshed, StoreError> {
        let before: HashSet<ScimTokenId> = self.ids();
        let live: Vec<_> = store
            .list_scim_tokens(None, store::Window::ALL)
            .await?
            .into_iter()
            .filter(|token| token.revoked_at.is_none())
            .collect();
        let mut refreshed = Refreshed::default();
        let stored: HashSet<ScimTokenId> = live.iter().map(|token| token.id).collect();
        for gone in before.difference(&stored) {
            if self.revoke(*gone) {
                refreshed.removed += 1;
            }
        }
        let now = self.ids();
        for token in live
            .iter()
            .filter(|t| !before.contains(&t.id) && !now.contains(&t.id))
        {
            self.insert(token);
            refreshed.added += 1;
        }
        Ok(refreshed)
    }
}
