//! The data policies, compiled once from the configuration: the group's, each entity's and each
//! declared use case's laid over them ([`Inspector`]); and the auditor of what they flag. The
//! inspect stage applies them to the request, the answer filter to the answer.
//!
//! Which policy applies ([`Inspector::policy_for`]): the policy of the declared use case the
//! request names (`[[use_cases]]`, laid over the caller's entity's policy at start), else the
//! caller's entity's (`[entities.policy]`), else the group's (`[policy]`).

use std::collections::HashMap;
use std::sync::Arc;

use configuration::{Config, DataPolicy};
use domain::{AuditEvent, Outcome, now_millis};
use identity::Principal;
use policy::{ActionTable, BlockedTerms, ContentAction, Detector, InputAction, OutputRules};
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
    pub(crate) fn priority(&self) -> Option<domain::Priority> {
        self.priority
    }

    /// Whether the caller's entity may name this use case.
    pub(crate) fn permits(&self, principal: &Principal) -> bool {
        self.entity
            .as_deref()
            .is_none_or(|only| principal.entity_slug.as_deref() == Some(only))
    }
}

impl Inspector {
    pub(crate) fn new(config: &Config) -> Inspector {
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
