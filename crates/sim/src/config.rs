//! The simulator's configuration: how fast the simulated GPU is, how many sequences it decodes at
//! once, what it serves, and which failures it injects.

use std::time::Duration;

use crate::Flavour;

/// Everything that shapes a simulated backend. Plain data; `Simulator::new` takes it once.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Time to first token: the prefill a sequence spends after it gets a decoding slot.
    pub ttft: Duration,
    /// Decode speed of one sequence. Zero, negative, NaN or infinite means "no delay at all", which
    /// fast tests and benchmarks use.
    pub tokens_per_second: f64,
    /// Sequences decoding at once; the others wait in FIFO order. Zero is treated as one.
    pub capacity: usize,
    /// Length of the vectors `/v1/embeddings` returns when the request gives no `dimensions`.
    pub embedding_dimensions: usize,
    /// Model ids listed by `/v1/models`. Requests for any model name are served regardless.
    pub models: Vec<String>,
    /// Failures injected from the start; `Simulator::set_faults` changes them at run time.
    pub faults: Faults,
    /// Completion length, in tokens, when a request sets neither `max_tokens` nor
    /// `max_completion_tokens`.
    pub max_tokens_default: u64,
    /// How much a fuller batch slows each sequence's decoding (α): the time per output token is
    /// `1 / tokens_per_second × (1 + α × (batch − 1))`, `batch` being the sequences decoding at that
    /// moment. Zero (the default) keeps `tokens_per_second` whatever the batch.
    pub batch_slowdown: f64,
    /// KV-cache capacity in tokens: a sequence holds its prompt plus its completion (a request with
    /// `n` choices, the prompt once and `n` completions) from its start to its end, and a new one
    /// waits, first come first served, until enough is free. A request needing more than the whole
    /// cache gets the whole cache. Zero (the default) means unlimited.
    pub kv_cache_tokens: u64,
    /// Prompt blocks (see the `prefix` crate: `BLOCK_BYTES` bytes of messages, about 64 tokens) the
    /// prefix cache holds, least recently used evicted first. A prompt's leading blocks found in the
    /// cache skip prefill. Zero (the default) disables the cache.
    pub prefix_cache_blocks: usize,
    /// Prefill speed: each prompt token not found in the prefix cache adds `1 / this` to the time
    /// to first token, on top of `ttft`. Zero, negative or NaN (the default 0) means prefill costs
    /// `ttft` whatever the prompt, as before.
    pub prefill_tokens_per_second: f64,
    /// Echo mode, for tests that must see what the backend received: a chat completion is the
    /// marker, then the text of the request's last user message, [`ECHO_PIECE_CHARS`] characters
    /// per token (so one stream event each), for at most `max_tokens` tokens. Off by default.
    pub echo: bool,
    /// The engine played: its routes and wire formats (see `Flavour`). Default: the simulator's own.
    pub flavour: Flavour,
    /// Scripted answers, for tests and evaluations whose graders must be deterministic: the first
    /// line whose `when` occurs in a chat request's last user message gives the whole answer,
    /// exactly (no marker), [`ECHO_PIECE_CHARS`] characters per token. Requests no line matches
    /// are answered as usual. Empty by default.
    pub script: Vec<ScriptLine>,
}

/// One scripted answer: `{"when": "…", "answer": "…"}` in a `fabrique sim --script` file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptLine {
    pub when: String,
    pub answer: String,
}

/// Characters of the echoed message per token in echo mode: small, so a test's placeholder is cut
/// across stream events.
pub const ECHO_PIECE_CHARS: usize = 3;

/// Failure injection. Each rate is a probability in `[0, 1]` drawn independently per request; rates
/// outside that range are clamped by the comparison (below 0 never, above 1 always).
///
/// Faults apply to the inference routes (chat, FIM, embeddings, rerank) only: `/v1/models` always answers,
/// and `/health` answers 503 exactly when `error_rate >= 1.0`, so a backend "killed" that way also
/// looks dead to an active health check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Probability that a request is answered 500 or 503 (alternating) before any other work.
    pub error_rate: f64,
    /// Probability that a request is answered 429 with `Retry-After: 1`, as an overloaded server or a
    /// managed API's quota does. Drawn after `error_rate`.
    pub rate_limit_rate: f64,
    /// Probability that a request stalls: accepted, no byte sent for `stall`, then answered 503.
    /// A stalled request holds no decoding slot, as a hung connection in front of a healthy engine.
    pub stall_rate: f64,
    /// How long a stall lasts.
    pub stall: Duration,
    /// Probability that a *stream* is cut after about three chunks: the body ends with an error, so
    /// the client sees a broken connection and never `data: [DONE]`. Non-streamed requests ignore it.
    pub disconnect_rate: f64,
}

