//! Users, for sign-in: found by id (a web session names its user by id, so a rename never moves
//! it), by user name (a token's first sign-in), and by the identity provider's account they are
//! bound to (every sign-in after the first: the provider's `sub` never changes, names do).
//!
//! The three maps change together under one lock, so a rename or a binding is seen whole.

use std::collections::HashMap;
use std::sync::Arc;

use domain::{Entity, EntityId, RoleGrant, SignInSubject, Status, User, UserId};
use store::UserIdentity;

/// A user as sign-in needs them: enough to build a [`crate::Principal`] without the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub user_name: Arc<str>,
    pub entity_id: EntityId,
    pub entity_slug: Arc<str>,
    /// The user's own status.
    pub status: Status,
    /// The status of the user's entity: a suspended entity suspends its users.
    pub entity_status: Status,
    /// The roles granted in the store.
    pub roles: Vec<RoleGrant>,
    /// The identity provider's accounts the user is bound to, one per issuer at most.
    pub subjects: Vec<SignInSubject>,
}

impl UserRecord {
    pub fn from_identity(identity: &UserIdentity) -> UserRecord {
        UserRecord {
            id: identity.user.id,
            user_name: Arc::from(identity.user.user_name.as_str()),
            entity_id: identity.user.entity_id,
            entity_slug: Arc::from(identity.entity_slug.as_str()),
            status: identity.user.status,
            entity_status: identity.entity_status,
            roles: identity.roles.clone(),
            subjects: identity.subjects.clone(),
        }
    }

    /// A user just created in `entity`: no roles granted yet, bound to no account yet.
    pub fn created(user: &User, entity: &Entity) -> UserRecord {
        UserRecord {
            id: user.id,
            user_name: Arc::from(user.user_name.as_str()),
            entity_id: entity.id,
            entity_slug: Arc::from(entity.slug.as_str()),
            status: user.status,
            entity_status: entity.status,
            roles: Vec::new(),
            subjects: Vec::new(),
        }
    }

    /// Both the user and their entity are active.
    pub fn is_active(&self) -> bool {
        self.status == Status::Active && self.entity_status == Status::Active
    }

    /// The account of `issuer` the user is bound to, if any.
    pub fn subject_of(&self, issuer: &str) -> Option<&SignInSubject> {
        self.subjects.iter().find(|s| s.issuer == issuer)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Users {
    by_id: HashMap<UserId, Arc<UserRecord>>,
    by_name: HashMap<Arc<str>, UserId>,
    by_subject: HashMap<SignInSubject, UserId>,
}

impl Users {
    pub(crate) fn by_id(&self, id: &UserId) -> Option<Arc<UserRecord>> {
        self.by_id.get(id).cloned()
    }

    pub(crate) fn by_name(&self, user_name: &str) -> Option<Arc<UserRecord>> {
        self.by_name.get(user_name).and_then(|id| self.by_id(id))
    }

    pub(crate) fn by_subject(&self, subject: &SignInSubject) -> Option<Arc<UserRecord>> {
        self.by_subject.get(subject).and_then(|id| self.by_id(id))
    }

    /// Adds the user, or replaces the record of the same id (its old name and accounts no longer
    /// find it).
    pub(crate) fn insert(&mut self, record: UserRecord) {
        let record = Arc::new(record);
        if let Some(old) = self.by_id.insert(record.id, Arc::clone(&record)) {
            self.unlink(&old);
        }
        self.by_name
            .insert(Arc::clone(&record.user_name), record.id);
        for subject in &record.subjects {
            self.by_subject.insert(subject.clone(), record.id);
        }
    }

    /// Forgets the user; `false` when they were not indexed.
    pub(crate) fn remove(&mut self, id: &UserId) -> bool {
        match self.by_id.remove(id) {
            Some(old) => {
                self.unlink(&old);
                true
            }
            None => false,
        }
    }

    /// Replaces each record `change` returns a new version of.
    pub(crate) fn change_each(&mut self, change: impl Fn(&UserRecord) -> Option<UserRecord>) {
        for record in self.by_id.values_mut() {
            if let Some(changed) = change(record) {
                *record = Arc::new(changed);
            }
        }
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = UserId> + '_ {
        self.by_id.keys().copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.by_id.reserve(additional);
        self.by_name.reserve(additional);
    }

    /// Removes the name and accounts that lead to `old`, unless they lead to another user now.
    fn unlink(&mut self, old: &UserRecord) {
        if self.by_name.get(&old.user_name) == Some(&old.id) {
            self.by_name.remove(&old.user_name);
        }
        for subject in &old.subjects {
            if self.by_subject.get(subject) == Some(&old.id) {
                self.by_subject.remove(subject);
            }
        }
    }
}
