//! Stage 6, second half — inspect: the caller's data policy applied to the request's input texts,
//! after classification and before anything leaves.
//!
//! One scan of every input text with every detector serves both halves of the stage: it raises
//! the classification (`[policy] personal_data_classification`) and finds what the policy acts
//! on. In order:
//! 1. blocked terms and the prompt-injection heuristic: `block` refuses (400 `blocked_term`,
//!    `prompt_injection_suspected`), `flag` audits;
//! 2. personal data with action `block` refuses (400 `personal_data_blocked`, naming the types
//!    found, never the values); `flag` audits `policy.flagged` with types and counts;
//! 3. `redact` and `pseudonymize` rewrite the strings holding the values, and only those
//!    (`texts::replace_input_texts`); the pseudonyms stay in this request's memory and go to the
//!    relay ([`crate::answer::AnswerFilter`]), which puts the values back in the answer.
//!
//! When nothing is found the body is sent as received: no copy, no re-serialization.
//!
//! Which policy applies ([`Inspector::policy_for`]): the policy of the declared use case the
//! request names (`[[use_cases]]`, laid over the caller's entity's policy at start), else the
//! caller's entity's (`[entities.policy]`), else the group's (`[policy]`).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use configuration::{Config, DataPolicy};
use domain::{AuditEvent, Classification, Operation, Outcome, now_millis};
use identity::Principal;
use policy::{
    ActionTable, BlockedTerms, ContentAction, Detector, InputAction, OutputRules, Pseudonyms, Span,
    TypeCounts,
};
use serde_json::json;
use wire::object::RawObject;

use crate::answer::AnswerFilter;
use crate::error::GatewayError;
use crate::state::Gateway;
use crate::texts;

/// One data policy, ready for the request path.
#[derive(Debug)]
pub struct CompiledPolicy {
    input: ActionTable<InputAction>,
    pub(crate) output: OutputRules,
    blocked_terms: BlockedTerms,
    blocked_terms_action: ContentAction,
    prompt_injection: Option<ContentAction>,
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
    fn reads_input(&self) -> bool {
        !self.input.is_empty() || !self.blocked_terms.is_empty() || self.prompt_injection.is_some()
    }
}

/// Every entity's policy, every declared use case's and the group's, built once from the
/// configuration.
#[derive(Debug)]
pub struct Inspector {
    group: Arc<CompiledPolicy>,
    by_entity: HashMap<String, Arc<CompiledPolicy>>,
    by_use_case: HashMap<String, UseCaseRules>,
    detector: Detector,
}

/// What a declared use case changes for its requests.
#[derive(Debug)]
pub struct UseCaseRules {
    /// The only entity whose callers may name it; `None`: any.
    entity: Option<String>,
    /// Its policy laid over the policies it may meet; `None`: the caller's applies.
    policy: Option<LaidPolicy>,
    /// Its priority class at the schedule stage: the default, and the most urgent it may ask.
    priority: Option<domain::Priority>,
}

/// A use case's policy laid over the group's, and over each entity's own (by entity slug).
#[derive(Debug)]
struct LaidPolicy {
    over_group: Arc<CompiledPolicy>,
    over_entities: HashMap<String, Arc<CompiledPolicy>>,
}

impl UseCaseRules {
    pub fn priority(&self) -> Option<domain::Priority> {
        self.priority
    }

    /// Whether the caller's entity may name this use case.
    pub fn permits(&self, principal: &Principal) -> bool {
        self.entity
            .as_deref()
            .is_none_or(|only| principal.entity_slug.as_deref() == Some(only))
    }
}

impl Inspector {
    pub fn new(config: &Config) -> Inspector {
        let compile = |policy: &DataPolicy| Arc::new(CompiledPolicy::new(policy));
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
                            .map(|(slug, policy)| (slug.clone(), compile(policy)))
                            .collect();
                        LaidPolicy {
                            over_group: compile(&p.over_group),
                            over_entities,
                        }
                    });
                    let rules = UseCaseRules {
                        entity: use_case.entity.clone(),
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
    pub fn use_case(&self, slug: &str) -> Option<&UseCaseRules> {
        self.by_use_case.get(slug)
    }

    /// The policy for the caller and the use case the request names: the use case's (laid over
    /// the caller's entity's), else their entity's, else the group's.
    pub fn policy_for(
        &self,
        principal: &Principal,
        use_case: Option<&str>,
    ) -> &Arc<CompiledPolicy> {
        let entity = principal.entity_slug.as_deref();
        let declared = use_case
            .and_then(|slug| self.by_use_case.get(slug))
            .and_then(|rules| rules.policy.as_ref());
        if let Some(laid) = declared {
            return entity
                .and_then(|slug| laid.over_entities.get(slug))
                .unwrap_or(&laid.over_group);
        }
        entity
            .and_then(|slug| self.by_entity.get(slug))
            .unwrap_or(&self.group)
    }
}

/// What inspection decided for a request that may go on.
pub struct Inspected<'a> {
    /// The request's classification, personal data taken into account.
    pub level: Classification,
    /// The body to send and its parsed form, when values were redacted or pseudonymized.
    pub rewritten: Option<(Bytes, RawObject<'a>)>,
    /// What the answer must go through: pseudonyms to put back, output policies. `None` when
    /// neither applies, so the relay does not look inside the answer.
    pub answer: Option<AnswerFilter>,
}

/// Who and what a policy audit event is about.
pub struct Subject<'a> {
    pub principal: &'a Principal,
    /// The use case the request names, which may have a policy of its own.
    pub use_case: Option<&'a str>,
    pub request_id: &'a str,
    pub model: &'a str,
}