/// The largest completion a request may ask for, per choice; vLLM likewise refuses a `max_tokens`
/// beyond the context window with a 400. It also bounds the memory one request can make us use.
pub const MAX_COMPLETION_TOKENS: u64 = 131_072;

/// The context window, in tokens: prompt and completion together.
pub const CONTEXT_TOKENS: u64 = 131_072;

/// The most choices (`n`) one chat request may ask for.
pub const MAX_CHOICES: u32 = 16;

/// The largest embedding a request may ask for with `dimensions`.
pub const MAX_EMBEDDING_DIMENSIONS: usize = 16_384;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ttft: Duration::from_millis(20),
            tokens_per_second: 200.0,
            capacity: 8,
            embedding_dimensions: 1024,
            models: vec![
                "sim-chat".to_owned(),
                "sim-embed".to_owned(),
                "sim-fim".to_owned(),
            ],
            faults: Faults::default(),
            max_tokens_default: 32,
            batch_slowdown: 0.0,
            kv_cache_tokens: 0,
            prefix_cache_blocks: 0,
            prefill_tokens_per_second: 0.0,
            echo: false,
            flavour: Flavour::All,
            script: Vec::new(),
        }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            rate_limit_rate: 0.0,
            stall_rate: 0.0,
            stall: Duration::from_secs(60),
            disconnect_rate: 0.0,
        }
    }
}

impl SimConfig {
    /// A configuration with no delay at all: what unit tests and throughput benchmarks want.
    pub fn instant() -> Self {
        SimConfig {
            ttft: Duration::ZERO,
            tokens_per_second: 0.0,
            ..SimConfig::default()
        }
    }

    /// The time between two tokens of one sequence, or `None` when decoding is instantaneous.
    pub(crate) fn token_interval(&self) -> Option<Duration> {
        let tps = self.tokens_per_second;
        if !(tps.is_finite() && tps > 0.0) {
            return None;
        }
        // A rate so slow that the interval overflows a Duration is, for all purposes, forever.
        Some(
            Duration::try_from_secs_f64(1.0 / tps)
                .unwrap_or(Duration::from_secs(u64::from(u32::MAX))),
        )
    }

    /// The time between two tokens of one sequence while `batch` sequences decode together, or
    /// `None` when decoding is instantaneous.
    pub(crate) fn token_interval_in_batch(&self, batch: usize) -> Option<Duration> {
        let interval = self.token_interval()?;
        let alpha = self.batch_slowdown;
        if !(alpha.is_finite() && alpha > 0.0) || batch <= 1 {
            return Some(interval);
        }
        let factor = 1.0 + alpha * (batch - 1) as f64;
        Some(
            Duration::try_from_secs_f64(interval.as_secs_f64() * factor)
                .unwrap_or(Duration::from_secs(u64::from(u32::MAX))),
        )
    }

    /// Whether the batch size changes the decoding pace.
    pub(crate) fn batch_slows_decoding(&self) -> bool {
        self.batch_slowdown.is_finite()
            && self.batch_slowdown > 0.0
            && self.token_interval().is_some()
    }

    /// Time to first token for a prompt of which `uncached_tokens` are not in the prefix cache.
    pub(crate) fn prefill(&self, uncached_tokens: u64) -> Duration {
        let rate = self.prefill_tokens_per_second;
        if !(rate.is_finite() && rate > 0.0) || uncached_tokens == 0 {
            return self.ttft;
        }
        let compute = Duration::try_from_secs_f64(uncached_tokens as f64 / rate)
            .unwrap_or(Duration::from_secs(u64::from(u32::MAX)));
        self.ttft.saturating_add(compute)
    }

    /// How long a sequence waits between getting its slot and emitting token `index` (0-based): the
    /// prefill (`ttft`, more for an uncached prompt with a prefill speed set), then one interval
    /// per token already emitted, at the pace of a batch of one.
    pub(crate) fn token_due_after(&self, prefill: Duration, index: u64) -> Duration {
        let decode = match self.token_interval() {
            Some(interval) => interval.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX)),
            None => Duration::ZERO,
        };
        prefill.saturating_add(decode)
    }
}
