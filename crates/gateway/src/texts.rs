//! The natural-language inputs of a request: what policies inspect. Chat message contents (plain
//! strings and the text parts of multi-part contents), embedding inputs given as text, and a FIM
//! request's prompt and suffix. Token-array inputs and tool-call arguments are not text and are not
//! returned. Strings are borrowed from the body unless a JSON escape forces a copy.
//!
//! [`replace_input_texts`] is the way back: it puts new values into the same strings, by their
//! position in [`input_texts`]' list, re-serializing only the JSON values that hold them.

use std::borrow::Cow;

use domain::Operation;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use wire::object::RawObject;

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

#[derive(Deserialize)]
#[serde(untagged)]
enum Input<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Cow<'a, str>>),
    /// Token ids (arrays of integers): not text.
    Tokens(IgnoredAny),
}

/// Every input text of the request, in body order.
pub fn input_texts<'a>(
    operation: Operation,
    object: &'a RawObject<'a>,
) -> Result<Vec<Cow<'a, str>>, GatewayError> {
    let mut texts = Vec::new();
    match operation {
        Operation::Chat => {
            let messages: Vec<Message<'a>> = field(object, "messages")?.unwrap_or_default();
            for content in messages.into_iter().filter_map(|m| m.content) {
                match content {
                    Content::Text(text) => texts.push(text),
                    Content::Parts(parts) => texts.extend(parts.into_iter().filter_map(|p| p.text)),
                }
            }
        }
        Operation::Embeddings => match field::<Input<'a>>(object, "input")? {
            Some(Input::One(text)) => texts.push(text),
            Some(Input::Many(many)) => texts.extend(many),
            Some(Input::Tokens(_)) | None => {}
        },
        Operation::Fim => {
            for name in ["prompt", "suffix"] {
                if let Some(text) = field::<Cow<'a, str>>(object, name)? {
                    texts.push(text);
                }
            }
        }
    }
    Ok(texts)
}

/// `object` with the input texts at the given positions (of [`input_texts`]' list) replaced by new
/// strings. Only the fields holding a replaced text are re-serialized; every other field, and every
/// other key of the messages and parts touched, keeps its bytes.
pub fn replace_input_texts<'a>(
    operation: Operation,
    object: &RawObject<'a>,
    replacements: &[(usize, String)],
) -> Result<RawObject<'a>, GatewayError> {
    let mut out = object.clone();
    let mut position = 0;
    // Called once per text, in `input_texts`' order: only strings are texts.
    let mut next = |_text: &str| -> Option<String> {
        let found = replacements
            .iter()
            .find(|(at, _)| *at == position)
            .map(|(_, text)| json_string(text));
        position += 1;
        found
    };
    let malformed = |name: &'static str| {
        move |e: serde_json::Error| GatewayError::InvalidField {
            param: name,
            message: format!("`{name}` has the wrong shape: {e}"),
        }
    };
    match operation {
        Operation::Chat => {
            let messages: Vec<&RawValue> = field(object, "messages")?.unwrap_or_default();
            let mut rebuilt = Vec::with_capacity(messages.len());
            for message in messages {
                let mut message_object =
                    RawObject::parse(message.get().as_bytes()).map_err(malformed("messages"))?;
                let mut changed = false;
                match message_object.get("content").map(RawValue::get) {
                    Some(text) if text.starts_with('"') => {
                        if let Some(new) = next(text) {
                            message_object
                                .set_raw("content", new)
                                .map_err(malformed("messages"))?;
                            changed = true;
                        }
                    }
                    Some(parts) if parts.starts_with('[') => {
                        let parts: Vec<&RawValue> =
                            serde_json::from_str(parts).map_err(malformed("messages"))?;
                        let mut new_parts = Vec::with_capacity(parts.len());
                        for part in parts {
                            let mut part_object = RawObject::parse(part.get().as_bytes())
                                .map_err(malformed("messages"))?;
                            let replaced = match part_object.get("text").map(RawValue::get) {
                                Some(text) if text.starts_with('"') => next(text),
                                _ => None,
                            };
                            match replaced {
                                Some(new) => {
                                    part_object
                                        .set_raw("text", new)
                                        .map_err(malformed("messages"))?;
                                    changed = true;
                                    new_parts.push(bytes_to_string(part_object.to_vec()));
                                }
                                None => new_parts.push(part.get().to_owned()),
                            }
                        }
                        if changed {
                            message_object
                                .set_raw("content", format!("[{}]", new_parts.join(",")))
                                .map_err(malformed("messages"))?;
                        }
                    }
                    _ => {}
                }
                rebuilt.push(if changed {
                    bytes_to_string(message_object.to_vec())
                } else {
                    message.get().to_owned()
                });
            }
            out.set_raw("messages", format!("[{}]", rebuilt.join(",")))
                .map_err(malformed("messages"))?;
        }
        Operation::Embeddings => match object.get("input").map(RawValue::get) {
            Some(text) if text.starts_with('"') => {
                if let Some(new) = next(text) {
                    out.set_raw("input", new).map_err(malformed("input"))?;
                }
            }
            Some(list) if list.starts_with('[') => {
                let items: Vec<&RawValue> =
                    serde_json::from_str(list).map_err(malformed("input"))?;
                // A list holding anything but strings is token ids: no texts (as `input_texts`).
                if !items.iter().all(|item| item.get().starts_with('"')) {
                    return Ok(out);
                }
                let items: Vec<String> = items
                    .into_iter()
                    .map(|item| match item.get() {
                        text if text.starts_with('"') => {
                            next(text).unwrap_or_else(|| text.to_owned())
                        }
                        other => other.to_owned(),
                    })
                    .collect();
                out.set_raw("input", format!("[{}]", items.join(",")))
                    .map_err(malformed("input"))?;
            }
            _ => {}
        },
        Operation::Fim => {
            for name in ["prompt", "suffix"] {
                if let Some(text) = object.get(name).map(RawValue::get)
                    && text.starts_with('"')
                    && let Some(new) = next(text)
                {
                    out.set_raw(name, new).map_err(malformed(name))?;
                }
            }
        }
    }
    Ok(out)
}

