//! The data policies, compiled once from the configuration: the group's, each entity's and each
//! declared use case's laid over them ([`Inspector`]); and the auditor of what they flag. The
//! inspect stage applies them to the request, the answer filter to the answer.
//!
//! Which policy applies ([`Inspector::policy_for`]): the policy of the declared use case the
//! request names (`[[use_cases]]`, laid over the caller's entity's policy at start), else the
//! caller's entity's (`[entities.policy]`), else the group's (`[policy]`).
//!
//! A use case may only be named by the callers it allows (`allowed_entities`, `allowed_teams`,
//! `allowed_keys`) and only relax a caller's policy for callers it names: where its laid policy is
//! softer than the caller's own ([`relaxations`]), an open use case is refused, and an allowed
//! caller's request is audited as `policy.relaxed`, saying what was softened.

use std::collections::HashMap;
use std::sync::Arc;

use configuration::{Config, DataPolicy, UseCaseAllowed};
use domain::{AuditEvent, Outcome, TeamId, now_millis};
use identity::Principal;
use policy::{
    ActionTable, BlockedTerms, ContentAction, Detector, InputAction, OutputAction, OutputRules,
    PiiType,
};
use usage::AuditSink;

/// One data policy, ready for the request path.
#[derive(Debug)]
pub(crate) struct CompiledPolicy {
    pub(crate) input: ActionTable<InputAction>,
    pub(crate) output: OutputRules,
    pub(crate) blocked_terms: BlockedTerms,
    pub(crate) blocked_terms_action: ContentAction,
    pub(crate) prompt_injection: Option<ContentAction>,
    /// The entity lets its traces carry the input as sent (`trace_content`).
    pub(crate) trace_content: bool,
}

impl CompiledPolicy {
    fn new(policy: &DataPolicy) -> Self {
        CompiledPolicy {
            input: policy.actions.clone(),
            output: OutputRules::new(policy.output.clone()),
            blocked_terms: BlockedTerms::new(&policy.blocked_terms),
            blocked_terms_action: policy.blocked_terms_action,
            prompt_injection: policy.prompt_injection,
            trace_content: policy.trace_content,
        }
    }

    /// Whether anything in this policy reads the request's input texts.
    pub(crate) fn reads_input(&self) -> bool {
        !self.input.is_empty() || !self.blocked_terms.is_empty() || self.prompt_injection.is_some()
    }
}

/// Every entity's policy, every declared use case's and the group's, built once from the
/// configuration.
#[derive(Debug)]
pub(crate) struct Inspector {
    group: Arc<CompiledPolicy>,
    by_entity: HashMap<String, Arc<CompiledPolicy>>,
    by_use_case: HashMap<String, UseCaseRules>,
    pub(crate) detector: Detector,
}

/// What a declared use case changes for its requests.
#[derive(Debug)]
pub(crate) struct UseCaseRules {
    /// The only entity whose callers may name it; `None`: any.
    entity: Option<String>,
    /// Who may name it; `None`: anyone (of `entity`).
    allowed: Option<UseCaseAllowed>,
    /// Its policy laid over the policies it may meet; `None`: the caller's applies.
    policy: Option<LaidPolicy>,
    /// Its priority class at the schedule stage: the default, and the most urgent it may ask.
    priority: Option<domain::Priority>,
}

/// A use case's policy laid over the group's, and over each entity's own (by entity slug).
#[derive(Debug)]
struct LaidPolicy {
    over_group: Laid,
    over_entities: HashMap<String, Laid>,
}

/// One laid policy, and how it is softer than the policy it was laid over.
#[derive(Debug)]
struct Laid {
    policy: Arc<CompiledPolicy>,
    relaxed: Vec<String>,
}

impl UseCaseRules {
    pub(crate) fn priority(&self) -> Option<domain::Priority> {
        self.priority
    }

    /// Whether the caller may name this use case: its entity's, when it belongs to one; on its
    /// `allowed` list, when it has one; and on a list at all, when it relaxes the caller's policy.
    pub(crate) fn permits(&self, principal: &Principal, teams: Option<&[TeamId]>) -> bool {
        let entity = principal.entity_slug.as_deref();
        let of_entity = self
            .entity
            .as_deref()
            .is_none_or(|only| entity == Some(only));
        let listed = match &self.allowed {
            None => self.relaxations(principal).is_empty(),
            Some(allowed) => {
                entity.is_some_and(|slug| allowed.entities.iter().any(|e| e == slug))
                    || principal
                        .key_id
                        .is_some_and(|key| allowed.keys.contains(&key))
                    || teams
                        .unwrap_or_default()
                        .iter()
                        .any(|team| allowed.teams.contains(team))
            }
        };
        of_entity && listed
    }

    fn laid(&self, principal: &Principal) -> Option<&Laid> {
        let laid = self.policy.as_ref()?;
        let entity = principal.entity_slug.as_deref();
        Some(
            entity
                .and_then(|slug| laid.over_entities.get(slug))
                .unwrap_or(&laid.over_group),
        )
    }

