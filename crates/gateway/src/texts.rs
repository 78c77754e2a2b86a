//! The texts of a request that a model reads: what policies inspect. Deny by default: every
//! string value of the body is a text — message contents and `name`s, tool-call arguments, tool
//! results, the descriptions and JSON schemas of `tools` (their property names too),
//! `response_format`, a FIM `suffix`,
//! embedding inputs, fields the gateway has never heard of — except the few whose value is an
//! identifier, an enumeration or binary data ([`is_text`]). Strings are borrowed from the body
//! unless a JSON escape forces a copy.
//!
//! Texts are grouped as a model reads them together: the strings of one part of one message (its
//! content parts, its tool calls) form one group, scanned as one so that a value split between
//! two content parts is found. Inputs given as token ids cannot be read: while a policy needs to
//! read the request, they are refused.
//!
//! [`replace_input_texts`] is the way back: it puts new values into the same strings, by their
//! position in [`input_texts`]' list, re-serializing only the top-level fields that hold them.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;
use wire::object::RawObject;
use wire::strings::{Place, string_values};

use crate::accept::field;
use crate::error::GatewayError;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<Content<'a>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Parts(#[serde(borrow)] Vec<Part<'a>>),
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

/// One string of the body that a model reads.
#[derive(Debug)]
pub struct InputText<'a> {
    pub text: Cow<'a, str>,
    /// The position of the top-level field holding it among the body's fields.
    field: usize,
    /// Its JSON literal, quotes included, within that field's raw value.
    literal: Range<usize>,
    /// Texts of one group are read as one; groups are numbered in body order from 0.
    pub group: usize,
}

impl AsRef<str> for InputText<'_> {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// Whether the string value at `place` (in top-level field `field`) is text a model reads.
/// Identifiers, enumerations and binary data are not: rewriting them would break the request,
/// and reading base64 would cost much and find nothing.
fn is_text(field: &str, place: &Place<'_, '_>, value: &str) -> bool {
    match place.key().unwrap_or(field) {
        "model" | "role" | "type" | "id" | "tool_call_id" | "object" | "encoding_format"
        | "reasoning_effort" | "service_tier" | "detail" | "format" => false,
        "url" => !value.starts_with("\"data:"),
        "data" | "file_data" => !matches!(place.parent_key(), Some("input_audio" | "file")),
        _ => true,
    }
}

/// Every text of the request, in body order, grouped. Refuses token ids in `input` or `prompt`.
pub fn input_texts<'a>(object: &'a RawObject<'a>) -> Result<Vec<InputText<'a>>, GatewayError> {
    for name in ["input", "prompt"] {
        if object.get(name).is_some_and(|raw| is_token_ids(raw.get())) {
            return Err(GatewayError::InvalidField {
                param: name,
                message: format!(
                    "`{name}` is given as token ids, which the data policy that applies to this request cannot read; send it as text"
                ),
            });
        }
    }
    let mut texts = Vec::new();
    let mut last_branch = None;
    let mut group = 0;
    for (position, (name, raw)) in object.fields().enumerate() {
        let raw = raw.get();
        let mut malformed = None;
        string_values(raw, |literal, place| {
            let value = &raw[literal.clone()];
            if !is_text(name, &place, value) {
                return;
            }
            let branch = Some((position, place.branch()));
            if last_branch.is_some() && branch != last_branch {
                group += 1;
            }
            last_branch = branch;
            match unescape(value) {
                Ok(text) => texts.push(InputText {
                    text,
                    field: position,
                    literal,
                    group,
                }),
                Err(e) => malformed = Some(e),
            }
        });
        if let Some(e) = malformed {
            return Err(GatewayError::MalformedJson {
                detail: e.to_string(),
            });
        }
    }
    Ok(texts)
}

