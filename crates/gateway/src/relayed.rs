//! What the relay sent of a completion, counted as it goes, for a request the backend gave no
//! usage for: a stream the caller or the backend cut before its usage chunk, a backend that never
//! reports usage. Such a request is charged an estimate: its prompt's (`price::Estimate`) and,
//! for the completion, the characters relayed over four ([`completion_tokens`]) — a tokenizer-free
//! estimate, close to the usual tokenizers on English prose and below them on code and most other
//! languages.
//!
//! The characters counted are those of the strings under a completion text's keys inside
//! `choices`: `content` (a delta's or a message's, a string or the texts of its parts), `text`
//! (completions, fill-in-the-middle, content parts), `reasoning_content` and `thinking`
//! (reasoning), `arguments` (tool calls); labels such as a part's `type` are not text. The JSON is walked with `serde_json`, keeping nothing: no allocation per event.

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The keys whose strings are completion text.
const TEXT_KEYS: [&str; 5] = [
    "content",
    "text",
    "reasoning_content",
    "thinking",
    "arguments",
];

/// The completion tokens `chars` characters of relayed text are charged as.
pub(crate) fn completion_tokens(chars: u64) -> u64 {
    chars.div_ceil(4)
}

/// The characters of completion text in one JSON answer or stream event; 0 for anything else.
pub(crate) fn completion_chars(json: &[u8]) -> u64 {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    Walk::Top.deserialize(&mut deserializer).unwrap_or_default()
}

/// The characters of completion text in the complete events of `sse`, `[DONE]` aside.
pub(crate) fn stream_chars(sse: &[u8]) -> u64 {
    wire::sse::events(sse)
        .filter_map(wire::sse::data)
        .filter(|data| data.as_ref() != b"[DONE]")
        .map(|data| completion_chars(&data))
        .sum()
}

/// Where the walk is: what the strings it meets count for.
#[derive(Debug, Clone, Copy)]
enum Walk {
    /// The answer or event itself: only its `choices` are looked into.
    Top,
    /// Inside `choices`, outside any text key.
    Choices,
    /// Under a text key: every string counts.
    Text,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = u64;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_str<E>(self, text: &str) -> Result<u64, E> {
        Ok(match self {
            Walk::Text => text.chars().count() as u64,
            Walk::Top | Walk::Choices => 0,
        })
    }

    fn visit_bool<E>(self, _: bool) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_i64<E>(self, _: i64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_u64<E>(self, _: u64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_f64<E>(self, _: f64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_unit<E>(self) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut chars = 0;
        while let Some(more) = seq.next_element_seed(self)? {
            chars += more;
        }
        Ok(chars)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        // An object under a text key (a content part, a thinking chunk) holds labels as well as
        // text: its keys decide again.
        let walk = match self {
            Walk::Text => Walk::Choices,
            other => other,
        };
        let mut chars = 0;
        while let Some(key) = map.next_key_seed(Key)? {
            let inner = match (walk, key) {
                (Walk::Top, KeyKind::Choices) => Walk::Choices,
                (Walk::Choices | Walk::Text, KeyKind::Text) => Walk::Text,
                (Walk::Choices | Walk::Text, _) => Walk::Choices,
                (Walk::Top, _) => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            chars += map.next_value_seed(inner)?;
        }
        Ok(chars)
    }
}

/// What a key means to the walk.
#[derive(Debug, Clone, Copy)]
enum KeyKind {
    Choices,
    Text,
    Other,
}

/// Reads a key without keeping it.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = KeyKind;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<KeyKind, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key {
    type Value = KeyKind;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<KeyKind, E> {
        Ok(if key == "choices" {
            KeyKind::Choices
        } else if TEXT_KEYS.contains(&key) {
            KeyKind::Text
        } else {
            KeyKind::Other
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_completion_texts_of_choices_only() {
        let event = br#"{"id":"x","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Bonjour \u00e0 vous"},"finish_reason":null}]}"#;
        assert_eq!(completion_chars(event), 14);
        let tool = br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"get","arguments":"{\"a\":1}"}}]}}]}"#;
        assert_eq!(completion_chars(tool), 7);
        let parts = br#"{"choices":[{"message":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"hmm"}]},{"type":"text","text":"ok"}]}}]}"#;
        assert_eq!(completion_chars(parts), 3 + 2, "the texts, not the labels");
        let fim = br#"{"choices":[{"text":"fn main","index":0}],"usage":{"prompt_tokens":3}}"#;
        assert_eq!(completion_chars(fim), 7);
        assert_eq!(completion_chars(br#"{"content":"not a choice"}"#), 0);
        assert_eq!(completion_chars(b"not json"), 0);
    }

    #[test]
    fn counts_every_event_of_a_stream_and_rounds_tokens_up() {
        let sse = b"data: {\"choices\":[{\"delta\":{\"content\":\"abc\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"de\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(stream_chars(sse), 5);
        assert_eq!(completion_tokens(5), 2);
        assert_eq!(completion_tokens(0), 0);
    }
}