    /// How this use case's policy is softer than the caller's own.
    pub(crate) fn relaxations(&self, principal: &Principal) -> &[String] {
        self.laid(principal).map_or(&[], |laid| &laid.relaxed)
    }
}

impl Inspector {
    pub(crate) fn new(config: &Config) -> Inspector {
        let compile = |policy: &DataPolicy| Arc::new(CompiledPolicy::new(policy));
        let group = &config.policy.group;
        let own = |slug: &str| {
            let entity = config.entities.iter().find(|e| e.slug == slug);
            entity.and_then(|e| e.policy.as_ref()).unwrap_or(group)
        };
        let lay = |laid: &DataPolicy, base: &DataPolicy| Laid {
            policy: compile(laid),
            relaxed: relaxations(laid, base),
        };
        Inspector {
            group: compile(&config.policy.group),
            by_entity: config
                .entities
                .iter()
                .filter_map(|e| Some((e.slug.clone(), compile(e.policy.as_ref()?))))
                .collect(),
            by_use_case: config
                .use_cases
                .iter()
                .map(|use_case| {
                    let policy = use_case.policy.as_ref().map(|p| {
                        let over_entities = p
                            .over_entities
                            .iter()
                            .map(|(slug, policy)| (slug.clone(), lay(policy, own(slug))))
                            .collect();
                        LaidPolicy {
                            over_group: lay(&p.over_group, group),
                            over_entities,
                        }
                    });
                    let rules = UseCaseRules {
                        entity: use_case.entity.clone(),
                        allowed: use_case.allowed.clone(),
                        policy,
                        priority: use_case.priority,
                    };
                    (use_case.slug.clone(), rules)
                })
                .collect(),
            detector: Detector::all(),
        }
    }

    /// The declared use case named `slug`, if it is declared.
    pub(crate) fn use_case(&self, slug: &str) -> Option<&UseCaseRules> {
        self.by_use_case.get(slug)
    }

    /// The policy for the caller and the use case the request names: the use case's (laid over
    /// the caller's entity's), else their entity's, else the group's.
    pub(crate) fn policy_for(
        &self,
        principal: &Principal,
        use_case: Option<&str>,
    ) -> &Arc<CompiledPolicy> {
        let declared = use_case
            .and_then(|slug| self.by_use_case.get(slug))
            .and_then(|rules| rules.laid(principal));
        if let Some(laid) = declared {
            return &laid.policy;
        }
        let entity = principal.entity_slug.as_deref();
        entity
            .and_then(|slug| self.by_entity.get(slug))
            .unwrap_or(&self.group)
    }

    /// How the policy of the use case the request names is softer than the caller's own.
    pub(crate) fn relaxations(&self, principal: &Principal, use_case: Option<&str>) -> &[String] {
        use_case
            .and_then(|slug| self.by_use_case.get(slug))
            .map_or(&[], |rules| rules.relaxations(principal))
    }
}