/// Runs the caller's policy on the request's input; `level` is the classification before looking
/// at the content.
pub fn inspect<'a>(
    gateway: &Gateway,
    operation: Operation,
    object: &RawObject<'a>,
    level: Classification,
    subject: &Subject<'_>,
) -> Result<Inspected<'a>, GatewayError> {
    let policy = gateway
        .inspector
        .policy_for(subject.principal, subject.use_case);
    let classifies = gateway.classifier.inspects_content(level);
    let mut inspected = Inspected {
        level,
        rewritten: None,
        answer: None,
    };
    if !classifies && !policy.reads_input() {
        inspected.answer = AnswerFilter::new(gateway, policy, Pseudonyms::default(), subject);
        return Ok(inspected);
    }
    let texts = texts::input_texts(operation, object)?;
    let mut flagged = Vec::new();
    for text in &texts {
        check_content(policy, text, &mut flagged)?;
    }
    // Spans of the texts holding personal data, by position; empty (unallocated) when none does.
    let mut found: Vec<(usize, Vec<Span>)> = Vec::new();
    if classifies || !policy.input.is_empty() {
        for (position, text) in texts.iter().enumerate() {
            let spans = gateway.inspector.detector.scan(text);
            if !spans.is_empty() {
                found.push((position, spans));
            }
        }
    }
    if !found.is_empty() {
        inspected.level = gateway.classifier.with_personal_data(level);
    }
    let mut blocked = TypeCounts::default();
    let mut flagged_types = TypeCounts::default();
    for span in found.iter().flat_map(|(_, spans)| spans) {
        match policy.input.get(span.kind) {
            Some(InputAction::Block) => blocked.add(span.kind),
            Some(InputAction::Flag) => flagged_types.add(span.kind),
            Some(InputAction::Redact | InputAction::Pseudonymize) | None => {}
        }
    }
    if !blocked.is_empty() {
        return Err(GatewayError::PersonalDataBlocked {
            types: blocked.names(),
        });
    }
    if !flagged_types.is_empty() {
        let types: serde_json::Map<String, serde_json::Value> = flagged_types
            .iter()
            .map(|(kind, n)| (kind.as_str().to_owned(), n.into()))
            .collect();
        flagged.push(json!({"rule": "personal_data", "direction": "input", "types": types}));
    }
    if !flagged.is_empty() {
        let auditor = PolicyAuditor::new(gateway, subject);
        for rule in flagged {
            auditor.flagged(rule);
        }
    }
    let mut pseudonyms = Pseudonyms::default();
    let replacements: Vec<(usize, String)> = found
        .iter()
        .filter_map(|(position, spans)| {
            policy::rewrite(&texts[*position], spans, &policy.input, &mut pseudonyms)
                .map(|text| (*position, text))
        })
        .collect();
    if !replacements.is_empty() {
        let object = texts::replace_input_texts(operation, object, &replacements)?;
        inspected.rewritten = Some((Bytes::from(object.to_vec()), object));
    }
    inspected.answer = AnswerFilter::new(gateway, policy, pseudonyms, subject);
    Ok(inspected)
}

/// Blocked terms and the injection heuristic on one text: a `block` refuses, a `flag` is noted.
fn check_content(
    policy: &CompiledPolicy,
    text: &str,
    flagged: &mut Vec<serde_json::Value>,
) -> Result<(), GatewayError> {
    if let Some(term) = policy.blocked_terms.find(text) {
        match policy.blocked_terms_action {
            ContentAction::Block => return Err(GatewayError::BlockedTerm { term }),
            ContentAction::Flag => flagged.push(json!({"rule": "blocked_term", "term": term})),
        }
    }
    if let Some(action) = policy.prompt_injection
        && let Some(pattern) = policy::suspected_injection(text)
    {
        match action {
            ContentAction::Block => {
                return Err(GatewayError::PromptInjectionSuspected { pattern });
            }
            ContentAction::Flag => {
                flagged.push(json!({"rule": "prompt_injection", "pattern": pattern}));
            }
        }
    }
    Ok(())
}

/// Audits `flag` actions of one request: which rule, which types and how many — never the values.
/// Owns what it needs, so an answer filter can audit after the request's stages are over.
pub(crate) struct PolicyAuditor {
    sink: usage::AuditSink,
    actor: String,
    entity_id: Option<domain::EntityId>,
    request_id: String,
    model: String,
}

impl PolicyAuditor {
    pub(crate) fn new(gateway: &Gateway, subject: &Subject<'_>) -> Self {
        PolicyAuditor {
            sink: gateway.audit.clone(),
            actor: subject.principal.actor(),
            entity_id: subject.principal.entity_id,
            request_id: subject.request_id.to_owned(),
            model: subject.model.to_owned(),
        }
    }

    /// Records a `policy.flagged` event whose detail is `rule` plus the request id.
    pub(crate) fn flagged(&self, mut rule: serde_json::Value) {
        rule["request_id"] = self.request_id.as_str().into();
        let event = AuditEvent {
            at: now_millis(),
            actor: self.actor.clone(),
            action: domain::AuditAction::PolicyFlagged,
            entity_id: self.entity_id,
            target: self.model.clone(),
            outcome: Outcome::Success,
            detail: rule.to_string(),
        };
        if !self.sink.record(event) {
            tracing::error!(
                request_id = %self.request_id,
                "audit event dropped: writer queue full"
            );
        }
    }
}