/// `object` with the texts at the given positions (of `texts`, from [`input_texts`] on the same
/// object) replaced by new strings. Only the top-level fields holding a replaced text are
/// re-serialized, and within them only the replaced strings change.
pub fn replace_input_texts<'a>(
    object: &RawObject<'a>,
    texts: &[InputText<'_>],
    replacements: &[(usize, String)],
) -> Result<RawObject<'a>, GatewayError> {
    let mut out = object.clone();
    let mut sorted: Vec<&(usize, String)> = replacements.iter().collect();
    sorted.sort_unstable_by_key(|(at, _)| *at);
    let mut pending = sorted.as_slice();
    for (position, (_, raw)) in object.fields().enumerate() {
        let in_field = pending
            .iter()
            .take_while(|(at, _)| texts.get(*at).is_some_and(|t| t.field == position))
            .count();
        if in_field == 0 {
            continue;
        }
        let raw = raw.get();
        let mut rebuilt = String::with_capacity(raw.len() + 64);
        let mut copied = 0;
        for (at, new) in &pending[..in_field] {
            let literal = &texts[*at].literal;
            rebuilt.push_str(&raw[copied..literal.start]);
            rebuilt.push_str(&json_string(new));
            copied = literal.end;
        }
        rebuilt.push_str(&raw[copied..]);
        out.set_raw_at(position, rebuilt)
            .map_err(|e| GatewayError::MalformedJson {
                detail: e.to_string(),
            })?;
        pending = &pending[in_field..];
    }
    Ok(out)
}

/// Whether an `input` or `prompt` is a list holding anything but strings: token ids, alone
/// (`[1, 2]`), as lists (`[[1, 2]]`) or mixed with text.
fn is_token_ids(raw: &str) -> bool {
    raw.starts_with('[')
        && serde_json::from_str::<Vec<&RawValue>>(raw)
            .is_ok_and(|items| items.iter().any(|item| !item.get().starts_with('"')))
}

/// The text of a JSON string literal: borrowed, unless it holds escapes.
fn unescape(literal: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    match literal.get(1..literal.len().saturating_sub(1)) {
        Some(inner) if literal.len() >= 2 && !inner.contains('\\') => Ok(Cow::Borrowed(inner)),
        _ => serde_json::from_str::<String>(literal).map(Cow::Owned),
    }
}

fn json_string(text: &str) -> String {
    // Serializing a `str` cannot fail.
    serde_json::to_string(text).unwrap_or_default()
}

