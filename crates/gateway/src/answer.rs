//! What an answer goes through on its way back (the relay stage), when the request's policy asks for it:
//! output policies on the model's text, then the request's own pseudonymized values put back.
//!
//! In that order on purpose: the output policy sees the model's text with placeholders, so a value
//! the caller sent and the request pseudonymized — the caller's own data — is never redacted on its
//! way back, while personal data the model wrote itself is.
//!
//! Deny by default, as on input: every string of a choice is text the model wrote — `content`,
//! `text`, tool-call arguments and names, `reasoning_content`, `refusal`, fields the gateway does
//! not know — except identifiers and enumerations ([`is_written`]). The `logprobs` of a whole
//! answer list the tokens of the text: the tokens of a redacted value are redacted with it (the
//! marker in the first, the others emptied, their alternatives dropped). In a stream the text is
//! held back while it may still become a value, and its tokens cannot be held with it: while a
//! type is redacted, streamed `logprobs` are withheld (`null`).
//!
//! Streams: each text of a choice (`delta.content`, each tool call's `arguments`…) goes through
//! one [`policy::OutputGuard`] and one [`policy::Restorer`], which hold back only what may still
//! become a value or a placeholder; what they hold is released with the choice's `finish_reason`
//! event, or in an event of its own before `[DONE]`. Only the `choices` field of a body or event
//! is re-serialized; other fields keep their bytes.

use std::sync::Arc;

use policy::{OutputAction, OutputGuard, Pseudonyms, Restorer, TypeCounts, restore};
use serde_json::{Map, Value, json};
use usage::AuditSink;
use wire::object::RawObject;

use crate::policies::{CompiledPolicy, PolicyAuditor, Subject};

/// The answer filter of one request.
pub(crate) struct AnswerFilter {
    /// Boxed: the relay's stream state holds the filter, and stays small.
    texts: Box<AnswerTexts>,
    /// Audits what the output policy flagged, when the filter is dropped.
    auditor: PolicyAuditor,
}

/// The rewriting of an answer's texts.
struct AnswerTexts {
    pseudonyms: Pseudonyms,
    policy: Arc<CompiledPolicy>,
    /// The texts of a streamed answer under way.
    streams: Vec<TextStream>,
    /// What the output policy found, for the flag audit event.
    found: TypeCounts,
}

/// One text of a streamed choice, at `path` (dotted, from the choice: `delta.content`,
/// `delta.tool_calls.0.function.arguments`, the number being the tool call's `index`).
struct TextStream {
    choice: usize,
    path: String,
    guard: OutputGuard,
    restorer: Restorer,
}

/// Whether the string under `key` is something the model wrote, rather than an identifier or an
/// enumeration.
fn is_written(key: &str) -> bool {
    !matches!(
        key,
        "role" | "type" | "id" | "tool_call_id" | "finish_reason" | "stop_reason" | "object"
    )
}

