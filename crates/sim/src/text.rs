//! Deterministic simulated text and the approximate token count.
//!
//! **Token counting.** The simulator has no tokenizer; it counts `ceil(chars / 4)` tokens for a text
//! (`approximate_tokens`, Unicode scalar values, the usual rule of thumb for English). A chat prompt
//! counts the text of every message (string content, or the `text` parts joined by newlines) plus 3
//! tokens per message for the chat template; roles are *not* counted as text, those 3 tokens stand
//! for them. Embedding inputs count each text alone (a token-array input counts its length); a FIM
//! prompt counts the prompt plus the suffix, with no per-message overhead.
//!
//! **Generation.** A completion is a sequence of tokens, each one emitted piece: first the marker
//! `[simulated]`, then words from a fixed vocabulary, each preceded by a space. The words come from a
//! small pseudo-random generator seeded by a SHA-256 of the request (model, messages, seed), so the
//! same request always gets the same text, and a longer `max_tokens` extends it rather than changing
//! it. The number of whitespace-separated words in a completion is therefore its token count.

use sha2::{Digest, Sha256};

/// The first token of every completion, so nobody mistakes the simulator for a model.
pub const SIMULATED_MARK: &str = "[simulated]";

/// The approximate token count of a text: `ceil(chars / 4)`.
pub fn approximate_tokens(text: &str) -> u64 {
    u64::try_from(text.chars().count())
        .unwrap_or(u64::MAX)
        .div_ceil(4)
}

/// Prompt tokens of one chat message whose text is `text`: the text plus the template overhead.
pub(crate) fn message_tokens(text: &str) -> u64 {
    approximate_tokens(text) + TOKENS_PER_MESSAGE
}

const TOKENS_PER_MESSAGE: u64 = 3;

/// The words completions are made of. Plain lowercase ASCII: the stream writer copies them into JSON
/// strings without escaping (a unit test holds that invariant).
pub(crate) const VOCABULARY: &[&str] = &[
    "the",
    "model",
    "answers",
    "with",
    "simulated",
    "text",
    "about",
    "your",
    "request",
    "and",
    "it",
    "is",
    "not",
    "a",
    "real",
    "inference",
    "result",
    "tokens",
    "flow",
    "from",
    "queue",
    "to",
    "gpu",
    "batch",
    "while",
    "gateway",
    "measures",
    "latency",
    "every",
    "sequence",
    "waits",
    "for",
    "slot",
    "then",
    "decodes",
    "words",
    "at",
    "steady",
    "pace",
    "so",
    "tests",
    "see",
    "realistic",
    "timing",
    "of",
    "streams",
    "usage",
    "counts",
    "match",
    "this",
    "output",
    "exactly",
    "no",
    "weights",
    "were",
    "loaded",
    "here",
    "only",
    "arithmetic",
    "deterministic",
    "plain",
    "useful",
    "data",
    "fabrique",
];

/// A seed accumulated from the parts of a request that decide its text.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeedBuilder {
    hasher: Sha256,
}

impl SeedBuilder {
    /// Adds one field. Each field is length-prefixed so `("ab", "c")` and `("a", "bc")` differ.
    pub(crate) fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.hasher
            .update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_le_bytes());
        self.hasher.update(bytes);
        self
    }

    pub(crate) fn finish(&self) -> u64 {
        let digest = self.hasher.clone().finalize();
        let mut first = [0_u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

/// The seed of a single text, as embeddings use it.
pub(crate) fn seed_of(bytes: &[u8]) -> u64 {
    SeedBuilder::default().field(bytes).finish()
}

/// SplitMix64: tiny, fast and good enough to pick words and vector components. Its own code rather
/// than `rand`'s so the text can never change with a dependency upgrade.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `[-1, 1)`.
    pub(crate) fn next_signed_unit(&mut self) -> f64 {
        // The top 53 bits make an exactly representable fraction in [0, 1).
        let fraction = (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
        fraction * 2.0 - 1.0
    }
}

/// The tokens of one completion choice, in order.
#[derive(Debug, Clone)]
pub(crate) struct Words {
    rng: SplitMix64,
    emitted: u64,
    /// Echo mode: the text repeated, and the byte offset reached in it.
    echo: Option<(std::sync::Arc<str>, usize)>,
    /// Whether the completion opens with the simulator's marker (not for a script's answer).
    marked: bool,
}

impl Words {
    /// The words of choice `index` of a request whose seed is `seed`.
    pub(crate) fn new(seed: u64, index: u32) -> Self {
        // Choice 0 uses the request's seed as is; the others are decorrelated by the index.
        let seed = seed ^ u64::from(index).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        Words {
            rng: SplitMix64::new(seed),
            emitted: 0,
            echo: None,
            marked: true,
        }
    }

    /// The marker, then `text` in pieces of `ECHO_PIECE_CHARS` characters (echo mode).
    pub(crate) fn echoing(text: std::sync::Arc<str>) -> Self {
        Words {
            echo: Some((text, 0)),
            ..Words::new(0, 0)
        }
    }

    /// `text` exactly, in pieces of `ECHO_PIECE_CHARS` characters, without the marker (a
    /// script's answer).
    pub(crate) fn scripted(text: std::sync::Arc<str>) -> Self {
        Words {
            echo: Some((text, 0)),
            // The marker's turn is skipped: the first piece is the text's.
            emitted: 1,
            marked: false,
            ..Words::new(0, 0)
        }
    }

    /// The next piece of the echoed text, unescaped; empty once the text is over.
    fn next_echoed(&mut self) -> Option<String> {
        let (text, offset) = self.echo.as_mut()?;
        let rest = &text[*offset..];
        let end = rest
            .char_indices()
            .nth(crate::config::ECHO_PIECE_CHARS)
            .map_or(rest.len(), |(i, _)| i);
        *offset += end;
        Some(rest[..end].to_owned())
    }

    /// The next token as emitted: the marker first, then a space and a word.
    pub(crate) fn next_piece(&mut self, out: &mut Vec<u8>) {
        if self.emitted > 0
            && let Some(piece) = self.next_echoed()
        {
            // Echoed text is the caller's: escaped, since the stream writer copies pieces into
            // JSON strings as they are.
            let quoted = serde_json::to_string(&piece).unwrap_or_default();
            out.extend_from_slice(
                quoted
                    .as_bytes()
                    .get(1..quoted.len().saturating_sub(1))
                    .unwrap_or_default(),
            );
            self.emitted += 1;
            return;
        }
        if self.emitted == 0 {
            out.extend_from_slice(SIMULATED_MARK.as_bytes());
            if self.echo.is_some() {
                out.push(b' ');
            }
        } else {
            let pick = self.rng.next_u64() % VOCABULARY.len() as u64;
            let word = VOCABULARY
                .get(usize::try_from(pick).unwrap_or(0))
                .copied()
                .unwrap_or("the");
            out.push(b' ');
            out.extend_from_slice(word.as_bytes());
        }
        self.emitted += 1;
    }

    /// A whole completion of `tokens` tokens.
    pub(crate) fn text(mut self, tokens: u64) -> String {
        if self.echo.is_some() {
            let mut out = match self.marked {
                true => format!("{SIMULATED_MARK} "),
                false => String::new(),
            };
            for _ in 1..tokens {
                out.push_str(&self.next_echoed().unwrap_or_default());
            }
            return out;
        }
        let mut out = Vec::with_capacity(usize::try_from(tokens).unwrap_or(0).saturating_mul(8));
        for _ in 0..tokens {
            self.next_piece(&mut out);
        }
        // Only ASCII was written; the lossy conversion never replaces anything.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}