/// How `laid` is softer than `base`, in words an auditor reads: an input or output action
/// softened (`IBAN: block → flag`), a blocked term dropped, blocked terms or suspected prompt
/// injections only flagged, content let into traces. Empty when `laid` is as strict or stricter.
pub(crate) fn relaxations(laid: &DataPolicy, base: &DataPolicy) -> Vec<String> {
    let mut relaxed = Vec::new();
    for kind in PiiType::ALL {
        let (was, is) = (base.actions.get(kind), laid.actions.get(kind));
        if input_rank(is) < input_rank(was) {
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

/// How strict an input action is: what the model may see of the value.
fn input_rank(action: Option<InputAction>) -> u8 {
    match action {
        None => 0,
        Some(InputAction::Flag) => 1,
        Some(InputAction::Redact | InputAction::Pseudonymize) => 2,
        Some(InputAction::Block) => 3,
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

/// Who and what a policy audit event is about.
pub(crate) struct Subject<'a> {
    pub principal: &'a Principal,
    /// The use case the request names, which may have a policy of its own.
    pub use_case: Option<&'a str>,
    pub request_id: &'a str,
    pub model: &'a str,
}

impl<'a> Subject<'a> {
    pub fn new(
        principal: &'a Principal,
        use_case: Option<&'a str>,
        request_id: &'a str,
        model: &'a str,
    ) -> Self {
        Subject {
            principal,
            use_case,
            request_id,
            model,
        }
    }
}

/// Audits `flag` actions of one request: which rule, which types and how many — never the values.
/// Owns what it needs, so an answer filter can audit after the request's stages are over.
pub(crate) struct PolicyAuditor {
    sink: AuditSink,
    actor: String,
    entity_id: Option<domain::EntityId>,
    request_id: String,
    model: String,
}

impl PolicyAuditor {
    pub(crate) fn new(sink: &AuditSink, subject: &Subject<'_>) -> Self {
        PolicyAuditor {
            sink: sink.clone(),
            actor: subject.principal.actor(),
            entity_id: subject.principal.entity_id,
            request_id: subject.request_id.to_owned(),
            model: subject.model.to_owned(),
        }
    }

    /// Records a `policy.flagged` event whose detail is `rule` plus the request id.
    pub(crate) fn flagged(&self, rule: serde_json::Value) {
        self.record(domain::AuditAction::PolicyFlagged, rule);
    }

    /// Records a `policy.relaxed` event: the use case whose policy, softer than the caller's
    /// own, applies to the request, and what it softens.
    pub(crate) fn relaxed(&self, use_case: &str, relaxations: &[String]) {
        let detail = serde_json::json!({"use_case": use_case, "relaxed": relaxations});
        self.record(domain::AuditAction::PolicyRelaxed, detail);
    }

    fn record(&self, action: domain::AuditAction, mut detail: serde_json::Value) {
        detail["request_id"] = self.request_id.as_str().into();
        let event = AuditEvent {
            at: now_millis(),
            actor: self.actor.clone(),
            action,
            entity_id: self.entity_id,
            target: self.model.clone(),
            outcome: Outcome::Success,
            detail: detail.to_string(),
        };
        // A loss is counted and logged by the sink.
        self.sink.record(event);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use configuration::{DataPolicy, UseCaseAllowed};
    use domain::{EntityId, KeyId, KeyOwner, TeamId, UserId};
    use identity::Principal;
    use policy::{ContentAction, InputAction, OutputAction, PiiType};

    use super::{Laid, LaidPolicy, UseCaseRules, relaxations};

    fn base() -> DataPolicy {
        let mut policy = DataPolicy::default();
        policy.actions.set(PiiType::Iban, InputAction::Block);
        policy.actions.set(PiiType::Email, InputAction::Redact);
        policy.output.set(PiiType::Iban, OutputAction::Redact);
        policy.blocked_terms = vec!["Projet Orion".to_owned()];
        policy.prompt_injection = Some(ContentAction::Block);
        policy
    }

    #[test]
    fn a_softer_policy_is_described_and_a_stricter_one_is_not() {
        let mut laid = base();
        assert!(relaxations(&laid, &base()).is_empty());
        laid.actions.set(PiiType::Nir, InputAction::Block);
        laid.blocked_terms.push("Projet Vega".to_owned());
        assert!(relaxations(&laid, &base()).is_empty(), "stricter only");
        laid.actions.set(PiiType::Iban, InputAction::Flag);
        laid.actions.set(PiiType::Email, InputAction::Pseudonymize);
        laid.output = Default::default();
        laid.blocked_terms = vec!["projet orion".to_owned()];
        laid.prompt_injection = Some(ContentAction::Flag);
        laid.trace_content = true;
        assert_eq!(
            relaxations(&laid, &base()),
            [
                "IBAN: block → flag",
                "output IBAN: redact → pass",
                "prompt injection: softened",
                "trace_content: on",
            ]
        );
        laid.blocked_terms.clear();
        assert!(
            relaxations(&laid, &base()).contains(&"blocked term `Projet Orion` dropped".to_owned())
        );
    }

    fn principal(entity: &str, key: KeyId) -> Principal {
        Principal {
            key_id: Some(key),
            owner: KeyOwner::User(UserId::generate()),
            entity_id: Some(EntityId::generate()),
            entity_slug: Some(Arc::from(entity)),
            roles: Vec::new(),
            classification: None,
            models: None,
            expires_at: None,
            priority: None,
        }
    }

    fn use_case(allowed: Option<UseCaseAllowed>, relaxed: &[&str]) -> UseCaseRules {
        let laid = Laid {
            policy: Arc::new(super::CompiledPolicy::new(&DataPolicy::default())),
            relaxed: relaxed.iter().map(|r| (*r).to_owned()).collect(),
        };
        UseCaseRules {
            entity: None,
            allowed,
            policy: Some(LaidPolicy {
                over_group: laid,
                over_entities: Default::default(),
            }),
            priority: None,
        }
    }

    #[test]
    fn a_use_case_that_relaxes_is_open_only_to_the_callers_it_lists() {
        let (key, team) = (KeyId::generate(), TeamId::generate());
        let caller = principal("retail", key);
        let stranger = principal("markets", KeyId::generate());
        // Stricter or equal: anyone may name it.
        assert!(use_case(None, &[]).permits(&stranger, None));
        // Softer and unlisted: nobody.
        assert!(!use_case(None, &["IBAN: block → flag"]).permits(&caller, None));
        let listed = |allowed: UseCaseAllowed| use_case(Some(allowed), &["IBAN: block → flag"]);
        let by_entity = listed(UseCaseAllowed {
            entities: vec!["retail".to_owned()],
            ..UseCaseAllowed::default()
        });
        assert!(by_entity.permits(&caller, None));
        assert!(!by_entity.permits(&stranger, None));
        let by_key = listed(UseCaseAllowed {
            keys: vec![key],
            ..UseCaseAllowed::default()
        });
        assert!(by_key.permits(&caller, None));
        assert!(!by_key.permits(&stranger, None));
        let by_team = listed(UseCaseAllowed {
            teams: vec![team],
            ..UseCaseAllowed::default()
        });
        assert!(by_team.permits(&stranger, Some(&[TeamId::generate(), team])));
        assert!(!by_team.permits(&stranger, Some(&[TeamId::generate()])));
    }
}
