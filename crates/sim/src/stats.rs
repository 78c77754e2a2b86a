//! Counters that tests and benchmarks read to see what the simulated backend went through: requests
//! per route, outcomes, injected faults, decoding concurrency, tokens served, and the last credential
//! and chat body received (so the gateway's tests can check what it forwarded).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use http::HeaderValue;

/// A snapshot of the counters, taken by `Simulator::stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimStats {
    /// `POST /v1/chat/completions` requests received, whatever became of them.
    pub chat_requests: u64,
    /// `POST /v1/fim/completions` requests received.
    pub fim_requests: u64,
    /// `POST /v1/embeddings` requests received.
    pub embeddings_requests: u64,
    /// Rerank requests received, in either shape (`/v1/rerank`, `/rerank`).
    pub rerank_requests: u64,
    /// `GET /v1/models` and `GET /v1/models/{id}` requests received.
    pub models_requests: u64,
    /// `GET /health` requests received.
    pub health_requests: u64,
    /// Inference requests answered in full: a whole JSON body, or a stream up to `data: [DONE]`.
    pub completed: u64,
    /// Inference requests refused with a 400 (malformed JSON, missing or invalid fields).
    pub rejected: u64,
    /// Requests answered 500 or 503 by `Faults::error_rate`, or 429 by `Faults::rate_limit_rate`.
    pub errors_injected: u64,
    /// Requests stalled by `Faults::stall_rate`.
    pub stalls_injected: u64,
    /// Streams cut by `Faults::disconnect_rate`.
    pub disconnects_injected: u64,
    /// Sequences holding a decoding slot right now.
    pub in_flight: usize,
    /// Sequences queued for a decoding slot right now.
    pub waiting: usize,
    /// The most sequences ever seen decoding at once; never above the configured capacity.
    pub max_concurrent: usize,
    /// KV-cache tokens held by the sequences decoding right now (prompt plus completion each).
    pub kv_tokens_in_use: u64,
    /// The most KV-cache tokens ever held at once; never above `SimConfig::kv_cache_tokens` when set.
    pub max_kv_tokens_in_use: u64,
    /// Prompt blocks found in the prefix cache when a sequence started.
    pub prefix_cache_hits: u64,
    /// Prompt blocks not found in the prefix cache (full blocks only; a prompt's tail is never cached).
    pub prefix_cache_misses: u64,
    /// Prompt tokens whose prefill the prefix cache saved.
    pub cached_prompt_tokens: u64,
    /// Prompt tokens of completed requests (chat, FIM, embeddings and rerank).
    pub prompt_tokens: u64,
    /// Completion tokens of completed requests.
    pub completion_tokens: u64,
    /// The `Authorization` header of the most recent request that had one, on any route.
    pub last_authorization: Option<String>,
    /// The JSON body of the most recent chat completion request that parsed as JSON.
    pub last_chat_request: Option<serde_json::Value>,
}

impl SimStats {
    /// Every request received, on any route.
    pub fn requests(&self) -> u64 {
        self.chat_requests
            + self.fim_requests
            + self.embeddings_requests
            + self.rerank_requests
            + self.models_requests
            + self.health_requests
    }
}

/// The live counters behind `SimStats`. Atomics, so the hot path never takes a lock for them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) chat_requests: AtomicU64,
    pub(crate) fim_requests: AtomicU64,
    pub(crate) embeddings_requests: AtomicU64,
    pub(crate) rerank_requests: AtomicU64,
    pub(crate) models_requests: AtomicU64,
    pub(crate) health_requests: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) errors_injected: AtomicU64,
    pub(crate) stalls_injected: AtomicU64,
    pub(crate) disconnects_injected: AtomicU64,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) waiting: AtomicUsize,
    pub(crate) max_concurrent: AtomicUsize,
    pub(crate) kv_tokens_in_use: AtomicU64,
    pub(crate) max_kv_tokens_in_use: AtomicU64,
    pub(crate) prefix_cache_hits: AtomicU64,
    pub(crate) prefix_cache_misses: AtomicU64,
    pub(crate) cached_prompt_tokens: AtomicU64,
    pub(crate) prompt_tokens: AtomicU64,
    pub(crate) completion_tokens: AtomicU64,
    // A `HeaderValue` clone shares the bytes hyper parsed, so recording it costs no allocation.
    last_authorization: Mutex<Option<HeaderValue>>,
    last_chat_request: Mutex<Option<serde_json::Value>>,
}

/// Adds one to a counter. Relaxed ordering: the counters are independent tallies, not a protocol.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> SimStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SimStats {
            chat_requests: load(&self.chat_requests),
            fim_requests: load(&self.fim_requests),
            embeddings_requests: load(&self.embeddings_requests),
            rerank_requests: load(&self.rerank_requests),
            models_requests: load(&self.models_requests),
            health_requests: load(&self.health_requests),
            completed: load(&self.completed),
            rejected: load(&self.rejected),
            errors_injected: load(&self.errors_injected),
            stalls_injected: load(&self.stalls_injected),
            disconnects_injected: load(&self.disconnects_injected),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            max_concurrent: self.max_concurrent.load(Ordering::Relaxed),
            kv_tokens_in_use: load(&self.kv_tokens_in_use),
            max_kv_tokens_in_use: load(&self.max_kv_tokens_in_use),
            prefix_cache_hits: load(&self.prefix_cache_hits),
            prefix_cache_misses: load(&self.prefix_cache_misses),
            cached_prompt_tokens: load(&self.cached_prompt_tokens),
            prompt_tokens: load(&self.prompt_tokens),
            completion_tokens: load(&self.completion_tokens),
            last_authorization: lock(&self.last_authorization)
                .as_ref()
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
            last_chat_request: lock(&self.last_chat_request).clone(),
        }
    }

    /// Records a request answered in full, with the tokens it was billed.
    pub(crate) fn complete(&self, prompt_tokens: u64, completion_tokens: u64) {
        bump(&self.completed);
        self.prompt_tokens
            .fetch_add(prompt_tokens, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(completion_tokens, Ordering::Relaxed);
    }

    pub(crate) fn record_authorization(&self, value: Option<&HeaderValue>) {
        if let Some(value) = value {
            *lock(&self.last_authorization) = Some(value.clone());
        }
    }

    pub(crate) fn record_chat_request(&self, body: serde_json::Value) {
        // The previous body is dropped after the lock is released, to keep the critical section short.
        let _previous = lock(&self.last_chat_request).replace(body);
    }
}

/// Locks a mutex, ignoring poisoning: the data are independent snapshots a panic cannot corrupt.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
