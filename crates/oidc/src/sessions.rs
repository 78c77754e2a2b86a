//! Web sessions: a random id in the browser's cookie, only its SHA-256 in memory.
//!
//! Sessions live in this process's memory: a restart (or another replica behind a load balancer
//! without affinity) signs everyone out, and they sign in again through the provider, which
//! usually does not ask for a password again. Only the hash of an id is kept, so a memory dump
//! does not yield usable cookies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use configuration::MappedRole;
use domain::UserId;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};

use crate::login::random_token;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "fabrique_session";

/// Expired sessions are swept when an insert finds at least this many.
const SWEEP_ABOVE: usize = 1024;

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    /// The user's id, not their name: a rename keeps the session, a namesake never gets it.
    pub user: UserId,
    /// Roles from the provider's claims at sign-in, added to the user's stored grants.
    pub roles: Vec<MappedRole>,
    pub expires: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_hash: RwLock<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// Opens a session for `lifetime` and returns its id, the cookie's value (shown once).
    pub(crate) fn open(
        &self,
        user: UserId,
        roles: Vec<MappedRole>,
        lifetime: Duration,
        now: Instant,
    ) -> String {
        let id = random_token();
        let mut sessions = self.by_hash.write();
        if sessions.len() >= SWEEP_ABOVE {
            sessions.retain(|_, session| session.expires > now);
        }
        sessions.insert(
            hash(&id),
            Session {
                user,
                roles,
                expires: now + lifetime,
            },
        );
        id
    }

    /// The live session of cookie value `id`.
    pub(crate) fn get(&self, id: &str, now: Instant) -> Option<Session> {
        self.by_hash
            .read()
            .get(&hash(id))
            .filter(|session| session.expires > now)
            .cloned()
    }

    /// Ends the session; `false` when there was none.
    pub(crate) fn close(&self, id: &str) -> bool {
        self.by_hash.write().remove(&hash(id)).is_some()
    }
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_it_expires_or_is_closed() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        let auditor = MappedRole {
            role: domain::Role::Auditor,
            scope: configuration::RoleScope::Group,
        };
        let ada = UserId::generate();
        let id = sessions.open(ada, vec![auditor], hour, now);
        let session = sessions.get(&id, now).unwrap();
        assert_eq!(session.user, ada);
        assert_eq!(session.roles, vec![auditor]);
        assert!(sessions.get(&id, now + hour).is_none(), "expired");
        assert!(sessions.get("made-up", now).is_none());
        assert!(sessions.close(&id));
        assert!(sessions.get(&id, now).is_none(), "closed");
        assert!(!sessions.close(&id));
    }

    #[test]
    fn only_the_hash_of_an_id_is_kept() {
        let sessions = Sessions::default();
        let id = sessions.open(
            UserId::generate(),
            vec![],
            Duration::from_secs(60),
            Instant::now(),
        );
        let map = sessions.by_hash.read();
        assert!(map.contains_key(&hash(&id)));
        assert_eq!(map.len(), 1);
    }
}
