//! Users' teams, for the request path: which team scopes a request names at admission and which
//! team its usage is charged to.
//!
//! Both directions are kept: user → teams (what the request path reads, an `Arc<[TeamId]>` in id
//! order, so a read is one lookup and one reference-count increment) and team → members (so a
//! change of one team touches only the users who joined or left it). Each team's version, from the
//! store, orders concurrent changes: one carrying an older version than the index holds is stale
//! and ignored, so two SCIM changes of one team answered out of order cannot leave the older set.

use std::collections::HashMap;
use std::sync::Arc;

use domain::{TeamId, UserId};

#[derive(Debug, Default)]
pub(crate) struct Memberships {
    by_user: HashMap<UserId, Arc<[TeamId]>>,
    by_team: HashMap<TeamId, Team>,
}

#[derive(Debug)]
struct Team {
    version: i64,
    /// In id order.
    members: Vec<UserId>,
}

impl Memberships {
    pub(crate) fn teams_of(&self, user: &UserId) -> Option<Arc<[TeamId]>> {
        self.by_user.get(user).cloned()
    }

    /// Makes `members` the members of `team` at `version`; `false` when the index already holds
    /// this team at `version` or later (the change is stale).
    pub(crate) fn set_team(&mut self, team: TeamId, version: i64, members: &[UserId]) -> bool {
        let mut members = members.to_vec();
        members.sort_unstable();
        members.dedup();
        let previous = match self.by_team.get(&team) {
            Some(held) if held.version >= version => return false,
            Some(held) => held.members.clone(),
            None => Vec::new(),
        };
        for user in previous
            .iter()
            .filter(|u| members.binary_search(u).is_err())
        {
            self.leave(*user, team);
        }
        for user in members
            .iter()
            .filter(|u| previous.binary_search(u).is_err())
        {
            self.join(*user, team);
        }
        self.by_team.insert(team, Team { version, members });
        true
    }

    /// Forgets `team`: its members no longer belong to it.
    pub(crate) fn remove_team(&mut self, team: TeamId) {
        if let Some(removed) = self.by_team.remove(&team) {
            for user in removed.members {
                self.leave(user, team);
            }
        }
    }

    /// Forgets every membership of `user` (a deleted user).
    pub(crate) fn remove_user(&mut self, user: UserId) {
        let Some(teams) = self.by_user.remove(&user) else {
            return;
        };
        for team in teams.iter() {
            if let Some(held) = self.by_team.get_mut(team) {
                held.members.retain(|member| *member != user);
            }
        }
    }

    pub(crate) fn team_ids(&self) -> impl Iterator<Item = TeamId> + '_ {
        self.by_team.keys().copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_user.len()
    }

    fn join(&mut self, user: UserId, team: TeamId) {
        let mut teams: Vec<TeamId> = self
            .by_user
            .get(&user)
            .map(|t| t.to_vec())
            .unwrap_or_default();
        if let Err(at) = teams.binary_search(&team) {
            teams.insert(at, team);
        }
        self.by_user.insert(user, Arc::from(teams));
    }

    fn leave(&mut self, user: UserId, team: TeamId) {
        let Some(current) = self.by_user.get(&user) else {
            return;
        };
        let teams: Vec<TeamId> = current.iter().copied().filter(|t| *t != team).collect();
        if teams.is_empty() {
            self.by_user.remove(&user);
        } else {
            self.by_user.insert(user, Arc::from(teams));
        }
    }
}
