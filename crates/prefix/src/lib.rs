//! Prompt prefixes as chains of block hashes, and a bounded LRU set of them.
//!
//! Inference engines (vLLM's automatic prefix caching, SGLang's radix cache) keep the KV cache of
//! prompts they have seen, in fixed-size blocks of tokens, and skip the prefill of a new prompt's
//! leading blocks that are cached. Two places in Fabrique model that cache without a tokenizer:
//! the simulator (`sim`), to give a cached prompt a shorter time to first token, and routing, to send
//! a conversation's next turn to the endpoint that probably still holds its prefix. Both must cut a
//! prompt into the same blocks, so the cutting lives here, once.
//!
//! - [`prompt_blocks`] turns chat messages into [`BlockHash`]es, one per full block of
//!   [`BLOCK_BYTES`] bytes (about 64 tokens). Each hash covers its block *and everything before it*,
//!   so equal hashes at position `i` mean equal prefixes up to the end of block `i`.
//! - [`BlockLru`] is a set of block hashes bounded in size, evicting the least recently used, and
//!   within one prompt the tail before the head, so a cached prefix erodes from its end as a real
//!   engine's cache does.
//!
//! **Invariant:** no I/O, no dependency, no clock; the hashes are stable across processes and
//! versions of Rust (the hash is written out here rather than taken from `std`, whose algorithm may
//! change), because the simulator and the gateway may be different builds.

mod blocks;
mod lru;

pub use blocks::{BLOCK_BYTES, BlockHash, PromptBlocks, prompt_blocks};
pub use lru::BlockLru;

#[cfg(test)]
mod tests;
