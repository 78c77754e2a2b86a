//! Requests checked the way the OpenAI and Mistral APIs check them, before anything acts on them:
//! the known fields of chat, fill-in-the-middle, embeddings and rerank requests for type and range, the
//! messages' roles and content shapes, and the model name. A refusal names the field (OpenAI's
//! `param`: `temperature`, `messages[2].content`). Fields not known here pass unchecked, so
//! backend-specific options keep working.
//!
//! The ranges are the union of the two APIs' (and what vLLM accepts): `temperature` 0 to 2,
//! `top_p` 0 to 1, `n` and `best_of` 1 to 128, `max_tokens` and `max_completion_tokens` at least
//! 1, penalties −2 to 2, `top_logprobs` 0 to 20. `null` is the same as absent, as in both APIs.
//!
//! [`check`] also says what the request may cost ([`Checked`]): the completion it allows, how many
//! completions it decodes, and a floor under its prompt's tokens — the gateway has no tokenizer,
//! so the floor counts one token per message plus one per [`CHARS_PER_TOKEN_CEILING`]
//! characters, far fewer than any usual tokenizer makes of text.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::object::RawObject;

/// The request kinds checked here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Fim,
    Embeddings,
    Rerank,
}

/// Why a request is refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field, as OpenAI's `param` names it: `n`, `messages[0].role`, `input[3]`.
    pub param: Cow<'static, str>,
    pub message: String,
}

impl Invalid {
    fn new(param: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Invalid {
        Invalid {
            param: param.into(),
            message: message.into(),
        }
    }
}

/// What a valid request may cost, as far as its fields say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The completion tokens allowed per choice: `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    /// The completions decoded: the larger of `n` and `best_of`, 1 when neither is given.
    pub choices: u64,
    /// Fewer tokens than the prompt can be, whatever the tokenizer (the module's docs).
    pub prompt_floor: u64,
}

/// The longest model name a request may give.
pub const MAX_MODEL_NAME_CHARS: usize = 128;

/// The most characters the prompt floor assumes one token may hold. Usual tokenizers average three
/// to five characters a token on prose and code; only long runs of one character pack more.
pub const CHARS_PER_TOKEN_CEILING: u64 = 16;

/// The most completions one request may ask for (`n`, `best_of`), as OpenAI allows.
pub const MAX_CHOICES: u64 = 128;

/// The roles a chat message may have, in either API.
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Checks `object`, a request for `endpoint`.
pub fn check(endpoint: Endpoint, object: &RawObject<'_>) -> Result<Checked, Invalid> {
    check_model(object)?;
    let prompt_floor = match endpoint {
        Endpoint::Chat => check_messages(object)?,
        Endpoint::Fim => check_fim(object)?,
        Endpoint::Embeddings => return check_embeddings(object),
        Endpoint::Rerank => return check_rerank(object),
    };
    check_sampling(endpoint, object)?;
    let max_tokens = match integer(object, "max_completion_tokens", 1, u64::MAX)? {
        Some(tokens) => Some(tokens),
        None => integer(object, "max_tokens", 1, u64::MAX)?,
    };
    let n = integer(object, "n", 1, MAX_CHOICES)?.unwrap_or(1);
    let best_of = integer(object, "best_of", 1, MAX_CHOICES)?.unwrap_or(1);
    if let Some(min) = integer(object, "min_tokens", 0, u64::MAX)?
        && max_tokens.is_some_and(|max| min > max)
    {
        return Err(Invalid::new(
            "min_tokens",
            "`min_tokens` must not exceed `max_tokens`",
        ));
    }
    Ok(Checked {
        max_tokens,
        choices: n.max(best_of),
        prompt_floor,
    })
}

/// Whether callers can name a model `name` ([`model_name_problem`] finds nothing wrong with it).
pub fn is_model_name(name: &str) -> bool {
    model_name_problem(name).is_none()
}

