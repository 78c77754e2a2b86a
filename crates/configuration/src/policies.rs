//! The data policies in force, compared and laid over each other outside the file, and which
//! one applies to a request ([`DataPolicies::effective`]) — the one resolution the gateway
//! compiles for the request path and the admin API shows and tries on sample text.
//!
//! A use case registered through the admin API carries a policy written with the keys of
//! `[entities.policy]`, laid over its callers' entity's ([`DataPolicy::laid_over`]), which it may
//! only tighten ([`DataPolicy::relaxations`] says how one policy is softer than another).
//!
//! Which policy applies to a caller of an entity naming a use case: the declared use case's
//! (`[[use_cases]]`, laid over the entity's policy in the file, and allowed to soften it for the
//! callers it lists); else the registered use case's, laid over the entity's when it only
//! tightens it; else the entity's own (`[entities.policy]`); else the group's (`[policy]`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use policy::{ContentAction, InputAction, OutputAction, PiiType};
use serde::Deserialize;
use serde_json::Value;

use crate::Config;
use crate::error::Collector;
use crate::section::policy::{DataPolicy, RawDataPolicy, data_policy};
use crate::section::use_cases::UseCasePolicy;

/// The group's data policy, each entity's own (`[entities.policy]`), by entity slug, and each
/// declared use case's (`[[use_cases]]` with a `policy`), by use-case slug.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataPolicies {
    group: DataPolicy,
    entities: BTreeMap<String, DataPolicy>,
    declared: BTreeMap<String, UseCasePolicy>,
}

/// Where the policy that applies comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// `[policy]`: the caller's entity has no policy of its own (or there is no entity).
    Group,
    /// `[entities.policy]`.
    Entity,
    /// `[[use_cases]]`'s `policy`, laid over the entity's (or the group's).
    DeclaredUseCase,
    /// A registered use case's policy, laid over the entity's (or the group's).
    RegisteredUseCase,
}

impl PolicySource {
    /// Its name in the admin API's answers.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySource::Group => "group",
            PolicySource::Entity => "entity",
            PolicySource::DeclaredUseCase => "declared_use_case",
            PolicySource::RegisteredUseCase => "registered_use_case",
        }
    }
}

/// The policy that applies to a request, where it comes from, and how it is softer than the
/// caller's entity's own (only a declared use case may soften it, for the callers it lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective<'a> {
    pub policy: Cow<'a, DataPolicy>,
    pub source: PolicySource,
    pub relaxed: Vec<String>,
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
            declared: config
                .use_cases
                .iter()
                .filter_map(|u| Some((u.slug.clone(), u.policy.clone()?)))
                .collect(),
        }
    }

    /// The policy callers of `entity` (a slug; `None`: the group's own accounts) are under.
    pub fn of(&self, entity: Option<&str>) -> &DataPolicy {
        entity
            .and_then(|slug| self.entities.get(slug))
            .unwrap_or(&self.group)
    }

    /// Whether `entity` has a policy of its own.
    fn has_own(&self, entity: Option<&str>) -> bool {
        entity.is_some_and(|slug| self.entities.contains_key(slug))
    }

    /// The policy for a caller of `entity` naming `use_case` (`None`: none, or one that changes
    /// nothing). `registered` is the registered use case's policy as written (`factory::Live`),
    /// when it has one; a declared use case's is the file's.
    pub fn effective(
        &self,
        entity: Option<&str>,
        use_case: Option<&str>,
        registered: Option<&Value>,
    ) -> Effective<'_> {
        let own = self.of(entity);
        let of_entity = || Effective {
            policy: Cow::Borrowed(own),
            source: match self.has_own(entity) {
                true => PolicySource::Entity,
                false => PolicySource::Group,
            },
            relaxed: Vec::new(),
        };
        let Some(slug) = use_case else {
            return of_entity();
        };
        if let Some(declared) = self.declared.get(slug) {
            let laid = entity
                .and_then(|slug| declared.over_entities.get(slug))
                .unwrap_or(&declared.over_group);
            return Effective {
                policy: Cow::Borrowed(laid),
                source: PolicySource::DeclaredUseCase,
                relaxed: laid.relaxations(own),
            };
        }
        match registered.and_then(|written| self.registered(written, entity)) {
            Some(laid) => Effective {
                policy: Cow::Owned(laid),
                source: PolicySource::RegisteredUseCase,
                relaxed: Vec::new(),
            },
            None => of_entity(),
        }
    }

    /// A registered use case's policy as written, laid over the policy of callers of `entity`;
    /// `None` when it is not valid or would soften theirs, which then applies.
    pub fn registered(&self, written: &Value, entity: Option<&str>) -> Option<DataPolicy> {
        let base = self.of(entity);
        DataPolicy::laid_over(written, base)
            .ok()
            .filter(|laid| laid.relaxations(base).is_empty())
    }
}

