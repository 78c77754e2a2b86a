//! The natural-language inputs of a request: what policies inspect. Chat message contents (plain
//! strings and the text parts of multi-part contents), embedding inputs given as text, and a FIM
//! request's prompt and suffix. Token-array inputs and tool-call arguments are not text and are not
//! returned. Strings are borrowed from the body unless a JSON escape forces a copy.

use std::borrow::Cow;

use domain::Operation;
use serde::Deserialize;
use serde::de::IgnoredAny;
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

/// A chat prompt cut into prefix-cache blocks (`prefix::prompt_blocks`), each message's text as an
/// engine sees it (a multi-part content's text parts joined by line breaks), so the gateway's blocks
/// agree with the simulator's. Empty when the body has no readable messages.
pub fn prompt_blocks(object: &RawObject<'_>) -> Vec<prefix::BlockHash> {
    let Ok(Some(messages)) = field::<Vec<Message<'_>>>(object, "messages") else {
        return Vec::new();
    };
    let mut blocks = prefix::PromptBlocks::new();
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
    #![allow(clippy::unwrap_used)]
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

    #[test]
    fn a_message_list_of_the_wrong_shape_is_named() {
        let object = RawObject::parse(br#"{"messages":"hello"}"#).unwrap();
        let error = input_texts(Operation::Chat, &object).err().unwrap();
        assert!(error.to_string().contains("`messages`"), "{error}");
    }
}
