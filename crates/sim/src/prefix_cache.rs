//! The prefix cache: the prompt blocks whose KV the simulated GPU still holds, so a prompt that
//! starts like a recent one skips the prefill of the shared part, as with vLLM's automatic prefix
//! caching. Blocks are cut by the `prefix` crate, the same cutting routing uses for affinity.

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use prefix::{BLOCK_BYTES, BlockHash, BlockLru};

use crate::stats::Counters;

/// Prompt tokens per block, by the simulator's own counting (`text`: four characters per token).
pub(crate) const TOKENS_PER_BLOCK: u64 = BLOCK_BYTES as u64 / 4;

#[derive(Debug)]
pub(crate) struct PrefixCache {
    blocks: Mutex<BlockLru>,
}

impl PrefixCache {
    /// `None` when the configuration holds no blocks: no lock, no hashing on the request path.
    pub(crate) fn new(capacity_blocks: usize) -> Option<Self> {
        (capacity_blocks > 0).then(|| PrefixCache {
            blocks: Mutex::new(BlockLru::new(capacity_blocks)),
        })
    }

    /// A sequence starts with this prompt: counts the blocks found and missed, records the prompt
    /// as cached, and says how many of its `prompt_tokens` need no prefill.
    pub(crate) fn start(
        &self,
        blocks: &[BlockHash],
        prompt_tokens: u64,
        counters: &Counters,
    ) -> u64 {
        let matched = self
            .blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .serve(blocks);
        let hits = u64::try_from(matched).unwrap_or(u64::MAX);
        let misses = u64::try_from(blocks.len() - matched).unwrap_or(u64::MAX);
        let cached = hits.saturating_mul(TOKENS_PER_BLOCK).min(prompt_tokens);
        counters
            .prefix_cache_hits
            .fetch_add(hits, Ordering::Relaxed);
        counters
            .prefix_cache_misses
            .fetch_add(misses, Ordering::Relaxed);
        counters
            .cached_prompt_tokens
            .fetch_add(cached, Ordering::Relaxed);
        cached
    }
}