/// Why `name` cannot be a model's name, if it cannot: 1 to [`MAX_MODEL_NAME_CHARS`] of ASCII
/// letters, digits and `-._:/@+`, starting with a letter or digit — so it is safe in logs, URLs
/// and spreadsheet cells (no formula starts with a letter or digit).
pub fn model_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("`model` must not be empty".to_owned());
    }
    if name.len() > MAX_MODEL_NAME_CHARS {
        return Some(format!(
            "`model` is {} bytes long; a model name has at most {MAX_MODEL_NAME_CHARS}",
            name.len()
        ));
    }
    let first = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    let rest = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._:/@+".contains(&b));
    (!first || !rest).then(|| {
        "`model` must be a model name: ASCII letters, digits and `-._:/@+`, starting with a letter or digit"
            .to_owned()
    })
}

fn check_model(object: &RawObject<'_>) -> Result<(), Invalid> {
    let name: Cow<'_, str> = typed(object, "model", "a string")?
        .ok_or_else(|| Invalid::new("model", "`model` is required"))?;
    match model_name_problem(&name) {
        Some(problem) => Err(Invalid::new("model", problem)),
        None => Ok(()),
    }
}

/// The sampling fields both completion endpoints share, and chat's log-probability fields.
fn check_sampling(endpoint: Endpoint, object: &RawObject<'_>) -> Result<(), Invalid> {
    number(object, "temperature", 0.0, 2.0)?;
    number(object, "top_p", 0.0, 1.0)?;
    number(object, "presence_penalty", -2.0, 2.0)?;
    number(object, "frequency_penalty", -2.0, 2.0)?;
    typed::<bool>(object, "stream", "true or false")?;
    integer_any(object, "seed")?;
    integer_any(object, "random_seed")?;
    check_stop(object)?;
    if endpoint == Endpoint::Chat {
        typed::<bool>(object, "logprobs", "true or false")?;
        integer(object, "top_logprobs", 0, 20)?;
    }
    Ok(())
}

/// `stop`: a string or an array of strings.
fn check_stop(object: &RawObject<'_>) -> Result<(), Invalid> {
    let Some(raw) = present(object, "stop") else {
        return Ok(());
    };
    let ok = serde_json::from_str::<Cow<'_, str>>(raw.get()).is_ok()
        || serde_json::from_str::<Vec<Cow<'_, str>>>(raw.get()).is_ok();
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "stop",
            "`stop` must be a string or an array of strings",
        ))
    }
}

/// One chat message, its fields kept raw until checked.
#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow, default)]
    role: Option<&'a RawValue>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_calls: Option<&'a RawValue>,
}

/// `messages`: a non-empty array of messages of known roles, each with content of a valid shape;
/// returns the prompt floor.
fn check_messages(object: &RawObject<'_>) -> Result<u64, Invalid> {
    let messages: Vec<&RawValue> = typed(object, "messages", "an array of messages")?
        .ok_or_else(|| Invalid::new("messages", "`messages` is required"))?;
    if messages.is_empty() {
        return Err(Invalid::new("messages", "`messages` must not be empty"));
    }
    let mut floor = 0_u64;
    for (index, raw) in messages.iter().enumerate() {
        let at = |field: &str| format!("messages[{index}]{field}");
        let message: RawMessage<'_> = serde_json::from_str(raw.get()).map_err(|_| {
            Invalid::new(
                at(""),
                format!("`{}` must be an object with a `role`", at("")),
            )
        })?;
        let role = message
            .role
            .and_then(|raw| serde_json::from_str::<Cow<'_, str>>(raw.get()).ok());
        let role = match role {
            Some(role) if ROLES.contains(&role.as_ref()) => role,
            _ => {
                return Err(Invalid::new(
                    at(".role"),
                    format!(
                        "`{}` must be one of {}",
                        at(".role"),
                        ROLES.map(|r| format!("`{r}`")).join(", ")
                    ),
                ));
            }
        };
        // An assistant's turn may be only tool calls; every other role says something.
        let optional = role == "assistant";
        let chars = content_chars(message.content, optional).map_err(|problem| {
            Invalid::new(at(".content"), format!("`{}` {problem}", at(".content")))
        })?;
        if message
            .name
            .is_some_and(|raw| serde_json::from_str::<Cow<'_, str>>(raw.get()).is_err())
        {
            return Err(Invalid::new(
                at(".name"),
                format!("`{}` must be a string", at(".name")),
            ));
        }
        if message
            .tool_calls
            .is_some_and(|raw| serde_json::from_str::<Vec<&RawValue>>(raw.get()).is_err())
        {
            return Err(Invalid::new(
                at(".tool_calls"),
                format!("`{}` must be an array", at(".tool_calls")),
            ));
        }
        floor = floor.saturating_add(1 + chars / CHARS_PER_TOKEN_CEILING);
    }
    Ok(floor)
}

