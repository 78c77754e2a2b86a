//! Validation of a data policy (`[policy]`'s data keys, `[entities.policy]`): type and action names
//! checked, each error at its key; an entity's keys laid over the group's.

use std::collections::BTreeMap;
use std::str::FromStr;

use policy::{ActionTable, PiiType, UnknownAction};

use crate::DataPolicy;
use crate::error::Collector;
use crate::raw::RawDataPolicy;

/// `raw` over `inherited`: each key given replaces the inherited one as a whole.
pub(crate) fn validate(
    raw: RawDataPolicy,
    inherited: &DataPolicy,
    key: &str,
    errors: &mut Collector,
) -> DataPolicy {
    let actions = match raw.actions {
        Some(table) => action_table(&table, &format!("{key}.actions"), errors),
        None => inherited.actions.clone(),
    };
    let output = match raw.output {
        Some(table) => action_table(&table, &format!("{key}.output"), errors),
        None => inherited.output.clone(),
    };
    let blocked_terms = match raw.blocked_terms {
        Some(terms) => {
            for (index, term) in terms.iter().enumerate() {
                if term.trim().is_empty() {
                    errors.push(format!("{key}.blocked_terms[{index}]"), "must not be blank");
                }
            }
            terms
        }
        None => inherited.blocked_terms.clone(),
    };
    let blocked_terms_action = raw
        .blocked_terms_action
        .and_then(|name| action(&name, &format!("{key}.blocked_terms_action"), errors))
        .unwrap_or(inherited.blocked_terms_action);
    let prompt_injection = match raw.prompt_injection {
        Some(name) => action(&name, &format!("{key}.prompt_injection"), errors),
        None => inherited.prompt_injection,
    };
    DataPolicy {
        trace_content: raw.trace_content.unwrap_or(inherited.trace_content),
        actions,
        output,
        blocked_terms,
        blocked_terms_action,
        prompt_injection,
    }
}

fn action_table<A: Copy + FromStr<Err = UnknownAction>>(
    table: &BTreeMap<String, String>,
    key: &str,
    errors: &mut Collector,
) -> ActionTable<A> {
    table
        .iter()
        .filter_map(|(type_name, action_name)| {
            let item_key = format!("{key}.{type_name}");
            let kind = match type_name.parse::<PiiType>() {
                Ok(kind) => Some(kind),
                Err(error) => {
                    errors.push(&item_key, error.to_string());
                    None
                }
            };
            let action = action::<A>(action_name, &item_key, errors);
            Some((kind?, action?))
        })
        .collect()
}

fn action<A: FromStr<Err = UnknownAction>>(
    name: &str,
    key: &str,
    errors: &mut Collector,
) -> Option<A> {
    name.parse()
        .map_err(|error: UnknownAction| errors.push(key, error.to_string()))
        .ok()
}
