//! Stage 5, accept: read the body within its size limit, parse it as JSON, check its known fields
//! for type and range as the OpenAI and Mistral APIs do (`wire::validate`: 400 naming the field,
//! before anything costs) and read the few the gateway acts on. Unknown fields are left untouched
//! for the backend. It runs after the caller is known (stages 1 to 4), so an unknown or refused caller
//! costs no read and no parse.

use std::borrow::Cow;

use axum::body::Body;
use bytes::Bytes;
use domain::Operation;
use http_body_util::BodyExt;
use serde::Deserialize;
use wire::chat::StreamOptions;
use wire::object::RawObject;
use wire::validate::Endpoint;

use crate::error::GatewayError;

/// What the gateway reads from an inference request.
#[derive(Debug)]
pub(crate) struct InferenceRequest<'a> {
    pub model: Cow<'a, str>,
    pub asked: Asked,
}

/// What the caller asks of the answer, besides the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Asked {
    pub stream: bool,
    /// The caller asked for a final usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// The completion length the caller allows per choice (`max_completion_tokens`, else
    /// `max_tokens`), if any; `Some(0)` for embeddings and rerank, which complete nothing.
    pub max_tokens: Option<u64>,
    /// The completions decoded (`n`, `best_of`).
    pub choices: u64,
    /// Fewer tokens than the prompt can be (`wire::validate::Checked::prompt_floor`).
    pub prompt_floor: u64,
}

/// Reads the whole body, refusing it as soon as it exceeds `limit` bytes.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(GatewayError::BodyTooLarge { limit })
        }
        Err(error) => Err(GatewayError::BodyRead(error.to_string())),
    }
}

/// Parses the body into its top-level fields.
pub(crate) fn parse(bytes: &[u8]) -> Result<RawObject<'_>, GatewayError> {
    RawObject::parse(bytes).map_err(|e| GatewayError::MalformedJson {
        detail: e.to_string(),
    })
}

/// Checks the known fields as the OpenAI and Mistral APIs do (`wire::validate`) and reads the
/// ones the gateway acts on.
pub(crate) fn fields<'a>(
    operation: Operation,
    object: &'a RawObject<'a>,
) -> Result<InferenceRequest<'a>, GatewayError> {
    let endpoint = match operation {
        Operation::Chat => Endpoint::Chat,
        Operation::Fim => Endpoint::Fim,
        Operation::Embeddings => Endpoint::Embeddings,
        Operation::Rerank => Endpoint::Rerank,
    };
    let checked = wire::validate::check(endpoint, object).map_err(GatewayError::InvalidRequest)?;
    // Checked above: present, a string and a plain name.
    let model: Cow<'a, str> = field(object, "model")?.unwrap_or_default();
    let stream = match operation {
        Operation::Embeddings | Operation::Rerank => false,
        Operation::Chat | Operation::Fim => field::<bool>(object, "stream")?.unwrap_or(false),
    };
    let include_usage =
        field::<StreamOptions>(object, "stream_options")?.is_some_and(|o| o.include_usage);
    Ok(InferenceRequest {
        model,
        asked: Asked {
            stream,
            include_usage,
            max_tokens: checked.max_tokens,
            choices: checked.choices,
            prompt_floor: checked.prompt_floor,
        },
    })
}

/// Reads one typed field, naming it in the error when its type is wrong.
pub(crate) fn field<'a, T: Deserialize<'a>>(
    object: &'a RawObject<'a>,
    name: &'static str,
) -> Result<Option<T>, GatewayError> {
    object
        .get_as::<T>(name)
        .map_err(|e| GatewayError::InvalidField {
            param: name,
            message: format!("`{name}` has the wrong type: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(op: Operation, body: &str) -> Result<(String, bool, bool), String> {
        let object = parse(body.as_bytes()).map_err(|e| e.to_string())?;
        fields(op, &object)
            .map(|r| (r.model.into_owned(), r.asked.stream, r.asked.include_usage))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_model_stream_and_usage_request() {
        let got = check(
            Operation::Chat,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#,
        );
        assert_eq!(got, Ok(("m".into(), true, true)));
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            (
                Operation::Chat,
                r#"{"messages":[{}]}"#,
                "`model` is required",
            ),
            (
                Operation::Chat,
                r#"{"model":"m"}"#,
                "`messages` is required",
            ),
            (
                Operation::Chat,
                r#"{"model":"m","messages":[]}"#,
                "`messages` must not be empty",
            ),
            (
                Operation::Chat,
                r#"{"model":"m","messages":"hi"}"#,
                "`messages` must be an array",
            ),
            (
                Operation::Chat,
                r#"{"model":"m","messages":[{"role":"user","content":"a"}],"stream":"yes"}"#,
                "`stream` must be true or false",
            ),
            (
                Operation::Chat,
                r#"{"model":7,"messages":[{}]}"#,
                "`model` must be a string",
            ),
            (
                Operation::Embeddings,
                r#"{"model":"m"}"#,
                "`input` is required",
            ),
            (
                Operation::Fim,
                r#"{"model":"m","suffix":"x"}"#,
                "`prompt` is required",
            ),
            (
                Operation::Chat,
                r#"{"model":"m", "messages": [}"#,
                "not valid JSON",
            ),
            (Operation::Chat, r#"[1]"#, "not valid JSON"),
        ];
        for (op, body, expected) in cases {
            let err = check(op, body).unwrap_err();
            assert!(err.contains(expected), "{body}: {err}");
        }
    }

    #[test]
    fn malformed_json_says_where() {
        let err = check(
            Operation::Chat,
            "{\n\"model\": \"m\",\n\"messages\": [,]\n}",
        )
        .unwrap_err();
        assert!(err.contains("line 3"), "{err}");
    }
}
