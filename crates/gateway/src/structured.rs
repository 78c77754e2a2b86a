//! A use case's structured output, checked against its version's output schema: a whole answer
//! at once ([`check_output`]), a streamed one when it ends ([`StreamCheck`]).
//!
//! A stream cannot be checked before its last token, and what it relayed cannot be taken back:
//! its first choice's text is gathered as it goes, and at `[DONE]` an answer that breaks the
//! schema gets an error event of its own (`output_schema_violation`, saying what is wrong) just
//! before `[DONE]`, and the request is metered with that error code, so the version's figures
//! count it as an error like a whole answer's 502. A leaf: imports no stage.

use factory::Invocable;
use serde_json::Value;

use crate::error::GatewayError;

/// Checks a whole answer's first choice against the version's output schema.
pub(crate) fn check_output(target: &Invocable, bytes: &[u8]) -> Result<(), String> {
    if !target.version.has_output_schema() {
        return Ok(());
    }
    let completion: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let content = completion["choices"][0]["message"]["content"]
        .as_str()
        .ok_or("the answer has no message content")?;
    check_content(target, content)
}

fn check_content(target: &Invocable, content: &str) -> Result<(), String> {
    let answer: Value = serde_json::from_str(content.trim())
        .map_err(|e| format!("the answer's content is not JSON: {e}"))?;
    target.version.check_output(&answer)
}

/// The violation a use case's answer is refused or reported with.
pub(crate) fn violation(target: &Invocable, detail: String) -> GatewayError {
    GatewayError::OutputSchemaViolation {
        use_case: target.use_case.slug.to_string(),
        version: target.version.number,
        detail,
    }
}

/// A streamed answer of a version with an output schema, gathered to be checked at its end.
pub(crate) struct StreamCheck {
    target: Invocable,
    /// The first choice's `delta.content`, as the caller received it.
    content: String,
}

impl StreamCheck {
    /// A check for a stream of `target`; `None` when its version has no output schema.
    pub(crate) fn new(target: &Invocable) -> Option<StreamCheck> {
        target.version.has_output_schema().then(|| StreamCheck {
            target: target.clone(),
            content: String::new(),
        })
    }

    /// Gathers the first choice's text of the events in `sse` (complete events, as relayed).
    pub(crate) fn note(&mut self, sse: &[u8]) {
        for data in wire::sse::events(sse).filter_map(wire::sse::data) {
            let Ok(event) = serde_json::from_slice::<Value>(&data) else {
                continue;
            };
            let first = event["choices"]
                .as_array()
                .and_then(|choices| choices.iter().find(|c| c["index"].as_u64() == Some(0)));
            if let Some(text) = first.and_then(|c| c["delta"]["content"].as_str()) {
                self.content.push_str(text);
            }
        }
    }

    /// At the end of the stream: the violation, when the gathered answer breaks the schema.
    pub(crate) fn verdict(&self) -> Option<GatewayError> {
        check_content(&self.target, &self.content)
            .err()
            .map(|detail| violation(&self.target, detail))
    }
}
