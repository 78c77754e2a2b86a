//! The GPU-backend simulator: an OpenAI-compatible server with realistic queueing, timing and faults.
//!
//! It stands in for a vLLM-like inference server wherever a real GPU is not wanted: as the
//! `fabrique sim` subcommand, as the default backend of a fresh install (embedded in-process), and as
//! the upstream of the gateway's tests and benchmarks. It serves
//!
//! - `POST /v1/chat/completions`, plain and streamed (with `stream_options.include_usage`);
//! - `POST /v1/fim/completions`, Mistral's fill-in-the-middle, shaped like a chat completion;
//! - `POST /v1/embeddings`, deterministic unit vectors, as float arrays or base64 little-endian f32;
//! - `POST /v1/rerank`, documents scored by the share of the query's words they hold (and `/rerank`
//!   in Hugging Face's shape);
//! - `GET /v1/models` (and `/v1/models/{id}`), `GET /health`.
//!
//! As another engine's flavour (`flavour`), it serves that engine's routes instead, and only them:
//! its FIM in its own format (`text_completion`, `infill`, `generate`), its health probe.
//!
//! Every request for any model name is served, the name echoed back. At most `capacity` sequences
//! decode at once and the rest wait in FIFO order; each waits `ttft` after getting its slot, then
//! emits tokens at `tokens_per_second`. Optionally, as a GPU does: decoding slows as the batch
//! fills (`batch_slowdown`), sequences wait for room in a KV cache of `kv_cache_tokens`, and a
//! prefix cache of `prefix_cache_blocks` spares the prefill (`prefill_tokens_per_second`) of a
//! prompt's leading blocks seen recently. Completions are deterministic text starting with
//! `[simulated]`, and `usage` always matches what was emitted; see `text` for how tokens are
//! counted. Faults (errors, stalls, cut streams) are injected at the rates `Faults` gives and can be
//! changed while running. Nothing here panics on any input: every bad request is a 400 in OpenAI's
//! error shape.
//!
//! Reading order: `config` (what can be tuned), `Simulator` below (the routes), then one module per
//! route (`chat`, `fim`, `embeddings`, `rerank`, `models`, and the flavours' `text_completion`, `infill`,
//! `generate`), the shared `completion` engine, and `server`.
//!
//! # The GPU model
//!
//! Its GPU model (`capacity.rs`, `prefix_cache.rs`, `config.rs`; every knob off by default, so the
//! default behaviour is unchanged):
//! - **Batch slots**: at most `capacity` sequences decode at once, the rest wait FIFO.
//! - **Batch-dependent decode pace**: time per output token `= 1/tokens_per_second × (1 + α·(batch−1))`
//!   (`batch_slowdown` = α), `batch` being the sequences decoding at that moment, re-read for every frame
//!   of tokens (streams) or every 64 tokens (whole answers).
//! - **KV cache** (`kv_cache_tokens`): a request holds prompt + `n` × completion tokens while it runs,
//!   reserved (FIFO) before its batch slot; larger than the cache → the whole cache.
//! - **Prefix cache** (`prefix_cache_blocks`): a `prefix::BlockLru` of the prompts' block hashes; when a
//!   sequence starts, its leading cached blocks count as hits, the rest as misses, and the time to first
//!   token is `ttft + uncached prompt tokens ÷ prefill_tokens_per_second` (64 tokens per cached block,
//!   at most the prompt).
//! - `SimStats` reports `in_flight` (the batch), `max_concurrent`, `kv_tokens_in_use`,
//!   `max_kv_tokens_in_use`, `prefix_cache_hits`, `prefix_cache_misses` (blocks) and
//!   `cached_prompt_tokens`; `fabrique sim` has a flag per knob. The simulator has no `/metrics`
//!   endpoint; the stats are read in-process.

mod capacity;
mod chat;
mod completion;
mod config;
mod embeddings;
mod error;
mod faults;
mod fim;
mod flavour;
mod generate;
mod infill;
mod models;
mod prefix_cache;
mod rerank;
mod server;
mod stats;
mod text;
mod text_completion;

#[cfg(test)]
mod tests;

pub use config::{
    Faults, MAX_CHOICES, MAX_COMPLETION_TOKENS, MAX_EMBEDDING_DIMENSIONS, ScriptLine, SimConfig,
};
pub use flavour::Flavour;
pub use server::{RunningSim, serve, spawn};
pub use stats::SimStats;
pub use text::{SIMULATED_MARK, approximate_tokens};

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use serde::de::DeserializeOwned;
use wire::validate::Endpoint;

use crate::capacity::Slots;
use crate::completion::Plan;
use crate::error::SimError;
use crate::prefix_cache::PrefixCache;
use crate::stats::{Counters, bump};

/// A simulated backend. Cheap to clone: every clone shares the same slots, counters and faults.
#[derive(Debug, Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: SimConfig,
    /// The faults in force; `config.faults` is only their initial value.
    faults: Mutex<Faults>,
    slots: Slots,
    /// `None` when `config.prefix_cache_blocks` is zero.
    prefix_cache: Option<PrefixCache>,
    counters: Arc<Counters>,
    /// Makes injected errors alternate between 500 and 503.
    error_alternation: AtomicU64,
    /// The `created` time of the model cards: when this simulator started, in Unix seconds.
    started_at: u64,
}

