//! What a data policy does about what it finds: the action per personal-data type on input and on
//! output, and the action on blocked terms and suspected prompt injection. Names are the ones the
//! configuration file uses.

use std::fmt;
use std::str::FromStr;

use crate::PiiType;

/// The action on a personal-data type found in a request's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputAction {
    /// Replaced by a typed marker (`[REDACTED_IBAN]`) before the model sees it.
    Redact,
    /// Replaced by a numbered placeholder (`[IBAN_1]`) before the model sees it, and put back in
    /// the answer the caller receives.
    Pseudonymize,
    /// The request is refused (400 `personal_data_blocked`).
    Block,
    /// Passed unchanged; an audit event records the types and counts.
    Flag,
}

/// The action on a personal-data type found in a completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputAction {
    Redact,
    Flag,
}

/// The action on a blocked term or a suspected prompt injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentAction {
    Flag,
    Block,
}

/// A name that is not one of the actions allowed where it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{given}`; expected one of {expected}")]
pub struct UnknownAction {
    pub given: String,
    pub expected: &'static str,
}

macro_rules! named {
    ($type:ident, $expected:literal, $($variant:ident = $name:literal),+) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self { $($type::$variant => $name),+ }
            }
        }

        impl FromStr for $type {
            type Err = UnknownAction;

            fn from_str(name: &str) -> Result<Self, UnknownAction> {
                match name {
                    $($name => Ok($type::$variant),)+
                    _ => Err(UnknownAction { given: name.to_owned(), expected: $expected }),
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

impl InputAction {
    /// How strict an action is — what a model may see of the value: none (`None`, passed) 0,
    /// `flag` 1, `redact` and `pseudonymize` 2, `block` 3.
    pub fn strictness(action: Option<InputAction>) -> u8 {
        match action {
            None => 0,
            Some(InputAction::Flag) => 1,
            Some(InputAction::Redact | InputAction::Pseudonymize) => 2,
            Some(InputAction::Block) => 3,
        }
    }
}

named!(
    InputAction,
    "`redact`, `pseudonymize`, `block`, `flag`",
    Redact = "redact",
    Pseudonymize = "pseudonymize",
    Block = "block",
    Flag = "flag"
);
named!(
    OutputAction,
    "`redact`, `flag`",
    Redact = "redact",
    Flag = "flag"
);
named!(
    ContentAction,
    "`flag`, `block`",
    Flag = "flag",
    Block = "block"
);

/// An action per personal-data type (or none), as a small table indexed by type.
#[derive(Clone, PartialEq, Eq)]
pub struct ActionTable<A> {
    by_type: [Option<A>; PiiType::ALL.len()],
}

impl<A: Copy> Default for ActionTable<A> {
    fn default() -> Self {
        ActionTable {
            by_type: [None; PiiType::ALL.len()],
        }
    }
}

impl<A: Copy> ActionTable<A> {
    pub fn set(&mut self, kind: PiiType, action: A) {
        self.by_type[kind as usize] = Some(action);
    }

    pub fn get(&self, kind: PiiType) -> Option<A> {
        self.by_type[kind as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.by_type.iter().all(Option::is_none)
    }

    /// The types with an action, with it, in [`PiiType::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (PiiType, A)> + '_ {
        PiiType::ALL
            .into_iter()
            .filter_map(|kind| self.get(kind).map(|action| (kind, action)))
    }
}

impl ActionTable<InputAction> {
    /// Per type, the stricter of this table's action and `other`'s; this table's when they are
    /// as strict.
    pub fn stricter(&self, other: &ActionTable<InputAction>) -> ActionTable<InputAction> {
        let mut laid = self.clone();
        for (kind, theirs) in other.iter() {
            let mine = self.get(kind);
            if InputAction::strictness(Some(theirs)) > InputAction::strictness(mine) {
                laid.set(kind, theirs);
            }
        }
        laid
    }
}

impl<A: Copy + fmt::Debug> fmt::Debug for ActionTable<A> {
    /// As a map from type name to action: `{"IBAN": Pseudonymize}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(kind, action)| (kind.as_str(), action)))
            .finish()
    }
}

impl<A: Copy> FromIterator<(PiiType, A)> for ActionTable<A> {
    fn from_iter<I: IntoIterator<Item = (PiiType, A)>>(iter: I) -> Self {
        let mut table = ActionTable::default();
        for (kind, action) in iter {
            table.set(kind, action);
        }
        table
    }
}

/// How many spans of each type were found: what audit events carry, never the values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeCounts([u32; PiiType::ALL.len()]);

impl TypeCounts {
    pub fn add(&mut self, kind: PiiType) {
        self.0[kind as usize] = self.0[kind as usize].saturating_add(1);
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&n| n == 0)
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &TypeCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// The types counted, with their counts, in [`PiiType::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (PiiType, u32)> + '_ {
        PiiType::ALL
            .into_iter()
            .map(|kind| (kind, self.0[kind as usize]))
            .filter(|(_, n)| *n > 0)
    }

    /// The type names, comma-separated (`IBAN, NIR`), for messages.
    pub fn names(&self) -> String {
        self.iter()
            .map(|(kind, _)| kind.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_say_what_is_allowed() {
        for action in [
            InputAction::Redact,
            InputAction::Pseudonymize,
            InputAction::Block,
            InputAction::Flag,
        ] {
            assert_eq!(action.as_str().parse::<InputAction>(), Ok(action));
        }
        let error = "pseudonymize".parse::<OutputAction>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown action `pseudonymize`; expected one of `redact`, `flag`"
        );
        assert!("Block".parse::<ContentAction>().is_err());
    }

    #[test]
    fn two_tables_laid_keep_the_stricter_action_of_each_type() {
        let mine: ActionTable<InputAction> = [
            (PiiType::Email, InputAction::Redact),
            (PiiType::Iban, InputAction::Flag),
            (PiiType::Nir, InputAction::Block),
        ]
        .into_iter()
        .collect();
        let theirs: ActionTable<InputAction> = [
            (PiiType::Email, InputAction::Pseudonymize),
            (PiiType::Iban, InputAction::Block),
            (PiiType::Nir, InputAction::Flag),
            (PiiType::Ipv4, InputAction::Flag),
        ]
        .into_iter()
        .collect();
        let laid: Vec<_> = mine.stricter(&theirs).iter().collect();
        assert_eq!(
            laid,
            [
                (PiiType::Email, InputAction::Redact),
                (PiiType::Iban, InputAction::Block),
                (PiiType::Nir, InputAction::Block),
                (PiiType::Ipv4, InputAction::Flag),
            ]
        );
    }

    #[test]
    fn tables_and_counts_list_types_in_order() {
        let table: ActionTable<InputAction> = [
            (PiiType::Nir, InputAction::Block),
            (PiiType::Email, InputAction::Flag),
        ]
        .into_iter()
        .collect();
        let listed: Vec<_> = table.iter().collect();
        assert_eq!(
            listed,
            [
                (PiiType::Email, InputAction::Flag),
                (PiiType::Nir, InputAction::Block)
            ]
        );
        let mut counts = TypeCounts::default();
        counts.add(PiiType::Nir);
        counts.add(PiiType::Iban);
        counts.add(PiiType::Nir);
        assert_eq!(counts.names(), "IBAN, NIR");
        assert_eq!(
            counts.iter().collect::<Vec<_>>(),
            [(PiiType::Iban, 1), (PiiType::Nir, 2)]
        );
    }
}