/// One part of a multi-part content.
#[derive(Deserialize)]
struct RawPart<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
}

/// The characters of a message's content: a string, or an array of parts each naming its `type`
/// (a `text` part with a string `text`); absent or `null` only where `optional`.
fn content_chars(content: Option<&RawValue>, optional: bool) -> Result<u64, &'static str> {
    let Some(raw) = content else {
        return if optional { Ok(0) } else { Err("is required") };
    };
    if let Ok(text) = serde_json::from_str::<Cow<'_, str>>(raw.get()) {
        return Ok(text.chars().count() as u64);
    }
    let shape = "must be a string or an array of content parts, each an object with a `type`";
    let parts: Vec<RawPart<'_>> = serde_json::from_str(raw.get()).map_err(|_| shape)?;
    let mut chars = 0_u64;
    for part in &parts {
        if part.kind == "text" {
            let text = part
                .text
                .and_then(|raw| serde_json::from_str::<Cow<'_, str>>(raw.get()).ok())
                .ok_or("has a `text` part without a string `text`")?;
            chars += text.chars().count() as u64;
        }
    }
    Ok(chars)
}

/// Fill-in-the-middle: `prompt` a string, `suffix` a string when given; returns the prompt floor.
fn check_fim(object: &RawObject<'_>) -> Result<u64, Invalid> {
    let prompt: Cow<'_, str> = typed(object, "prompt", "a string")?
        .ok_or_else(|| Invalid::new("prompt", "`prompt` is required"))?;
    let suffix: Option<Cow<'_, str>> = typed(object, "suffix", "a string")?;
    let chars = prompt.chars().count() + suffix.map_or(0, |s| s.chars().count());
    Ok(1 + chars as u64 / CHARS_PER_TOKEN_CEILING)
}

/// One embeddings input: a text or token ids.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawInput<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Tokens(Vec<u32>),
}

impl RawInput<'_> {
    fn floor(&self) -> u64 {
        match self {
            RawInput::Text(text) => 1 + text.chars().count() as u64 / CHARS_PER_TOKEN_CEILING,
            RawInput::Tokens(ids) => ids.len() as u64,
        }
    }
}

/// Embeddings: `input` a string, token ids, or a non-empty array of either; the floor is the
/// longest input's, since each is embedded alone.
fn check_embeddings(object: &RawObject<'_>) -> Result<Checked, Invalid> {
    let shape = "`input` must be a string, an array of token ids, or a non-empty array of strings or of token-id arrays";
    let raw =
        present(object, "input").ok_or_else(|| Invalid::new("input", "`input` is required"))?;
    let inputs: Vec<RawInput<'_>> = match serde_json::from_str::<RawInput<'_>>(raw.get()) {
        Ok(one) => vec![one],
        Err(_) => serde_json::from_str(raw.get()).map_err(|_| Invalid::new("input", shape))?,
    };
    let empty = |input: &RawInput<'_>| matches!(input, RawInput::Tokens(ids) if ids.is_empty());
    if inputs.is_empty() || inputs.iter().any(empty) {
        return Err(Invalid::new("input", shape));
    }
    let format: Option<Cow<'_, str>> = typed(object, "encoding_format", "`float` or `base64`")?;
    if format.is_some_and(|f| f != "float" && f != "base64") {
        return Err(Invalid::new(
            "encoding_format",
            "`encoding_format` must be `float` or `base64`",
        ));
    }
    integer(object, "dimensions", 1, u64::MAX)?;
    Ok(Checked {
        max_tokens: Some(0),
        choices: 1,
        prompt_floor: inputs.iter().map(RawInput::floor).max().unwrap_or(0),
    })
}