impl DataPolicy {
    /// What this policy would do to `text` in a request (`policy::dry_run`), with every detector.
    pub fn dry_run(&self, text: &str) -> policy::DryRun {
        let blocked_terms = policy::BlockedTerms::new(&self.blocked_terms);
        let rules = policy::Rules {
            input: &self.actions,
            output: &self.output,
            blocked_terms: &blocked_terms,
            blocked_terms_action: self.blocked_terms_action,
            prompt_injection: self.prompt_injection,
        };
        policy::dry_run(text, &rules, &policy::Detector::all())
    }

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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use policy::{InputAction, PiiType};
    use serde_json::json;

    use super::{DataPolicies, PolicySource};
    use crate::Config;

    const FILE: &str = r#"
[policy.actions]
IBAN = "block"

[[entities]]
slug = "markets"
name = "Marchés"
[entities.policy.actions]
IBAN = "pseudonymize"

[[entities]]
slug = "retail"
name = "Retail"

[[use_cases]]
slug = "kyc"
allowed_entities = ["markets", "retail"]
[use_cases.policy.actions]
IBAN = "flag"
"#;

    fn policies() -> DataPolicies {
        let config = Config::from_toml(FILE, "test.toml", &|_| None).unwrap();
        DataPolicies::new(&config)
    }

    #[test]
    fn an_entity_without_a_policy_of_its_own_is_under_the_groups() {
        let policies = policies();
        let markets = policies.effective(Some("markets"), None, None);
        assert_eq!(markets.source, PolicySource::Entity);
        let iban = |e: &super::Effective<'_>| e.policy.actions.get(PiiType::Iban);
        assert_eq!(iban(&markets), Some(InputAction::Pseudonymize));
        let retail = policies.effective(Some("retail"), None, None);
        assert_eq!(retail.source, PolicySource::Group);
        assert_eq!(iban(&retail), Some(InputAction::Block));
        // A use case neither declared nor registered changes nothing.
        assert_eq!(
            policies.effective(Some("retail"), Some("label"), None),
            retail
        );
    }

    #[test]
    fn a_declared_use_case_says_what_it_softens_and_a_registered_one_only_tightens() {
        let policies = policies();
        let kyc = policies.effective(Some("retail"), Some("kyc"), None);
        assert_eq!(kyc.source, PolicySource::DeclaredUseCase);
        assert_eq!(kyc.relaxed, ["IBAN: block → flag"]);
        assert!(matches!(kyc.policy, Cow::Borrowed(_)));
        let tighter = json!({"actions": {"IBAN": "block", "EMAIL": "redact"}});
        let registered = policies.effective(Some("markets"), Some("letters"), Some(&tighter));
        assert_eq!(registered.source, PolicySource::RegisteredUseCase);
        assert_eq!(
            registered.policy.actions.get(PiiType::Email),
            Some(InputAction::Redact)
        );
        // Softer than retail's (the group's), so retail's applies.
        let softer = json!({"actions": {"IBAN": "flag"}});
        let refused = policies.effective(Some("retail"), Some("letters"), Some(&softer));
        assert_eq!(refused.source, PolicySource::Group);
    }

    #[test]
    fn a_dry_run_applies_the_policy_to_sample_text() {
        let policies = policies();
        let markets = policies.of(Some("markets"));
        let run = markets.dry_run("IBAN FR76 3000 6000 0112 3456 7890 189");
        assert_eq!(run.sent.as_deref(), Some("IBAN [IBAN_1]"));
    }
}