/// A chat prompt cut into prefix-cache blocks under `salt` (`prefix::PromptBlocks::salted`), each
/// message's text as an engine sees it (a multi-part content's text parts joined by line breaks),
/// so the gateway's blocks agree with the simulator's. Empty when the body has no readable
/// messages.
pub fn prompt_blocks(object: &RawObject<'_>, salt: &[u8]) -> Vec<prefix::BlockHash> {
    let Ok(Some(messages)) = field::<Vec<Message<'_>>>(object, "messages") else {
        return Vec::new();
    };
    let mut blocks = prefix::PromptBlocks::salted(salt);
    for message in &messages {
        let role = message.role.as_deref().unwrap_or("");
        match &message.content {
            Some(Content::Text(text)) => blocks.message(role, text),
            Some(Content::Parts(parts)) => {
                let texts: Vec<&str> = parts.iter().filter_map(|p| p.text.as_deref()).collect();
                blocks.message(role, &texts.join("\n"))
            }
            None => blocks.message(role, ""),
        };
    }
    blocks.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts of `body`, each with its group.
    fn texts(body: &str) -> Vec<(String, usize)> {
        let object = RawObject::parse(body.as_bytes()).unwrap();
        input_texts(&object)
            .unwrap()
            .into_iter()
            .map(|t| (t.text.into_owned(), t.group))
            .collect()
    }

    fn strings(body: &str) -> Vec<String> {
        texts(body).into_iter().map(|(text, _)| text).collect()
    }

    #[test]
    fn every_string_a_model_reads_is_a_text() {
        // Before: only `content` strings and text parts were read.
        let body = r#"{"model":"m","messages":[
            {"role":"system","content":"be brief"},
            {"role":"user","name":"Ada","content":[{"type":"text","text":"a\nb"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"c"}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"lookup","arguments":"{\"iban\":\"FR76\"}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"found"}],
          "tools":[{"type":"function","function":{"name":"lookup","description":"finds","parameters":{"type":"object","properties":{"iban":{"type":"string","description":"the IBAN"}}}}}],
          "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","description":"an answer"}}},
          "user":"u-1","stop":["END"],"x_vendor":{"note":"n"},"temperature":0.2}"#;
        assert_eq!(
            texts(body),
            [
                ("be brief".to_owned(), 0),
                ("Ada".to_owned(), 1),
                ("a\nb".to_owned(), 2),
                ("c".to_owned(), 2),
                ("lookup".to_owned(), 3),
                ("{\"iban\":\"FR76\"}".to_owned(), 3),
                ("found".to_owned(), 4),
                ("lookup".to_owned(), 5),
                ("finds".to_owned(), 5),
                ("iban".to_owned(), 5),
                ("the IBAN".to_owned(), 5),
                ("r".to_owned(), 6),
                ("an answer".to_owned(), 6),
                ("u-1".to_owned(), 7),
                ("END".to_owned(), 8),
                ("n".to_owned(), 9),
            ]
        );
    }

    #[test]
    fn embedding_inputs_fim_and_token_ids() {
        assert_eq!(strings(r#"{"input":"one","model":"e"}"#), ["one"]);
        assert_eq!(
            texts(r#"{"input":["a","b"]}"#),
            [("a".to_owned(), 0), ("b".to_owned(), 1)]
        );
        assert_eq!(
            strings(r#"{"prompt":"def f(","suffix":"return x"}"#),
            ["def f(", "return x"]
        );
        for body in [
            r#"{"input":[[1,2],[3]]}"#,
            r#"{"input":[1,2]}"#,
            r#"{"input":["a",2]}"#,
            r#"{"prompt":[1,2]}"#,
        ] {
            let object = RawObject::parse(body.as_bytes()).unwrap();
            let error = input_texts(&object).unwrap_err().to_string();
            assert!(error.contains("token ids"), "{body}: {error}");
        }
    }

    fn replaced(body: &str, replacements: &[(usize, &str)]) -> String {
        let object = RawObject::parse(body.as_bytes()).unwrap();
        let texts = input_texts(&object).unwrap();
        let replacements: Vec<(usize, String)> = replacements
            .iter()
            .map(|(at, text)| (*at, (*text).to_owned()))
            .collect();
        let out = replace_input_texts(&object, &texts, &replacements).unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn replacing_texts_touches_only_their_strings() {
        let body = r#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","name":"x","content":[{"type":"text","text":"a\nb"},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"text","text":"c"}]},{"role":"assistant","content":null,"tool_calls":[{"function":{"arguments":"{\"a\":\"1\"}"}}]}],"tools":[{"type":"function"}]}"#;
        assert_eq!(
            replaced(body, &[(3, "C"), (2, "A \"B\""), (4, "{}")]),
            r#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","name":"x","content":[{"type":"text","text":"A \"B\""},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"text","text":"C"}]},{"role":"assistant","content":null,"tool_calls":[{"function":{"arguments":"{}"}}]}],"tools":[{"type":"function"}]}"#
        );
        assert_eq!(
            replaced(body, &[(0, "short")]),
            body.replace("be brief", "short")
        );
        assert_eq!(
            replaced(
                r#"{"input":["a","b"],"model":"e","user":"u"}"#,
                &[(1, "B"), (2, "U")]
            ),
            r#"{"input":["a","B"],"model":"e","user":"U"}"#
        );
        assert_eq!(
            replaced(r#"{"prompt":"p","suffix":"s"}"#, &[(1, "S")]),
            r#"{"prompt":"p","suffix":"S"}"#
        );
        // A schema's property name is a text too, and is rewritten where it stands.
        assert_eq!(
            replaced(
                r#"{"response_format":{"schema":{"properties":{"ada@example.fr":{"type":"string"}}}}}"#,
                &[(0, "[REDACTED_EMAIL]")]
            ),
            r#"{"response_format":{"schema":{"properties":{"[REDACTED_EMAIL]":{"type":"string"}}}}}"#
        );
    }
}