/// Rerank: a `query` string and a non-empty array of `documents` strings; `top_n` at least 1.
/// Each document is scored with the query, so the floor is the query's plus the longest
/// document's.
fn check_rerank(object: &RawObject<'_>) -> Result<Checked, Invalid> {
    let query: Cow<'_, str> = typed(object, "query", "a string")?
        .ok_or_else(|| Invalid::new("query", "`query` is required"))?;
    let shape = "`documents` must be a non-empty array of strings";
    let documents: Vec<Cow<'_, str>> = typed(object, "documents", "a non-empty array of strings")?
        .ok_or_else(|| Invalid::new("documents", "`documents` is required"))?;
    if documents.is_empty() {
        return Err(Invalid::new("documents", shape));
    }
    integer(object, "top_n", 1, u64::MAX)?;
    typed::<bool>(object, "return_documents", "true or false")?;
    let floor = |text: &str| 1 + text.chars().count() as u64 / CHARS_PER_TOKEN_CEILING;
    let longest = documents.iter().map(|d| floor(d)).max().unwrap_or(0);
    Ok(Checked {
        max_tokens: Some(0),
        choices: 1,
        prompt_floor: floor(&query).saturating_add(longest),
    })
}

/// A field's raw value, unless it is absent or `null`.
fn present<'o>(object: &'o RawObject<'_>, name: &str) -> Option<&'o RawValue> {
    object.get(name).filter(|raw| raw.get() != "null")
}

/// A field read as `T`, refused as not being `what` when it is something else.
fn typed<'o, T: Deserialize<'o>>(
    object: &'o RawObject<'_>,
    name: &'static str,
    what: &str,
) -> Result<Option<T>, Invalid> {
    parsed(object, name).map_err(|()| must_be(name, what))
}

/// A field read as `T`; `Err` when it is something else. The refusal's text is left to the caller,
/// so that a valid request formats none.
fn parsed<'o, T: Deserialize<'o>>(object: &'o RawObject<'_>, name: &str) -> Result<Option<T>, ()> {
    present(object, name)
        .map(|raw| serde_json::from_str(raw.get()).map_err(drop))
        .transpose()
}

fn must_be(name: &'static str, what: &str) -> Invalid {
    Invalid::new(name, format!("`{name}` must be {what}"))
}

/// A number field within `min..=max`.
fn number(
    object: &RawObject<'_>,
    name: &'static str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, Invalid> {
    let what = || format!("a number between {min} and {max}");
    match parsed::<f64>(object, name) {
        Err(()) => Err(must_be(name, &what())),
        Ok(Some(v)) if !(min..=max).contains(&v) => Err(Invalid::new(
            name,
            format!("`{name}` must be {}, not {v}", what()),
        )),
        Ok(other) => Ok(other),
    }
}

/// An integer field within `min..=max`.
fn integer(
    object: &RawObject<'_>,
    name: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, Invalid> {
    let what = || match max {
        u64::MAX => format!("an integer of at least {min}"),
        _ => format!("an integer between {min} and {max}"),
    };
    match parsed::<i128>(object, name) {
        Err(()) => Err(must_be(name, &what())),
        Ok(None) => Ok(None),
        Ok(Some(v)) => u64::try_from(v)
            .ok()
            .filter(|v| (min..=max).contains(v))
            .map(Some)
            .ok_or_else(|| Invalid::new(name, format!("`{name}` must be {}, not {v}", what()))),
    }
}

/// An integer field of any value (a seed).
fn integer_any(object: &RawObject<'_>, name: &'static str) -> Result<(), Invalid> {
    typed::<i128>(object, name, "an integer").map(drop)
}

#[cfg(test)]
mod tests;
