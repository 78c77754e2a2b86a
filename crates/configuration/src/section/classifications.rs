//! Top-level key `classifications`: the data classification levels, lowest first, and the lookup
//! of a level by name that endpoints, entities and the policy use.

use std::collections::HashMap;

use domain::{Classification, ClassificationLadder};

use crate::error::Collector;
use crate::read::Section;
use crate::rules::{NameRule, name_problem, quoted_list};

/// Returns the ladder, and whether clearances can be checked against it (not when the
/// `classifications` key itself could not be read).
pub(crate) fn validate(
    section: Section<Vec<String>>,
    errors: &mut Collector,
) -> (ClassificationLadder, bool) {
    let names = match section {
        Section::Absent => return (ClassificationLadder::default(), true),
        Section::Invalid => return (ClassificationLadder::default(), false),
        Section::Given(names) => names,
    };
    if names.is_empty() {
        errors.push("classifications", "at least one level is required");
        return (ClassificationLadder::default(), false);
    }
    // A level is stored as a `u8` rank.
    if names.len() > usize::from(u8::MAX) + 1 {
        errors.push(
            "classifications",
            format!("at most 256 levels are allowed, found {}", names.len()),
        );
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, name) in names.iter().enumerate() {
        let key = format!("classifications[{index}]");
        if let Some(message) = name_problem(name, NameRule::Identifier) {
            errors.push(&key, message);
        }
        if let Some(first) = seen.insert(name, index) {
            errors.push(
                &key,
                format!(
                    "duplicate classification level `{name}`, already at classifications[{first}]"
                ),
            );
        }
    }
    (ClassificationLadder::new(names), true)
}

/// A level of the ladder by name; an unknown name is reported at `key` (unless the ladder itself
/// could not be read, whose error is already reported).
pub(crate) fn level(
    name: &str,
    key: &str,
    ladder: &ClassificationLadder,
    ladder_is_known: bool,
    errors: &mut Collector,
) -> Option<Classification> {
    let found = ladder.parse(name);
    if found.is_none() && ladder_is_known {
        errors.push(
            key,
            format!(
                "unknown classification level `{name}`; expected one of {}",
                quoted_list(ladder.names())
            ),
        );
    }
    found
}
