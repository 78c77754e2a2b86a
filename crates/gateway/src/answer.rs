//! What an answer goes through on its way back (the relay stage), when the request's policy asks for it:
//! output policies on the model's text, then the request's own pseudonymized values put back.
//!
//! In that order on purpose: the output policy sees the model's text with placeholders, so a value
//! the caller sent and the request pseudonymized — the caller's own data — is never redacted on its
//! way back, while personal data the model wrote itself is.
//!
//! Whole answers: each choice's `message.content` (or `text`) is rewritten. Streams: each event's
//! `delta.content` goes through one [`policy::OutputGuard`] and one [`policy::Restorer`] per choice,
//! which hold back only what may still become a value or a placeholder; what they hold is released
//! with the choice's `finish_reason` event, or in an event of its own before `[DONE]`. Only the
//! `choices` field of a body or event is re-serialized; other fields keep their bytes.

use std::sync::Arc;

use policy::{OutputAction, OutputGuard, Pseudonyms, Restorer, TypeCounts};
use serde_json::{Value, json};
use usage::AuditSink;
use wire::object::RawObject;

use crate::policies::{CompiledPolicy, PolicyAuditor, Subject};

/// The answer filter of one request.
pub(crate) struct AnswerFilter {
    pseudonyms: Pseudonyms,
    policy: Arc<CompiledPolicy>,
    /// Per choice index, streams only.
    choices: Vec<ChoiceState>,
    /// Audits what the output policy flagged, when the filter is dropped.
    auditor: PolicyAuditor,
}

#[derive(Default)]
struct ChoiceState {
    guard: OutputGuard,
    restorer: Restorer,
}

impl AnswerFilter {
    /// A filter when the answer needs one: the request has pseudonyms, or the policy output rules.
    pub(crate) fn new(
        audit: &AuditSink,
        policy: &Arc<CompiledPolicy>,
        pseudonyms: Pseudonyms,
        subject: &Subject<'_>,
    ) -> Option<AnswerFilter> {
        if pseudonyms.is_empty() && policy.output.is_empty() {
            return None;
        }
        Some(AnswerFilter {
            pseudonyms,
            policy: Arc::clone(policy),
            choices: Vec::new(),
            auditor: PolicyAuditor::new(audit, subject),
        })
    }

    /// A whole JSON answer, rewritten; `None` when nothing changed.
    pub(crate) fn whole(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        self.rewrite_choices(body, |filter, index, choice| {
            let mut changed = false;
            for pointer in ["/message/content", "/text"] {
                let Some(text) = choice.pointer_mut(pointer) else {
                    continue;
                };
                if let Some(original) = text.as_str().map(str::to_owned) {
                    let new = filter.text(index, &original, true);
                    if new != original {
                        *text = Value::String(new);
                        changed = true;
                    }
                }
            }
            changed
        })
    }

    /// One stream event's JSON data, rewritten; `None` when it passes unchanged.
    pub(crate) fn event(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.rewrite_choices(data, |filter, index, choice| {
            let last = choice
                .get("finish_reason")
                .is_some_and(|reason| !reason.is_null());
            let content = choice
                .pointer("/delta/content")
                .and_then(Value::as_str)
                .or_else(|| choice.get("text").and_then(Value::as_str));
            let Some(original) = content
                .map(str::to_owned)
                .or_else(|| last.then(String::new))
            else {
                return false;
            };
            let new = filter.text(index, &original, last);
            if new == original {
                return false;
            }
            if choice.get("text").is_some_and(Value::is_string) {
                choice["text"] = Value::String(new);
            } else if let Some(delta) = choice.get_mut("delta").and_then(Value::as_object_mut) {
                delta.insert("content".to_owned(), Value::String(new));
            } else {
                choice["delta"] = json!({"content": new});
            }
            true
        })
    }

    /// The data of one last event carrying whatever choices still hold, before `[DONE]`; `None`
    /// when nothing is held (every choice ended with its `finish_reason` event).
    pub(crate) fn flush(&mut self) -> Option<Vec<u8>> {
        let mut choices = Vec::new();
        for index in 0..self.choices.len() {
            let rest = self.text(index, "", true);
            if !rest.is_empty() {
                choices.push(
                    json!({"index": index, "delta": {"content": rest}, "finish_reason": null}),
                );
            }
        }
        if choices.is_empty() {
            return None;
        }
        serde_json::to_vec(&json!({"object": "chat.completion.chunk", "choices": choices})).ok()
    }

    /// One piece of choice `index`'s text: output policy, then restoration.
    fn text(&mut self, index: usize, piece: &str, last: bool) -> String {
        if self.choices.len() <= index {
            self.choices.resize_with(index + 1, ChoiceState::default);
        }
        let state = &mut self.choices[index];
        let rules = &self.policy.output;
        let mut checked = if rules.is_empty() {
            piece.to_owned()
        } else {
            state.guard.push(rules, piece)
        };
        if last && !rules.is_empty() {
            checked.push_str(&state.guard.finish(rules));
        }
        let mut restored = state.restorer.push(&self.pseudonyms, &checked).into_owned();
        if last {
            restored.push_str(&state.restorer.finish());
        }
        restored
    }

    /// Applies `edit` to each element of the `choices` field; re-serializes only that field, and
    /// only when an edit changed something.
    fn rewrite_choices(
        &mut self,
        json: &[u8],
        mut edit: impl FnMut(&mut Self, usize, &mut Value) -> bool,
    ) -> Option<Vec<u8>> {
        let mut object = RawObject::parse(json).ok()?;
        let mut choices: Vec<Value> = object.get_as("choices").ok().flatten()?;
        let mut changed = false;
        for (position, choice) in choices.iter_mut().enumerate() {
            let index = choice
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|i| usize::try_from(i).ok())
                .unwrap_or(position);
            changed |= edit(self, index, choice);
        }
        if !changed {
            return None;
        }
        object
            .set_raw("choices", serde_json::to_string(&choices).ok()?)
            .ok()?;
        Some(object.to_vec())
    }
}

impl Drop for AnswerFilter {
    /// The answer is over (or the caller left): audit what the output policy flagged.
    fn drop(&mut self) {
        let mut found = TypeCounts::default();
        for state in &self.choices {
            found.merge(&state.guard.found);
        }
        let flagged: serde_json::Map<String, Value> = found
            .iter()
            .filter(|(kind, _)| self.policy.output.action(*kind) == Some(OutputAction::Flag))
            .map(|(kind, n)| (kind.as_str().to_owned(), n.into()))
            .collect();
        if !flagged.is_empty() {
            self.auditor
                .flagged(json!({"rule": "personal_data", "direction": "output", "types": flagged}));
        }
    }
}
