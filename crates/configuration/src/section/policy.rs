//! Section `[policy]` and the data policies of `[entities.policy]` and `[use_cases.policy]`: what
//! the gateway does about personal data, blocked terms and suspected prompt injection. Type and
//! action names are checked, each error at its key; an entity's keys are laid over the group's.

use std::collections::BTreeMap;
use std::str::FromStr;

use domain::{Classification, ClassificationLadder};
use policy::{ActionTable, PiiType, UnknownAction};
use serde::Deserialize;

use crate::error::Collector;
use crate::section::classifications::level;

/// Section `[policy]`: group-wide data-protection rules applied on the request path.
///
/// ```toml
/// [policy]
/// personal_data_classification = "confidential"
/// blocked_terms = ["Projet Orion"]
/// blocked_terms_action = "block"
/// prompt_injection = "flag"
///
/// [policy.actions]
/// IBAN = "pseudonymize"
/// EMAIL = "redact"
/// NIR = "block"
///
/// [policy.output]
/// CREDIT_CARD = "redact"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Key `personal_data_classification`: a level of `classifications`. A request whose input holds
    /// personal data (any type `fabrique policy scan` detects) is classified at least this high, so
    /// it only reaches endpoints cleared for it. Default: none (detection does not raise the level).
    pub personal_data_classification: Option<Classification>,
    /// Every other key of `[policy]`: the group's data policy, which applies to callers of entities
    /// without `[entities.policy]` and gives the keys such an entity does not set.
    pub group: DataPolicy,
}

/// A data policy: what the gateway does about personal data, blocked terms and suspected prompt
/// injection in what it relays. In `[policy]` for the group, in `[entities.policy]` for an entity;
/// an entity's key replaces the group's key of the same name as a whole (an entity's `actions` table
/// is the entity's whole table), keys it does not give are the group's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPolicy {
    /// Table `actions`: personal-data type → action on a request's input. Types are the names of
    /// `fabrique policy scan` (`EMAIL`, `PHONE_FR`, `IBAN`, `NIR`, `SIREN`, `SIRET`,
    /// `CREDIT_CARD`, `IPV4`, `IPV6`); actions are `redact` (the value becomes `[REDACTED_IBAN]`),
    /// `pseudonymize` (it becomes `[IBAN_1]` for the model, and the caller's answer gets the value
    /// back, streaming included), `block` (400 `personal_data_blocked`, naming the types found) or
    /// `flag` (passed unchanged, audited as `policy.flagged` with types and counts). A type not
    /// listed passes unchanged. Default: empty.
    pub actions: policy::ActionTable<policy::InputAction>,
    /// Table `output`: personal-data type → action on completions, `redact` or `flag`, streamed
    /// answers included. Values the request itself pseudonymized are the caller's own and are put
    /// back after this check, so they are never redacted. Default: empty.
    pub output: policy::ActionTable<policy::OutputAction>,
    /// Key `blocked_terms`: words or phrases (case-insensitive, whole words) that must not reach a
    /// model; none blank. Default: none.
    pub blocked_terms: Vec<String>,
    /// Key `blocked_terms_action`: `block` (400 `blocked_term`, naming the term) or `flag`
    /// (audited as `policy.flagged`). Default `block`.
    pub blocked_terms_action: policy::ContentAction,
    /// Key `prompt_injection`: the prompt-injection heuristic (a few phrases such as "ignore
    /// previous instructions", "you are now…", requests for the system prompt), `block` (400
    /// `prompt_injection_suspected`) or `flag`. Default: off (`None`).
    pub prompt_injection: Option<policy::ContentAction>,
    /// Key `trace_content`: `true` lets the request's root span carry its input as it was sent to
    /// the model (after redaction and pseudonymization), as `gen_ai.input.messages` (chat), or the
    /// embedding input or FIM prompt — for an entity that wants its prompts in its traces. Only
    /// when traces are exported (`[telemetry]`). Default `false`: no prompt content in traces.
    pub trace_content: bool,
}

impl Default for DataPolicy {
    fn default() -> Self {
        DataPolicy {
            actions: policy::ActionTable::default(),
            output: policy::ActionTable::default(),
            blocked_terms: Vec::new(),
            blocked_terms_action: policy::ContentAction::Block,
            prompt_injection: None,
            trace_content: false,
        }
    }
}

/// As written: the group's data policy plus `personal_data_classification`. The data-policy keys
/// repeat [`RawDataPolicy`]'s, since `deny_unknown_fields` cannot be combined with flattening.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub personal_data_classification: Option<String>,
    pub actions: Option<BTreeMap<String, String>>,
    pub output: Option<BTreeMap<String, String>>,
    pub blocked_terms: Option<Vec<String>>,
    pub blocked_terms_action: Option<String>,
    pub prompt_injection: Option<String>,
    pub trace_content: Option<bool>,
}

impl RawPolicy {
    /// The group's data policy, apart from the classification key.
    pub(crate) fn split(self) -> (Option<String>, RawDataPolicy) {
        let data = RawDataPolicy {
            actions: self.actions,
            output: self.output,
            blocked_terms: self.blocked_terms,
            blocked_terms_action: self.blocked_terms_action,
            prompt_injection: self.prompt_injection,
            trace_content: self.trace_content,
        };
        (self.personal_data_classification, data)
    }
}

/// `[entities.policy]`, `[use_cases.policy]` and `[policy]`'s data keys as written; the keys are
/// documented on [`DataPolicy`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDataPolicy {
    pub actions: Option<BTreeMap<String, String>>,
    pub output: Option<BTreeMap<String, String>>,
    pub blocked_terms: Option<Vec<String>>,
    pub blocked_terms_action: Option<String>,
    pub prompt_injection: Option<String>,
    pub trace_content: Option<bool>,
}

pub(crate) fn validate(
    raw: RawPolicy,
    ladder: &ClassificationLadder,
    known: bool,
    errors: &mut Collector,
) -> PolicyConfig {
    let (personal_data_classification, data) = raw.split();
    let personal_data_classification = personal_data_classification.as_deref().and_then(|name| {
        level(
            name,
            "policy.personal_data_classification",
            ladder,
            known,
            errors,
        )
    });
    PolicyConfig {
        personal_data_classification,
        group: data_policy(data, &DataPolicy::default(), "policy", errors),
    }
}

/// `raw` over `inherited`: each key given replaces the inherited one as a whole.
pub(crate) fn data_policy(
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
