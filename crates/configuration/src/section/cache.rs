//! Section `[cache]`: the gateway's response cache — which requests it answers from earlier
//! identical ones, how long an answer stays, and how much it holds.

use std::collections::HashSet;

use domain::ModelKind;
use serde::Deserialize;

use crate::error::Collector;
use crate::names::{Names, Resolved};
use crate::rules::{NameRule, at_least_one, name_problem};
use crate::section::models::ModelConfig;

/// Section `[cache]`: exact-match answers of chat, embedding and rerank requests, kept per entity.
///
/// ```toml
/// [cache]
/// models = ["mistral-embed"]        # every request to these models
/// use_cases = ["faq-assistant"]     # and every request of these use cases
/// ttl_secs = 300                    # an answer is served again for 5 minutes
/// max_entries = 10000               # answers held at once, the least recently used dropped first
/// max_entry_bytes = 1048576         # a larger answer is not kept
/// ```
///
/// Off unless a model or a use case is named. A request is answered from the cache only when an
/// earlier request of the same entity was the same to the byte once the data policy rewrote it
/// (its fields in any order): the answer is never shared between entities. A hit costs no GPU
/// tokens: its usage record says `cache_hit`, with no tokens and no cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Key `models`: names of `[[models]]` of kind `chat`, `embeddings` or `rerank` whose requests are
    /// cached. Default: none.
    pub models: Vec<String>,
    /// Key `use_cases`: use-case slugs (`x-fabrique-use-case`, or `usecase/<slug>`) whose
    /// requests are cached, whatever their model (FIM excepted). Default: none.
    pub use_cases: Vec<String>,
    /// Key `ttl_secs`: how long an answer is served again, at least 1. Default 300.
    pub ttl_secs: u64,
    /// Key `max_entries`: the answers held at once across entities, at least 1; past it the
    /// least recently used goes. Default 10,000.
    pub max_entries: usize,
    /// Key `max_entry_bytes`: the largest answer kept (a stream's events, whole), at least 1.
    /// Default 1 MiB.
    pub max_entry_bytes: usize,
}

impl CacheConfig {
    /// Whether any request is cached at all.
    pub fn is_enabled(&self) -> bool {
        !self.models.is_empty() || !self.use_cases.is_empty()
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            models: Vec::new(),
            use_cases: Vec::new(),
            ttl_secs: TTL_SECS,
            max_entries: MAX_ENTRIES,
            max_entry_bytes: MAX_ENTRY_BYTES,
        }
    }
}

/// As written; the keys are documented on [`CacheConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub use_cases: Vec<String>,
    pub ttl_secs: Option<u64>,
    pub max_entries: Option<u64>,
    pub max_entry_bytes: Option<u64>,
}

const TTL_SECS: u64 = 300;
const MAX_ENTRIES: usize = 10_000;
const MAX_ENTRY_BYTES: usize = 1024 * 1024;

pub(crate) fn validate(
    raw: RawCache,
    models: &[ModelConfig],
    model_names: &Names,
    errors: &mut Collector,
) -> CacheConfig {
    let mut seen = HashSet::new();
    for (index, model) in raw.models.iter().enumerate() {
        let key = format!("cache.models[{index}]");
        if !seen.insert(model) {
            errors.push(key, format!("model `{model}` is listed twice"));
            continue;
        }
        match model_names.resolve(model) {
            Resolved::Unknown => errors.push(key, format!("unknown model `{model}`")),
            Resolved::Unverifiable => {}
            Resolved::Found(position) => {
                if models.get(position).map(|m| m.kind) == Some(ModelKind::Fim) {
                    let message = format!(
                        "model `{model}` completes code (FIM): only chat, embedding and rerank answers \
                         are cached"
                    );
                    errors.push(key, message);
                }
            }
        }
    }
    let mut seen = HashSet::new();
    for (index, slug) in raw.use_cases.iter().enumerate() {
        let key = format!("cache.use_cases[{index}]");
        if let Some(problem) = name_problem(slug, NameRule::Slug) {
            errors.push(key, problem);
        } else if !seen.insert(slug) {
            errors.push(key, format!("use case `{slug}` is listed twice"));
        }
    }
    let ttl_secs = at_least_one(raw.ttl_secs, TTL_SECS, "cache.ttl_secs", errors);
    let entries = at_least_one(
        raw.max_entries,
        MAX_ENTRIES as u64,
        "cache.max_entries",
        errors,
    );
    let entry_bytes = at_least_one(
        raw.max_entry_bytes,
        MAX_ENTRY_BYTES as u64,
        "cache.max_entry_bytes",
        errors,
    );
    CacheConfig {
        models: raw.models,
        use_cases: raw.use_cases,
        ttl_secs,
        max_entries: usize::try_from(entries).unwrap_or(MAX_ENTRIES),
        max_entry_bytes: usize::try_from(entry_bytes).unwrap_or(MAX_ENTRY_BYTES),
    }
}
