//! Who a limit or a budget applies to: a key, a user, a team or an entity.
//!
//! A request names every scope it belongs to (its key, its user, the user's teams, its entity); the
//! admission stage checks each scope that has a limit or a budget and charges all of them or none.

use std::fmt;

pub use domain::TeamId;
use domain::{EntityId, KeyId, UserId};
use serde::{Deserialize, Serialize};

/// One subject of rate limits and budgets.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    Key(KeyId),
    User(UserId),
    Team(TeamId),
    Entity(EntityId),
}

impl Scope {
    /// `key`, `user`, `team` or `entity`: how stored rules and the admin API name the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Key(_) => "key",
            Scope::User(_) => "user",
            Scope::Team(_) => "team",
            Scope::Entity(_) => "entity",
        }
    }

    /// The scope's id as text (`key_…`, `usr_…`, `team_…`, `ent_…`).
    pub fn id(&self) -> String {
        match self {
            Scope::Key(id) => id.to_string(),
            Scope::User(id) => id.to_string(),
            Scope::Team(id) => id.to_string(),
            Scope::Entity(id) => id.to_string(),
        }
    }

    /// Whether the scope is the caller's own (its key or its user) rather than shared with others
    /// (a team, an entity). Response headers tell only of the caller's own scopes: a shared one's
    /// figures would tell every member how much the others use.
    pub fn is_personal(&self) -> bool {
        match self {
            Scope::Key(_) | Scope::User(_) => true,
            Scope::Team(_) | Scope::Entity(_) => false,
        }
    }

    /// The inverse of [`Scope::kind`] and [`Scope::id`]; `None` for an unknown kind or a malformed id.
    pub fn from_parts(kind: &str, id: &str) -> Option<Scope> {
        match kind {
            "key" => id.parse().ok().map(Scope::Key),
            "user" => id.parse().ok().map(Scope::User),
            "team" => id.parse().ok().map(Scope::Team),
            "entity" => id.parse().ok().map(Scope::Entity),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Key(id) => write!(f, "key {id}"),
            Scope::User(id) => write!(f, "user {id}"),
            Scope::Team(id) => write!(f, "team {id}"),
            Scope::Entity(id) => write!(f, "entity {id}"),
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
