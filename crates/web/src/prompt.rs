//! What the model receives from the chat: the question, always, and before it the newest messages
//! of its conversation that fit the model's context, in their order.
//!
//! - The context is the model's configured context length, as `GET /v1/models` tells it for the
//!   person (the same the chat checks an attachment against), counted with the chat's estimate of
//!   four characters a token ([`estimated_tokens`]) and [`FRAMING_TOKENS`] more a
//!   message for its role and separators.
//! - A quarter of the context is left for the answer: the question, then the history, fill the
//!   other three quarters, the newest message first, and the history stops at the first message
//!   that does not fit (the model sees one unbroken end of the conversation, never a hole).
//! - The history begins with a question: an answer whose question did not fit is left out too,
//!   as models' chat templates want a conversation to start with the person.
//! - A question alone longer than the whole context is refused before anything is kept or sent,
//!   with both sizes (413); one that fits is sent, with what room is left for its history.
//! - A model whose context is not configured is given at most what the page itself may send
//!   ([`MAX_ASK_BYTES`], about a million tokens).
//!
//! A kept conversation is read from its end, in pages, and stops with the window
//! (`conversations::Keeper::history`); the conversation the page holds when nothing is kept is cut
//! the same way. So the cost of a question grows with the conversation only as far as the model
//! can read.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::lang::Lang;
use crate::text::Text;

/// The largest conversation accepted from the page; the gateway applies its own limit after.
pub const MAX_ASK_BYTES: usize = 4 * 1024 * 1024;

/// Characters a token holds, on average, for the context estimate.
const CHARS_PER_TOKEN: usize = 4;

/// Tokens a message takes beyond its text: its role and the template's separators.
pub const FRAMING_TOKENS: u64 = 4;

/// The context assumed for a model that has none configured: what the page may send.
const UNKNOWN_CONTEXT: u64 = (MAX_ASK_BYTES / CHARS_PER_TOKEN) as u64;

/// The tokens a text is estimated to take.
pub fn estimated_tokens(text: &str) -> u64 {
    let tokens = text.chars().count().div_ceil(CHARS_PER_TOKEN);
    u64::try_from(tokens).unwrap_or(u64::MAX)
}

/// The tokens a message is estimated to take in the prompt.
pub fn tokens(text: &str) -> u64 {
    estimated_tokens(text).saturating_add(FRAMING_TOKENS)
}

/// A question longer than the model's whole context: both sizes, estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    pub tokens: u64,
    pub context: u64,
}

impl TooLong {
    /// The refusal that says both sizes in `sentence` (`{tokens}`, `{context}`): 413.
    pub fn refusal(self, sentence: Text, lang: Lang) -> Response {
        let message = sentence
            .in_(lang)
            .replace("{tokens}", &crate::usage::whole(lang, self.tokens))
            .replace("{context}", &crate::usage::whole(lang, self.context));
        (StatusCode::PAYLOAD_TOO_LARGE, message).into_response()
    }
}

/// The room a conversation's history may take in the prompt, filled from its newest message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    left: u64,
    /// A message did not fit: none older may be taken.
    full: bool,
}

impl Window {
    /// The room for the history before `question`, for a model of `context` tokens (`None`: not
    /// configured): three quarters of the context less the question; the question refused when
    /// it alone is longer than the whole context.
    pub fn before(question: &str, context: Option<u32>) -> Result<Window, TooLong> {
        let context = context.map_or(UNKNOWN_CONTEXT, u64::from);
        let asked = tokens(question);
        if asked > context {
            return Err(TooLong {
                tokens: asked,
                context,
            });
        }
        let prompt = context - context / 4;
        Ok(Window {
            left: prompt.saturating_sub(asked),
            full: false,
        })
    }

    /// Whether the next older message, `text`, fits: it takes its room when it does; once one
    /// does not, no older one does.
    pub fn takes(&mut self, text: &str) -> bool {
        let needed = tokens(text);
        if self.full || needed > self.left {
            self.full = true;
            return false;
        }
        self.left -= needed;
        true
    }

    /// Whether a message did not fit: the history was cut.
    pub fn is_full(&self) -> bool {
        self.full
    }
}

/// `history` (oldest first), from its first question on: an answer cut from its question is left
/// out.
pub fn from_a_question<T>(history: &mut Vec<T>, is_question: impl Fn(&T) -> bool) {
    let first = history
        .iter()
        .position(is_question)
        .unwrap_or(history.len());
    history.drain(..first);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text of `tokens` estimated tokens with its framing.
    fn text(tokens: u64) -> String {
        "x".repeat(usize::try_from((tokens - FRAMING_TOKENS) * 4).unwrap())
    }

    #[test]
    fn the_history_fills_three_quarters_of_the_context_after_the_question() {
        let mut window = Window::before(&text(100), Some(1_000)).unwrap();
        assert!(window.takes(&text(400)));
        assert!(
            window.takes(&text(250)),
            "750 tokens in all: the prompt's room"
        );
        assert!(!window.takes(&text(5)), "a quarter is left for the answer");
        assert!(window.is_full());
        let mut window = Window::before(&text(100), Some(1_000)).unwrap();
        assert!(!window.takes(&text(700)));
        assert!(
            !window.takes(&text(5)),
            "once a message does not fit, no older one does: no hole"
        );
    }

    #[test]
    fn a_question_alone_longer_than_the_context_is_refused_one_that_fits_goes_alone() {
        assert_eq!(
            Window::before(&text(1_001), Some(1_000)),
            Err(TooLong {
                tokens: 1_001,
                context: 1_000
            })
        );
        let mut window = Window::before(&text(900), Some(1_000)).unwrap();
        assert!(!window.takes(&text(5)), "no room left for any history");
        let mut window = Window::before(&text(1_000), None).unwrap();
        assert!(
            window.takes(&text(500_000)),
            "a model without a configured context gets what the page may send"
        );
        assert!(!window.takes(&text(600_000)));
    }

    #[test]
    fn the_history_begins_with_a_question() {
        let mut history = vec!["assistant", "assistant", "user", "assistant", "user"];
        from_a_question(&mut history, |role| *role == "user");
        assert_eq!(history, ["user", "assistant", "user"]);
        let mut answers = vec!["assistant"];
        from_a_question(&mut answers, |role| *role == "user");
        assert!(answers.is_empty());
    }
}
