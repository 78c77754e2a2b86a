//! The data policies in force, compared and laid over each other outside the file: a use case
//! registered through the admin API carries a policy written with the keys of `[entities.policy]`,
//! laid over its owning entity's ([`DataPolicy::laid_over`]), which it may only tighten
//! ([`DataPolicy::relaxations`] says how one policy is softer than another).

use std::collections::BTreeMap;

use policy::{ContentAction, InputAction, OutputAction, PiiType};
use serde::Deserialize;

use crate::Config;
use crate::error::Collector;
use crate::section::policy::{DataPolicy, RawDataPolicy, data_policy};

/// The group's data policy and each entity's own (`[entities.policy]`), by entity slug.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataPolicies {
    group: DataPolicy,
    entities: BTreeMap<String, DataPolicy>,
}

impl DataPolicies {
    pub fn new(config: &Config) -> DataPolicies {
        DataPolicies {
            group: config.policy.group.clone(),
            entities: config
                .entities
                .iter()
                .filter_map(|e| Some((e.slug.clone(), e.policy.clone()?)))
                .collect(),
        }
    }

    /// The policy callers of `entity` (a slug; `None`: the group's own accounts) are under.
    pub fn of(&self, entity: Option<&str>) -> &DataPolicy {
        entity
            .and_then(|slug| self.entities.get(slug))
            .unwrap_or(&self.group)
    }
}

impl DataPolicy {
    /// A policy written as data (JSON, from the admin API) with the keys of `[entities.policy]`,
    /// laid over `base`: each key given replaces the base's as a whole. Every problem is told,
    /// each as `key: message`.
    pub fn laid_over<'de, D: serde::Deserializer<'de>>(
        written: D,
        base: &DataPolicy,
    ) -> Result<DataPolicy, Vec<String>> {
        let raw = RawDataPolicy::deserialize(written).map_err(|e| vec![e.to_string()])?;
        let mut errors = Collector::new("policy");
        let laid = data_policy(raw, base, "policy", &mut errors);
        if errors.is_empty() {
            Ok(laid)
        } else {
            Err(errors
                .into_errors()
                .0
                .into_iter()
                .map(|e| format!("{}: {}", e.key, e.message))
                .collect())
        }
    }

    /// How `self` is softer than `base`, in words an auditor reads: an input or output action
    /// softened (`IBAN: block → flag`), a blocked term dropped, blocked terms or suspected prompt
    /// injections only flagged, content let into traces. Empty when `self` is as strict or
    /// stricter.
    pub fn relaxations(&self, base: &DataPolicy) -> Vec<String> {
        let laid = self;
        let mut relaxed = Vec::new();
        for kind in PiiType::ALL {
            let (was, is) = (base.actions.get(kind), laid.actions.get(kind));
            if InputAction::strictness(is) < InputAction::strictness(was) {
                relaxed.push(format!("{kind}: {} → {}", input_name(was), input_name(is)));
            }
            let (was, is) = (base.output.get(kind), laid.output.get(kind));
            if output_rank(is) < output_rank(was) {
                let name = |a: Option<OutputAction>| a.map_or("pass", OutputAction::as_str);
                relaxed.push(format!("output {kind}: {} → {}", name(was), name(is)));
            }
        }
        for term in &base.blocked_terms {
            if !laid
                .blocked_terms
                .iter()
                .any(|t| t.eq_ignore_ascii_case(term))
            {
                relaxed.push(format!("blocked term `{term}` dropped"));
            }
        }
        let blocks_terms = |p: &DataPolicy| p.blocked_terms_action == ContentAction::Block;
        if !laid.blocked_terms.is_empty() && blocks_terms(base) && !blocks_terms(laid) {
            relaxed.push("blocked terms: block → flag".to_owned());
        }
        let injection = |p: &DataPolicy| match p.prompt_injection {
            None => 0,
            Some(ContentAction::Flag) => 1,
            Some(ContentAction::Block) => 2,
        };
        if injection(laid) < injection(base) {
            relaxed.push("prompt injection: softened".to_owned());
        }
        if laid.trace_content && !base.trace_content {
            relaxed.push("trace_content: on".to_owned());
        }
        relaxed
    }
}

fn input_name(action: Option<InputAction>) -> &'static str {
    action.map_or("pass", InputAction::as_str)
}

fn output_rank(action: Option<OutputAction>) -> u8 {
    match action {
        None => 0,
        Some(OutputAction::Flag) => 1,
        Some(OutputAction::Redact) => 2,
    }
}
