//! Stage 8, inspect: the caller's data policy applied to the request's input texts, after
//! classification and before anything leaves.
//!
//! The input texts are every string of the body a model reads (`texts`: message names, tool calls
//! and results, tool and response schemas, any field the gateway does not know…); the texts of one
//! part of a message are read as one, so a value split between two content parts is found. One
//! scan of them with every detector serves classification and policy alike: it raises the
//! classification (`[policy] personal_data_classification`) and finds what the policy
//! acts on. In order:
//! 1. blocked terms and the prompt-injection heuristic: `block` refuses (400 `blocked_term`,
//!    `prompt_injection_suspected`), `flag` audits;
//! 2. personal data with action `block` refuses (400 `personal_data_blocked`, naming the types
//!    found, never the values); `flag` audits `policy.flagged` with types and counts;
//! 3. `redact` and `pseudonymize` rewrite the strings holding the values, and only those
//!    (`texts::replace_input_texts`); the pseudonyms stay in this request's memory and go to the
//!    relay ([`crate::answer::AnswerFilter`]), which puts the values back in the answer. The
//!    caller is told the kinds and counts hidden (`x-fabrique-personal-data`), never the values.
//!
//! When nothing is found the body is sent as received: no copy, no re-serialization. Which policy
//! applies is [`crate::policies::Inspector::policy_for`]'s choice.

use std::ops::Range;

use bytes::Bytes;
use domain::Classification;
use policy::{ContentAction, InputAction, Pseudonyms, Span, TypeCounts};
use serde_json::json;
use usage::AuditSink;
use wire::object::RawObject;

use crate::answer::AnswerFilter;
use crate::classify::Classifier;
use crate::error::GatewayError;
use crate::headers::Protected;
use crate::policies::{CompiledPolicy, Inspector, PolicyAuditor, Subject};
use crate::texts::{self, InputText};

/// What inspection decided for a request that may go on.
pub(crate) struct Inspected<'a> {
    /// The request's classification, personal data taken into account.
    pub level: Classification,
    /// The body to send and its parsed form, when values were redacted or pseudonymized.
    pub rewritten: Option<(Bytes, RawObject<'a>)>,
    /// What the answer must go through: pseudonyms to put back, output policies. `None` when
    /// neither applies, so the relay does not look inside the answer.
    pub answer: Option<AnswerFilter>,
    /// What was pseudonymized or redacted, by kind: the caller is told (never the values).
    pub protected: Protected,
}

/// Runs the caller's policy on the request's input; `level` is the classification before looking
/// at the content.
pub(crate) fn inspect<'a>(
    inspector: &Inspector,
    classifier: &Classifier,
    audit: &AuditSink,
    object: &RawObject<'a>,
    level: Classification,
    subject: &Subject<'_>,
) -> Result<Inspected<'a>, GatewayError> {
    let policy = &inspector.policy_for(subject.principal, subject.use_case, subject.registered);
    let relaxed = inspector.relaxations(subject.principal, subject.use_case);
    if let (Some(use_case), false) = (subject.use_case, relaxed.is_empty()) {
        PolicyAuditor::new(audit, subject).relaxed(use_case, relaxed);
    }
    let classifies = classifier.inspects_content(level);
    let mut inspected = Inspected {
        level,
        rewritten: None,
        answer: None,
        protected: Protected::default(),
    };
    if !classifies && !policy.reads_input() {
        inspected.answer = AnswerFilter::new(audit, policy, Pseudonyms::default(), subject);
        return Ok(inspected);
    }
    let texts = texts::input_texts(object)?;
    let mut flagged = Vec::new();
    for text in &texts {
        check_content(policy, &text.text, &mut flagged)?;
    }
    // Spans of the groups holding personal data, with offsets into the group's texts read as one;
    // empty (unallocated) when none does.
    let mut found: Vec<(Range<usize>, Vec<Span>)> = Vec::new();
    if classifies || !policy.input.is_empty() {
        for group in groups(&texts) {
            let spans = inspector.detector.scan_joined(&texts[group.clone()]);
            if !spans.is_empty() {
                found.push((group, spans));
            }
        }
    }
    if !found.is_empty() {
        inspected.level = classifier.with_personal_data(level);
    }
    let mut blocked = TypeCounts::default();
    let mut flagged_types = TypeCounts::default();
    for span in found.iter().flat_map(|(_, spans)| spans) {
        match policy.input.get(span.kind) {
            Some(InputAction::Block) => blocked.add(span.kind),
            Some(InputAction::Flag) => flagged_types.add(span.kind),
            Some(InputAction::Redact) => inspected.protected.redacted.add(span.kind),
            Some(InputAction::Pseudonymize) => inspected.protected.pseudonymized.add(span.kind),
            None => {}
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
        let auditor = PolicyAuditor::new(audit, subject);
        for rule in flagged {
            auditor.flagged(rule);
        }
    }
    let mut pseudonyms = Pseudonyms::default();
    let mut replacements: Vec<(usize, String)> = Vec::new();
    for (group, spans) in &found {
        let rewritten =
            policy::rewrite_joined(&texts[group.clone()], spans, &policy.input, &mut pseudonyms);
        replacements.extend(
            rewritten
                .into_iter()
                .map(|(index, text)| (group.start + index, text)),
        );
    }
    if !replacements.is_empty() {
        let object = texts::replace_input_texts(object, &texts, &replacements)?;
        inspected.rewritten = Some((Bytes::from(object.to_vec()), object));
    }
    inspected.answer = AnswerFilter::new(audit, policy, pseudonyms, subject);
    Ok(inspected)
}

/// The positions of each group's texts in `texts` (groups are numbered in order from 0).
fn groups<'t>(texts: &'t [InputText<'_>]) -> impl Iterator<Item = Range<usize>> + 't {
    let mut start = 0;
    std::iter::from_fn(move || {
        let first = texts.get(start)?;
        let len = texts[start..]
            .iter()
            .take_while(|text| text.group == first.group)
            .count();
        start += len;
        Some(start - len..start)
    })
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
