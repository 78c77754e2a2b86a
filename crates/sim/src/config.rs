//! The simulator's configuration: how fast the simulated GPU is, how many sequences it decodes at
//! once, what it serves, and which failures it injects.

use std::time::Duration;

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
}

/// Failure injection. Each rate is a probability in `[0, 1]` drawn independently per request; rates
/// outside that range are clamped by the comparison (below 0 never, above 1 always).
///
/// Faults apply to the inference routes (chat, FIM, embeddings) only: `/v1/models` always answers,
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

    /// How long the sequence waits between getting its slot and emitting token `index` (0-based):
    /// the prefill, then one interval per token already emitted.
    pub(crate) fn token_due(&self, index: u64) -> Duration {
        let decode = match self.token_interval() {
            Some(interval) => interval.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX)),
            None => Duration::ZERO,
        };
        self.ttft.saturating_add(decode)
    }
}