fn json_string(text: &str) -> String {
    // Serializing a `str` cannot fail.
    serde_json::to_string(text).unwrap_or_default()
}

fn bytes_to_string(bytes: Vec<u8>) -> String {
    // `RawObject::to_vec` writes JSON, which is UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
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

    fn texts(operation: Operation, body: &str) -> Vec<String> {
        let object = RawObject::parse(body.as_bytes()).unwrap();
        input_texts(operation, &object)
            .unwrap()
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn chat_contents_plain_and_multi_part() {
        let body = r#"{"model":"m","messages":[
            {"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"a\nb"},{"type":"image_url","image_url":{"url":"x"}}]},
            {"role":"assistant","content":null,"tool_calls":[]}
        ]}"#;
        assert_eq!(texts(Operation::Chat, body), ["be brief", "a\nb"]);
    }

    #[test]
    fn embedding_inputs_as_text_or_tokens() {
        assert_eq!(texts(Operation::Embeddings, r#"{"input":"one"}"#), ["one"]);
        assert_eq!(
            texts(Operation::Embeddings, r#"{"input":["a","b"]}"#),
            ["a", "b"]
        );
        assert!(texts(Operation::Embeddings, r#"{"input":[[1,2],[3]]}"#).is_empty());
    }

    #[test]
    fn fim_prompt_and_suffix() {
        assert_eq!(
            texts(Operation::Fim, r#"{"prompt":"def f(","suffix":"return x"}"#),
            ["def f(", "return x"]
        );
    }

    fn replaced(operation: Operation, body: &str, replacements: &[(usize, &str)]) -> String {
        let object = RawObject::parse(body.as_bytes()).unwrap();
        let replacements: Vec<(usize, String)> = replacements
            .iter()
            .map(|(at, text)| (*at, (*text).to_owned()))
            .collect();
        let out = replace_input_texts(operation, &object, &replacements).unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn replacing_texts_touches_only_their_strings() {
        let body = r#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","name":"x","content":[{"type":"text","text":"a\nb"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"c"}]},{"role":"assistant","content":null,"tool_calls":[]}],"tools":[{"type":"function"}]}"#;
        assert_eq!(
            replaced(Operation::Chat, body, &[(1, "A \"B\""), (2, "C")]),
            r#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","name":"x","content":[{"type":"text","text":"A \"B\""},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"C"}]},{"role":"assistant","content":null,"tool_calls":[]}],"tools":[{"type":"function"}]}"#
        );
        assert_eq!(
            replaced(Operation::Chat, body, &[(0, "short")]),
            body.replace("be brief", "short")
        );
        assert_eq!(
            replaced(
                Operation::Embeddings,
                r#"{"input":["a","b"],"model":"e"}"#,
                &[(1, "B")]
            ),
            r#"{"input":["a","B"],"model":"e"}"#
        );
        assert_eq!(
            replaced(
                Operation::Fim,
                r#"{"prompt":"p","suffix":"s"}"#,
                &[(1, "S")]
            ),
            r#"{"prompt":"p","suffix":"S"}"#
        );
    }

    #[test]
    fn a_message_list_of_the_wrong_shape_is_named() {
        let object = RawObject::parse(br#"{"messages":"hello"}"#).unwrap();
        let error = input_texts(Operation::Chat, &object).err().unwrap();
        assert!(error.to_string().contains("`messages`"), "{error}");
    }
}
