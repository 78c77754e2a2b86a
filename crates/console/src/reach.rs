//! What the person signed in may reach, as the admin API's policy set decides it
//! (`GET /admin/v1/permissions`): the console shows a section or a form only to those who may use
//! it, and keeps no table of rights of its own, so an operator's policies hold here too. Hiding is
//! a courtesy, not the guard: each page's admin API call is still authorized and audited.

use std::collections::HashMap;

use browser::Person;
use http::Method;

use crate::Console;

/// The actions the person may do: for each, whether on the group as a whole.
#[derive(Debug, Default)]
pub(crate) struct Reach {
    actions: HashMap<String, bool>,
}

impl Reach {
    /// Asks the admin API, as `person`. An answer that cannot be read reaches nothing.
    pub(crate) async fn of(console: &Console, person: &Person) -> Reach {
        let answer = console
            .admin
            .call(
                &person.principal,
                Method::GET,
                "/admin/v1/permissions",
                None,
            )
            .await;
        let actions = answer
            .rows()
            .iter()
            .filter_map(|row| {
                let action = row["action"].as_str()?;
                Some((action.to_owned(), row["group"].as_bool().unwrap_or(false)))
            })
            .collect();
        Reach { actions }
    }

    /// Whether the person may do `action` (an audit action's name) somewhere.
    pub(crate) fn may(&self, action: &str) -> bool {
        self.actions.contains_key(action)
    }

    /// Whether the person may do `action` on the group as a whole.
    pub(crate) fn may_group_wide(&self, action: &str) -> bool {
        self.actions.get(action).copied().unwrap_or(false)
    }
}
