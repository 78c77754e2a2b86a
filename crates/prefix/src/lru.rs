//! A bounded set of block hashes that forgets the least recently used first.

use std::collections::{BTreeMap, HashMap};

use crate::BlockHash;

/// At most `capacity` block hashes. Memory is bounded by the capacity (two map entries per block,
/// some 50 bytes), whatever is inserted.
///
/// Recency is a counter, not a clock, so behaviour is exact and needs no time source. A prompt's
/// blocks are touched tail first, so its head is the most recent and is evicted last: a cached
/// prefix shrinks from its end, and a match (which counts leading blocks) degrades gracefully
/// instead of vanishing when block 0 goes.
#[derive(Debug, Clone)]
pub struct BlockLru {
    capacity: usize,
    /// Block → the stamp of its last use.
    stamps: HashMap<BlockHash, u64>,
    /// Stamp → block, oldest first: the eviction order.
    by_age: BTreeMap<u64, BlockHash>,
    next_stamp: u64,
}

impl BlockLru {
    /// An empty set holding at most `capacity` blocks; zero holds nothing (the cache is off).
    pub fn new(capacity: usize) -> Self {
        BlockLru {
            capacity,
            stamps: HashMap::new(),
            by_age: BTreeMap::new(),
            next_stamp: 0,
        }
    }

    /// How many of `blocks`' leading blocks are held: the cached prefix, in blocks. Changes nothing.
    pub fn matched(&self, blocks: &[BlockHash]) -> usize {
        blocks
            .iter()
            .take_while(|block| self.stamps.contains_key(block))
            .count()
    }

    /// Records that a prompt of these blocks was just served: all become the most recent (the first
    /// block most of all), evicting the least recent beyond the capacity.
    pub fn insert_prompt(&mut self, blocks: &[BlockHash]) {
        if self.capacity == 0 {
            return;
        }
        // Only the last `capacity` positions can stay; inserting more would only churn.
        let keep = blocks.len().min(self.capacity);
        for &block in blocks[..keep].iter().rev() {
            self.touch(block);
        }
    }

    /// Looks the prompt up and records it: the matched prefix before this prompt was served.
    pub fn serve(&mut self, blocks: &[BlockHash]) -> usize {
        let matched = self.matched(blocks);
        self.insert_prompt(blocks);
        matched
    }

    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every block.
    pub fn clear(&mut self) {
        self.stamps.clear();
        self.by_age.clear();
    }

    fn touch(&mut self, block: BlockHash) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        if let Some(previous) = self.stamps.insert(block, stamp) {
            self.by_age.remove(&previous);
        }
        self.by_age.insert(stamp, block);
        while self.stamps.len() > self.capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.stamps.remove(&oldest);
        }
    }
}
