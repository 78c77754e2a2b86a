//! The data policies, compiled once from the configuration: the group's, each entity's and each
//! declared use case's laid over them ([`Inspector`]); and the auditor of what they flag. The
//! inspect stage applies them to the request, the answer filter to the answer.
//!
//! Which policy applies is `configuration::DataPolicies::effective`'s resolution, the one the
//! admin API shows and dry-runs too; [`Inspector::policy_for`] compiles it ahead of the request
//! path: the policy of the declared use case the request names (`[[use_cases]]`, laid over the
//! caller's entity's policy at start); else that of the use case registered through the admin
//! API it names (`factory::LiveUseCase`, looked up once by the request), laid over the caller's entity's policy when it only tightens
//! it, compiled on first use ([`Registered`]); else the caller's entity's (`[entities.policy]`),
//! else the group's (`[policy]`).
//!
//! A use case may only be named by the callers it allows (`allowed_entities`, `allowed_teams`,
//! `allowed_keys`) and only relax a caller's policy for callers it names: where its laid policy is
//! softer than the caller's own (`DataPolicy::relaxations`), an open use case is refused, and an allowed
//! caller's request is audited as `policy.relaxed`, saying what was softened.

use std::collections::HashMap;
use std::sync::Arc;

use configuration::{Config, DataPolicies, DataPolicy, UseCaseAllowed};
use domain::{AuditEvent, Outcome, TeamId, now_millis};
use factory::LiveUseCase;
use identity::Principal;
use parking_lot::RwLock;
use policy::{ActionTable, BlockedTerms, ContentAction, Detector, InputAction, OutputRules};
use serde_json::Value;
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
    registered: Registered,
    pub(crate) detector: Detector,
}

/// The policies of use cases registered through the admin API, compiled from the live registry's
/// (as written) the first time a caller's entity meets them after each reload of the registry:
/// the request path compiles nothing but then, and holds the lock only to look up or insert. The
/// request brings the registered use case it looked up once (`Caller::registered`).
#[derive(Debug)]
struct Registered {
    bases: DataPolicies,
    compiled: RwLock<HashMap<Arc<str>, RegisteredPolicy>>,
}

/// One registered use case's policy, laid over each caller's entity's policy met so far.
#[derive(Debug)]
struct RegisteredPolicy {
    /// The policy as written, which these were laid from (a reload brings a new one).
    written: Arc<Value>,
    /// By the caller's entity slug (`None`: the group's accounts): the laid policy, or `None`
    /// when it would soften that entity's own, which then applies.
    by_entity: HashMap<Option<Arc<str>>, Option<Arc<CompiledPolicy>>>,
}

impl Registered {
    /// The policy of the registered use case for a caller of `entity`, when it has one that
    /// tightens the entity's.
    fn policy(
        &self,
        use_case: &LiveUseCase,
        entity: Option<&Arc<str>>,
    ) -> Option<Arc<CompiledPolicy>> {
        let slug = &*use_case.slug;
        let written = use_case.policy.clone()?;
        let entity = entity.cloned();
        if let Some(known) = self.compiled.read().get(slug)
            && Arc::ptr_eq(&known.written, &written)
            && let Some(laid) = known.by_entity.get(&entity)
        {
            return laid.clone();
        }
        let laid = self
            .bases
            .registered(&written, entity.as_deref())
            .map(|laid| Arc::new(CompiledPolicy::new(&laid)));
        let mut compiled = self.compiled.write();
        let known = compiled
            .entry(Arc::from(slug))
            .or_insert_with(|| RegisteredPolicy {
                written: Arc::clone(&written),
                by_entity: HashMap::new(),
            });
        if !Arc::ptr_eq(&known.written, &written) {
            *known = RegisteredPolicy {
                written,
                by_entity: HashMap::new(),
            };
        }
        known.by_entity.insert(entity, laid.clone());
        laid
    }
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
        let policies = DataPolicies::new(config);
        // A declared use case's policy for callers of `entity`, as `DataPolicies` resolves it.
        let lay = |slug: &str, entity: Option<&str>| {
            let effective = policies.effective(entity, Some(slug), None);
            Laid {
                policy: compile(&effective.policy),
                relaxed: effective.relaxed,
            }
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
                    let slug = use_case.slug.as_str();
                    let policy = use_case.policy.as_ref().map(|p| LaidPolicy {
                        over_group: lay(slug, None),
                        over_entities: p
                            .over_entities
                            .keys()
                            .map(|entity| (entity.clone(), lay(slug, Some(entity))))
                            .collect(),
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
            registered: Registered {
                bases: policies.clone(),
                compiled: RwLock::new(HashMap::new()),
            },
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
        registered: Option<&LiveUseCase>,
    ) -> Arc<CompiledPolicy> {
        if let Some(slug) = use_case {
            if let Some(declared) = self.by_use_case.get(slug) {
                if let Some(laid) = declared.laid(principal) {
                    return Arc::clone(&laid.policy);
                }
            } else if let Some(registered) =
                registered.and_then(|r| self.registered.policy(r, principal.entity_slug.as_ref()))
            {
                return registered;
            }
        }
        let entity = principal.entity_slug.as_deref();
        Arc::clone(
            entity
                .and_then(|slug| self.by_entity.get(slug))
                .unwrap_or(&self.group),
        )
    }

    /// How the policy of the use case the request names is softer than the caller's own.
    pub(crate) fn relaxations(&self, principal: &Principal, use_case: Option<&str>) -> &[String] {
        use_case
            .and_then(|slug| self.by_use_case.get(slug))
            .map_or(&[], |rules| rules.relaxations(principal))
    }
}

/// Who and what a policy audit event is about.
pub(crate) struct Subject<'a> {
    pub principal: &'a Principal,
    /// The use case the request names, which may have a policy of its own.
    pub use_case: Option<&'a str>,
    /// That use case as the registry holds it, when it is registered.
    pub registered: Option<&'a LiveUseCase>,
    pub request_id: &'a str,
    pub model: &'a str,
}

impl<'a> Subject<'a> {
    pub fn new(
        principal: &'a Principal,
        (use_case, registered): (Option<&'a str>, Option<&'a LiveUseCase>),
        request_id: &'a str,
        model: &'a str,
    ) -> Self {
        Subject {
            principal,
            use_case,
            registered,
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

    use super::{Laid, LaidPolicy, UseCaseRules};

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
        assert!(laid.relaxations(&base()).is_empty());
        laid.actions.set(PiiType::Nir, InputAction::Block);
        laid.blocked_terms.push("Projet Vega".to_owned());
        assert!(laid.relaxations(&base()).is_empty(), "stricter only");
        laid.actions.set(PiiType::Iban, InputAction::Flag);
        laid.actions.set(PiiType::Email, InputAction::Pseudonymize);
        laid.output = Default::default();
        laid.blocked_terms = vec!["projet orion".to_owned()];
        laid.prompt_injection = Some(ContentAction::Flag);
        laid.trace_content = true;
        assert_eq!(
            laid.relaxations(&base()),
            [
                "IBAN: block → flag",
                "output IBAN: redact → pass",
                "prompt injection: softened",
                "trace_content: on",
            ]
        );
        laid.blocked_terms.clear();
        assert!(
            laid.relaxations(&base())
                .contains(&"blocked term `Projet Orion` dropped".to_owned())
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