/// Request bodies larger than this are refused. Generous, because benchmarks send long prompts and
/// large embedding batches, and a real engine accepts them too.
const BODY_LIMIT_BYTES: usize = 64 * 1024 * 1024;

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let counters = Arc::new(Counters::default());
        let slots = Slots::new(
            config.capacity,
            config.kv_cache_tokens,
            Arc::clone(&counters),
        );
        let prefix_cache = PrefixCache::new(config.prefix_cache_blocks);
        let faults = Mutex::new(config.faults);
        Simulator {
            inner: Arc::new(Inner {
                config,
                faults,
                slots,
                prefix_cache,
                counters,
                error_alternation: AtomicU64::new(0),
                started_at: unix_seconds(),
            }),
        }
    }

    /// Every route of the simulator, ready to serve (see `serve` for a server with TCP_NODELAY).
    pub fn router(&self) -> Router {
        self.config()
            .flavour
            .routes()
            .fallback(models::not_found)
            .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
            .with_state(self.clone())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        self.inner.counters.snapshot()
    }

    /// Replaces the faults in force; requests already past their entry keep the fate they drew.
    pub fn set_faults(&self, faults: Faults) {
        *self
            .inner
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        *self
            .inner
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The configuration this simulator was built with (its `faults` are the initial ones).
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub(crate) fn slots(&self) -> &Slots {
        &self.inner.slots
    }

    /// Whether prompts must be cut into blocks for the prefix cache.
    pub(crate) fn caches_prefixes(&self) -> bool {
        self.inner.prefix_cache.is_some()
    }

    /// Sequences decoding right now: the batch whose size slows decoding.
    pub(crate) fn batch(&self) -> usize {
        self.inner
            .counters
            .in_flight
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A sequence of `plan` got its slot: the time its prefill takes, after the prefix cache.
    pub(crate) fn prefill(&self, plan: &Plan) -> std::time::Duration {
        let cached = match &self.inner.prefix_cache {
            Some(cache) => cache.start(&plan.blocks, plan.prompt_tokens, self.counters()),
            None => 0,
        };
        self.config()
            .prefill(plan.prompt_tokens.saturating_sub(cached))
    }

    pub(crate) fn started_at(&self) -> u64 {
        self.inner.started_at
    }

    /// The entry of every inference request: count it on its route, note its credential, and play
    /// out the fault it draws, if any.
    pub(crate) async fn admit(
        &self,
        route: &AtomicU64,
        headers: &HeaderMap,
    ) -> Result<(), SimError> {
        self.note(route, headers);
        let faults = self.faults();
        let entry = faults::on_entry(&faults, self.counters(), &self.inner.error_alternation);
        faults::apply(entry, &faults).await
    }

    /// Counts a request on its route and notes its credential.
    pub(crate) fn note(&self, route: &AtomicU64, headers: &HeaderMap) {
        bump(route);
        self.counters()
            .record_authorization(headers.get(AUTHORIZATION));
    }

    /// Turns a handler's outcome into the HTTP answer, counting refusals.
    pub(crate) fn answer(&self, outcome: Result<Response, SimError>) -> Response {
        match outcome {
            Ok(response) => response,
            Err(error) => {
                if matches!(error, SimError::InvalidRequest { .. }) {
                    bump(&self.counters().rejected);
                }
                error.into_response()
            }
        }
    }
}

/// Reads a JSON request body into `T`, or says why not in a 400.
/// Reads a request for `endpoint`, refused as vLLM refuses it: malformed JSON, and a known field
/// out of type or range (`wire::validate`, the checks the gateway makes too).
pub(crate) fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    endpoint: Endpoint,
) -> Result<T, SimError> {
    let bytes = read_body(body)?;
    check_body(&bytes, endpoint)?;
    serde_json::from_slice(&bytes).map_err(invalid_json)
}

/// Reads a request body of a flavour's own format (`text_completion`, `infill`, `generate`),
/// which `wire::validate` does not describe: its fields are read by serde alone.
pub(crate) fn parse_engine_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, SimError> {
    serde_json::from_slice(&read_body(body)?).map_err(invalid_json)
}

/// Checks a request's known fields for type and range (`wire::validate`).
pub(crate) fn check_body(bytes: &[u8], endpoint: Endpoint) -> Result<(), SimError> {
    let object = wire::object::RawObject::parse(bytes).map_err(invalid_json)?;
    wire::validate::check(endpoint, &object)?;
    Ok(())
}

pub(crate) fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, SimError> {
    body.map_err(|rejection| {
        SimError::invalid(
            format!("could not read the request body: {rejection}"),
            None,
        )
    })
}

pub(crate) fn invalid_json(error: serde_json::Error) -> SimError {
    SimError::invalid(format!("invalid request body: {error}"), None)
}

/// Now, in Unix seconds, for `created` fields.
pub(crate) fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