/// Calls `visit` with the path and value of each string the model wrote in `value` (a choice),
/// except under `logprobs`.
fn visit_texts(value: &mut Value, path: &mut String, visit: &mut impl FnMut(&str, &mut String)) {
    let depth = path.len();
    match value {
        Value::String(text) => visit(path, text),
        Value::Object(fields) => {
            for (key, value) in fields.iter_mut() {
                if is_written(key) && key != "logprobs" {
                    push_segment(path, key);
                    visit_texts(value, path, visit);
                    path.truncate(depth);
                }
            }
        }
        Value::Array(items) => {
            for (position, item) in items.iter_mut().enumerate() {
                let at = item
                    .get("index")
                    .and_then(Value::as_u64)
                    .map_or(position.to_string(), |index| index.to_string());
                push_segment(path, &at);
                visit_texts(item, path, visit);
                path.truncate(depth);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn push_segment(path: &mut String, segment: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(segment);
}

/// The string at `path` in `choice`, created (empty) with the objects and tool calls leading to
/// it when missing.
fn slot<'v>(choice: &'v mut Value, path: &str) -> Option<&'v mut String> {
    let mut value = choice;
    for segment in path.split('.') {
        value = match segment.parse::<u64>() {
            Ok(index) => {
                if !value.is_array() {
                    *value = Value::Array(Vec::new());
                }
                let items = value.as_array_mut()?;
                let found = items
                    .iter()
                    .position(|item| item.get("index").and_then(Value::as_u64) == Some(index));
                let at = found.unwrap_or_else(|| {
                    items.push(json!({"index": index}));
                    items.len() - 1
                });
                items.get_mut(at)?
            }
            Err(_) => {
                if !value.is_object() {
                    *value = Value::Object(Map::new());
                }
                value.as_object_mut()?.entry(segment).or_insert(Value::Null)
            }
        };
    }
    if !value.is_string() {
        *value = Value::String(String::new());
    }
    match value {
        Value::String(text) => Some(text),
        _ => None,
    }
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
            texts: Box::new(AnswerTexts::new(Arc::clone(policy), pseudonyms)),
            auditor: PolicyAuditor::new(audit, subject),
        })
    }

    /// A whole JSON answer, rewritten; `None` when nothing changed.
    pub(crate) fn whole(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        self.texts.whole(body)
    }

    /// One stream event's JSON data, rewritten; `None` when it passes unchanged.
    pub(crate) fn event(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.texts.event(data)
    }

    /// The data of one last event carrying whatever choices still hold, before `[DONE]`; `None`
    /// when nothing is held (every choice ended with its `finish_reason` event).
    pub(crate) fn flush(&mut self) -> Option<Vec<u8>> {
        self.texts.flush()
    }
}

impl AnswerTexts {
    fn new(policy: Arc<CompiledPolicy>, pseudonyms: Pseudonyms) -> Self {
        AnswerTexts {
            pseudonyms,
            policy,
            streams: Vec::new(),
            found: TypeCounts::default(),
        }
    }

    fn whole(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        self.rewrite_choices(body, |filter, _, choice| {
            let mut changed = false;
            visit_texts(choice, &mut String::new(), &mut |_, text| {
                let checked = filter.policy.output.apply(text, &mut filter.found);
                let new = restore(&filter.pseudonyms, &checked);
                if *new != **text {
                    *text = new.into_owned();
                    changed = true;
                }
            });
            filter.redact_tokens(choice) || changed
        })
    }

    fn event(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.rewrite_choices(data, |filter, index, choice| {
            let mut changed = false;
            visit_texts(choice, &mut String::new(), &mut |path, text| {
                let new = filter.piece(index, path, text);
                if new != *text {
                    *text = new;
                    changed = true;
                }
            });
            if choice
                .get("finish_reason")
                .is_some_and(|reason| !reason.is_null())
            {
                changed |= filter.finish_choice(index, choice);
            }
            if filter.policy.output.redacts()
                && let Some(logprobs) = choice.get_mut("logprobs")
                && !logprobs.is_null()
            {
                *logprobs = Value::Null;
                changed = true;
            }
            changed
        })
    }

    fn flush(&mut self) -> Option<Vec<u8>> {
        let mut choices: Vec<Value> = Vec::new();
        while let Some(first) = self.streams.first() {
            let index = first.choice;
            let mut choice = json!({"index": index, "finish_reason": null});
            if self.finish_choice(index, &mut choice) {
                choices.push(choice);
            }
        }
        if choices.is_empty() {
            return None;
        }
        serde_json::to_vec(&json!({"object": "chat.completion.chunk", "choices": choices})).ok()
    }

