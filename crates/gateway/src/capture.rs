//! Content retention on the request path: for a caller whose entity keeps content (`full`), the
//! input as the caller sent it (before redaction or pseudonymization: it is the caller's own data)
//! is copied at stage 6, the completion the caller received is gathered at stage 10 (stream events
//! included), and both are handed to the content writer at stage 11 (`retention::ContentSink`).
//!
//! Cost for other callers: one check that no entity keeps content (no sink), else one map lookup
//! of the entity's retention. A full writer queue drops the record and counts it
//! (`content_records_dropped`), as the usage writer does: the request is never held up.

use domain::Operation;
use identity::Principal;
use serde::Deserialize;
use serde_json::value::RawValue;
use wire::object::RawObject;

use crate::state::Gateway;

/// What is being kept of one request.
#[derive(Debug, Default)]
pub struct Capture {
    /// The input, as JSON.
    input: String,
    /// The completion as relayed, every choice in arrival order.
    pub completion: String,
}

/// A capture when the caller's entity keeps content and the operation has content to keep
/// (chat, FIM; embeddings keep none).
pub fn begin(
    gateway: &Gateway,
    principal: &Principal,
    operation: Operation,
    object: &RawObject<'_>,
) -> Option<Capture> {
    gateway.content.as_ref()?;
    principal.entity_id?;
    if !gateway
        .retention
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
        Operation::Embeddings => return None,
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
pub fn append_texts(completion: &mut String, json: &[u8]) {
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

/// Stage 11: hands the request's content to the writer.
pub fn hand_over(
    gateway: &Gateway,
    principal: &Principal,
    request_id: &str,
    at: domain::UnixMillis,
    operation: Operation,
    model: &str,
    capture: Capture,
) {
    let (Some(sink), Some(entity_id)) = (&gateway.content, principal.entity_id) else {
        return;
    };
    let captured = retention::Captured {
        request_id: request_id.to_owned(),
        at,
        entity_id,
        owner: principal.owner,
        operation,
        model: model.to_owned(),
        input: capture.input,
        completion: capture.completion,
    };
    if !sink.record(captured) {
        gateway.metrics.content_records_dropped.inc();
        tracing::error!(request_id, "content record dropped: writer queue full");
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
