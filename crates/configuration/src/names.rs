//! The names declared in one list (endpoints, models, entity slugs), for duplicate and reference
//! checks: a reference resolves to a position, is unknown, or cannot be checked because the item
//! that may declare it could not be read (its error is already reported).

use std::collections::{HashMap, HashSet};

/// The names declared in one list (endpoints, models, slugs), for duplicate and reference checks.
pub(crate) struct Names {
    /// Name → (position in the typed list, key path of its declaration). The first one wins.
    declared: HashMap<String, (usize, String)>,
    /// Names of items that could not be read: references to them are not reported again.
    unreadable: HashSet<String>,
    /// The whole list could not be read: no reference into it can be checked.
    all_unreadable: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    Found(usize),
    Unknown,
    /// The name may exist in an item that could not be read; its error is already reported.
    Unverifiable,
}

impl Names {
    pub(crate) fn new(unreadable: Vec<String>, all_unreadable: bool) -> Self {
        Names {
            declared: HashMap::new(),
            unreadable: unreadable.into_iter().collect(),
            all_unreadable,
        }
    }

    pub(crate) fn of_builtin<'a>(names: impl Iterator<Item = &'a str>) -> Self {
        let mut declared = Names::new(Vec::new(), false);
        for (position, name) in names.enumerate() {
            declared.declare(name, position, "built-in");
        }
        declared
    }

    /// Declares `name`; on a duplicate, returns the key of the first declaration.
    pub(crate) fn declare(&mut self, name: &str, position: usize, key: &str) -> Option<String> {
        match self.declared.get(name) {
            Some((_, first)) => Some(first.clone()),
            None => {
                self.declared
                    .insert(name.to_owned(), (position, key.to_owned()));
                None
            }
        }
    }

    pub(crate) fn resolve(&self, name: &str) -> Resolved {
        match self.declared.get(name) {
            Some((position, _)) => Resolved::Found(*position),
            None if self.all_unreadable || self.unreadable.contains(name) => Resolved::Unverifiable,
            None => Resolved::Unknown,
        }
    }
}