    /// One piece of the text at `path` of choice `index`: output policy, then restoration. A
    /// tool call's name comes whole, and clients expect it in its first event: it is not held.
    fn piece(&mut self, index: usize, path: &str, piece: &str) -> String {
        if path.ends_with(".name") {
            let checked = self.policy.output.apply(piece, &mut self.found);
            return restore(&self.pseudonyms, &checked).into_owned();
        }
        let at = self
            .streams
            .iter()
            .position(|s| s.choice == index && s.path == path);
        let at = at.unwrap_or_else(|| {
            self.streams.push(TextStream {
                choice: index,
                path: path.to_owned(),
                guard: OutputGuard::default(),
                restorer: Restorer::default(),
            });
            self.streams.len() - 1
        });
        let stream = &mut self.streams[at];
        let rules = &self.policy.output;
        let checked = if rules.is_empty() {
            piece.to_owned()
        } else {
            stream.guard.push(rules, piece)
        };
        stream
            .restorer
            .push(&self.pseudonyms, &checked)
            .into_owned()
    }

    /// Ends every text of choice `index`, appending what they held to `choice`; whether anything
    /// was appended.
    fn finish_choice(&mut self, index: usize, choice: &mut Value) -> bool {
        let rules = &self.policy.output;
        let mut changed = false;
        let mut position = 0;
        while position < self.streams.len() {
            if self.streams[position].choice != index {
                position += 1;
                continue;
            }
            let mut stream = self.streams.remove(position);
            let checked = if rules.is_empty() {
                String::new()
            } else {
                stream.guard.finish(rules)
            };
            let mut rest = stream
                .restorer
                .push(&self.pseudonyms, &checked)
                .into_owned();
            rest.push_str(&stream.restorer.finish());
            self.found.merge(&stream.guard.found);
            if !rest.is_empty()
                && let Some(text) = slot(choice, &stream.path)
            {
                text.push_str(&rest);
                changed = true;
            }
        }
        changed
    }

    /// A whole answer's `logprobs`: the tokens of a redacted value redacted with it, their
    /// alternatives dropped. Whether anything changed.
    fn redact_tokens(&self, choice: &mut Value) -> bool {
        let Some(logprobs) = choice.get_mut("logprobs").filter(|l| !l.is_null()) else {
            return false;
        };
        let rules = &self.policy.output;
        // Chat: `content` is a list of `{token, bytes, logprob, top_logprobs}`.
        if let Some(entries) = logprobs.get_mut("content").and_then(Value::as_array_mut) {
            let tokens: Vec<&str> = entries
                .iter()
                .map(|entry| entry.get("token").and_then(Value::as_str).unwrap_or(""))
                .collect();
            let changed = rules.apply_pieces(&tokens);
            for (at, token) in &changed {
                let entry = &mut entries[*at];
                entry["bytes"] = json!(token.as_bytes());
                entry["token"] = Value::String(token.clone());
                entry["top_logprobs"] = json!([]);
            }
            return !changed.is_empty();
        }
        // Completions: `tokens` is a list of strings, `top_logprobs` a list of maps.
        let Some(tokens) = logprobs.get("tokens").and_then(Value::as_array) else {
            return false;
        };
        let texts: Vec<&str> = tokens.iter().map(|t| t.as_str().unwrap_or("")).collect();
        let changed = rules.apply_pieces(&texts);
        for (at, token) in &changed {
            logprobs["tokens"][*at] = Value::String(token.clone());
            if let Some(top) = logprobs
                .get_mut("top_logprobs")
                .and_then(|top| top.get_mut(*at))
            {
                *top = json!({});
            }
        }
        !changed.is_empty()
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
        let texts = &mut self.texts;
        let mut found = std::mem::take(&mut texts.found);
        for stream in &texts.streams {
            found.merge(&stream.guard.found);
        }
        let flagged: serde_json::Map<String, Value> = found
            .iter()
            .filter(|(kind, _)| texts.policy.output.action(*kind) == Some(OutputAction::Flag))
            .map(|(kind, n)| (kind.as_str().to_owned(), n.into()))
            .collect();
        if !flagged.is_empty() {
            self.auditor
                .flagged(json!({"rule": "personal_data", "direction": "output", "types": flagged}));
        }
    }
}

