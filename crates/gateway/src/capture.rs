//! Content retention on the request path: for a caller whose entity keeps content (`full`), the
//! input as the caller sent it (before redaction or pseudonymization: it is the caller's own data)
//! is copied by the inspect stage, the completion the caller received is gathered as it is
//! relayed (stream events included), and both are handed to the content writer when the request
//! is metered (`retention::ContentSink`).
//!
//! Cost for other callers: one check that no entity keeps content (no sink), else one map lookup
//! of the entity's retention. A full writer queue drops the record and counts it
//! (`content_records_dropped`), as the usage writer does: the request is never held up.

use domain::Operation;
use identity::Principal;
use retention::{ContentSink, RetentionPolicies};
use serde::Deserialize;
use serde_json::value::RawValue;
use wire::object::RawObject;

/// What is being kept of one request.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    /// The input, as JSON.
    input: String,
    /// The completion as relayed, every choice in arrival order.
    pub completion: String,
}

/// A capture when the caller's entity keeps content and the operation has content to keep
/// (chat, FIM; embeddings keep none).
pub(crate) fn begin(
    sink: Option<&ContentSink>,
    retention: &RetentionPolicies,
    principal: &Principal,
    operation: Operation,
    object: &RawObject<'_>,
) -> Option<Capture> {
    sink?;
    principal.entity_id?;
    if !retention
        .of(principal.entity_slug.as_deref())
        .keeps_content()
    {
        return None;
    }
    let input = match operation {
        Operation::Chat => object.get("messages")?.get().to_owned(),
        Operation::Fim => {
            let field = |name| object.get(name).map_or("null", RawValue::get);
            format!(
                r#"{{"prompt":{},"suffix":{}}}"#,
                field("prompt"),
                field("suffix")
            )
        }
        // Retrieval's plumbing: texts taken from documents already kept elsewhere.
        Operation::Embeddings | Operation::Rerank => return None,
    };
    Some(Capture {
        input,
        completion: String::new(),
    })
}

#[derive(Deserialize)]
struct Choices<'a> {
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    message: Option<Text<'a>>,
    #[serde(borrow, default)]
    delta: Option<Text<'a>>,
    #[serde(borrow, default)]
    text: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Text<'a> {
    #[serde(borrow, default)]
    content: Option<std::borrow::Cow<'a, str>>,
}

/// Appends the texts of a whole answer or of one stream event's JSON data to `completion`.
pub(crate) fn append_texts(completion: &mut String, json: &[u8]) {
    let Ok(parsed) = serde_json::from_slice::<Choices<'_>>(json) else {
        return;
    };
    for choice in parsed.choices {
        let text = choice
            .message
            .or(choice.delta)
            .and_then(|t| t.content)
            .or(choice.text);
        if let Some(text) = text {
            completion.push_str(&text);
        }
    }
}

/// The texts of a stream's events (as the caller received them), appended to `completion`.
pub(crate) fn append_stream_texts(completion: &mut String, events: &[u8]) {
    for event in wire::sse::events(events) {
        if let Some(data) = wire::sse::data(event) {
            append_texts(completion, &data);
        }
    }
}

impl Capture {
    /// The content writer's record of this capture, when the request is metered.
    pub(crate) fn into_record(
        self,
        principal: &Principal,
        request_id: &str,
        at: domain::UnixMillis,
        operation: Operation,
        model: &str,
    ) -> Option<retention::Captured> {
        Some(retention::Captured {
            id: retention::record_id(),
            request_id: request_id.to_owned(),
            at,
            entity_id: principal.entity_id?,
            owner: principal.owner,
            operation,
            model: model.to_owned(),
            input: self.input,
            completion: self.completion,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn texts_come_from_messages_deltas_and_fim_choices() {
        let mut completion = String::new();
        super::append_texts(
            &mut completion,
            br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Bon\u006aour"}}]}"#,
        );
        super::append_texts(
            &mut completion,
            r#"{"choices":[{"delta":{"content":" à"}}]}"#.as_bytes(),
        );
        super::append_texts(
            &mut completion,
            br#"{"choices":[{"delta":{"role":"assistant"}}]}"#,
        );
        super::append_texts(&mut completion, br#"{"choices":[{"text":" vous"}]}"#);
        super::append_texts(&mut completion, br#"{"usage":{"prompt_tokens":1}}"#);
        super::append_texts(&mut completion, b"not json");
        assert_eq!(completion, "Bonjour à vous");
    }
}