#[cfg(test)]
mod tests {
    use policy::{ActionTable, BlockedTerms, ContentAction, OutputRules, PiiType};

    use super::*;

    const CARD: &str = "4970 1012 3456 7893";
    const IBAN: &str = "FR76 3000 6000 0112 3456 7890 189";

    /// Cards redacted on output; one IBAN of the request pseudonymized as `[IBAN_1]`.
    fn texts() -> AnswerTexts {
        let output: ActionTable<OutputAction> = [(PiiType::CreditCard, OutputAction::Redact)]
            .into_iter()
            .collect();
        let policy = CompiledPolicy {
            input: ActionTable::default(),
            output: OutputRules::new(output),
            blocked_terms: BlockedTerms::new::<&str>(&[]),
            blocked_terms_action: ContentAction::Block,
            prompt_injection: None,
            trace_content: false,
        };
        let mut pseudonyms = Pseudonyms::default();
        pseudonyms.placeholder(PiiType::Iban, IBAN);
        AnswerTexts::new(Arc::new(policy), pseudonyms)
    }

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn every_text_of_a_whole_answer_and_its_tokens_are_filtered() {
        // Before: only `message.content` was; the card went out in tool calls, reasoning and
        // logprobs.
        let arguments = json!({"card": CARD, "iban": "[IBAN_1]"}).to_string();
        let tokens = ["Carte", " 4970", " 1012", " 3456", " 7893", "."];
        let logprobs: Vec<Value> = tokens
            .iter()
            .map(|t| {
                json!({"token": t, "bytes": t.as_bytes(), "logprob": -0.1,
                "top_logprobs": [{"token": t, "logprob": -0.1}]})
            })
            .collect();
        let body = json!({"id": "x", "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": format!("Carte {CARD}."),
                "reasoning_content": format!("the user gave {CARD}"),
                "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "pay", "arguments": arguments}}]},
            "logprobs": {"content": logprobs}}]});
        let out = parse(&texts().whole(body.to_string().as_bytes()).unwrap());
        let text = out.to_string();
        // (`3456` is in the IBAN too.)
        for part in ["4970", "1012", "7893"] {
            assert!(!text.contains(part), "{text}");
        }
        let message = &out["choices"][0]["message"];
        assert_eq!(message["content"], "Carte [REDACTED_CREDIT_CARD].");
        assert_eq!(
            message["reasoning_content"],
            "the user gave [REDACTED_CREDIT_CARD]"
        );
        let arguments: Value = serde_json::from_str(
            message["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            arguments,
            json!({"card": "[REDACTED_CREDIT_CARD]", "iban": IBAN}),
            "the caller's own value is put back"
        );
        assert_eq!(message["tool_calls"][0]["id"], "call_1");
        let entries = out["choices"][0]["logprobs"]["content"].as_array().unwrap();
        let tokens: Vec<&str> = entries
            .iter()
            .map(|e| e["token"].as_str().unwrap())
            .collect();
        assert_eq!(
            tokens,
            ["Carte", " [REDACTED_CREDIT_CARD]", "", "", "", "."]
        );
        assert_eq!(
            entries[1]["bytes"],
            json!(" [REDACTED_CREDIT_CARD]".as_bytes())
        );
        assert_eq!(entries[1]["top_logprobs"], json!([]));
        assert_eq!(entries[0]["top_logprobs"][0]["token"], "Carte");
    }

    #[test]
    fn completion_tokens_are_filtered_too() {
        let body = json!({"choices": [{"index": 0, "text": format!("n° {CARD}"),
            "logprobs": {"tokens": ["n°", " 4970 1012", " 3456 7893"],
                "top_logprobs": [{"n°": -0.1}, {" 4970": -0.2}, {" 3456": -0.3}]}}]});
        let out = parse(&texts().whole(body.to_string().as_bytes()).unwrap());
        let choice = &out["choices"][0];
        assert_eq!(choice["text"], "n° [REDACTED_CREDIT_CARD]");
        assert_eq!(
            choice["logprobs"]["tokens"],
            json!(["n°", " [REDACTED_CREDIT_CARD]", ""])
        );
        assert_eq!(choice["logprobs"]["top_logprobs"][2], json!({}));
    }

    /// The events of a stream through `texts`, then its flush, as parsed JSON.
    fn stream(texts: &mut AnswerTexts, events: &[Value]) -> Vec<Value> {
        let mut out: Vec<Value> = events
            .iter()
            .map(|event| {
                let data = event.to_string();
                texts
                    .event(data.as_bytes())
                    .map_or_else(|| event.clone(), |new| parse(&new))
            })
            .collect();
        out.extend(texts.flush().map(|data| parse(&data)));
        out
    }

    fn arguments_delta(index: u64, piece: &str) -> Value {
        json!({"choices": [{"index": 0, "finish_reason": null,
            "delta": {"tool_calls": [{"index": index, "function": {"arguments": piece}}]},
            "logprobs": {"content": [{"token": piece, "logprob": -0.5}]}}]})
    }

    #[test]
    fn streamed_tool_calls_and_reasoning_are_filtered_and_logprobs_withheld() {
        let arguments = json!({"card": CARD, "iban": "[IBAN_1]"}).to_string();
        let mut events = vec![json!({"choices": [{"index": 0, "finish_reason": null,
            "delta": {"role": "assistant", "reasoning_content": "carte 4970 10"}}]})];
        events.push(json!({"choices": [{"index": 0, "finish_reason": null,
            "delta": {"reasoning_content": "12 3456 7893 ok", "tool_calls": [{"index": 0, "id": "call_1",
                "type": "function", "function": {"name": "pay", "arguments": ""}}]}}]}));
        for piece in arguments.as_bytes().chunks(3) {
            events.push(arguments_delta(0, std::str::from_utf8(piece).unwrap()));
        }
        events.push(arguments_delta(1, "{\"card\": \"4970 1012 "));
        events.push(json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "delta": {}}]}));
        let mut texts = texts();
        let out = stream(&mut texts, &events);
        let mut reasoning = String::new();
        let mut calls = [String::new(), String::new()];
        for event in &out {
            let choice = &event["choices"][0];
            assert!(choice["logprobs"].is_null(), "{event}");
            if let Some(piece) = choice["delta"]["reasoning_content"].as_str() {
                reasoning.push_str(piece);
            }
            for call in choice["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let index = call["index"].as_u64().unwrap() as usize;
                calls[index].push_str(call["function"]["arguments"].as_str().unwrap_or(""));
            }
        }
        assert_eq!(reasoning, "carte [REDACTED_CREDIT_CARD] ok");
        let first: Value = serde_json::from_str(&calls[0]).unwrap();
        assert_eq!(
            first,
            json!({"card": "[REDACTED_CREDIT_CARD]", "iban": IBAN})
        );
        assert_eq!(
            calls[1], "{\"card\": \"4970 1012 ",
            "no value there: released as it was"
        );
        assert!(
            texts.streams.is_empty(),
            "the finish event released every text"
        );
    }

    #[test]
    fn what_a_choice_holds_at_the_end_goes_out_before_done() {
        let mut texts = texts();
        let events = [json!({"choices": [{"index": 0, "finish_reason": null,
            "delta": {"content": format!("carte {CARD}")}}]})];
        let out = stream(&mut texts, &events);
        assert_eq!(out[0]["choices"][0]["delta"]["content"], "carte ");
        assert_eq!(
            out[1]["choices"][0]["delta"]["content"],
            "[REDACTED_CREDIT_CARD]"
        );
    }
}
