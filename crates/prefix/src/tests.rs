//! Prompt blocks: which text is hashed, what a follow-up shares, and the block cache.

use crate::{BLOCK_BYTES, BlockLru, PromptBlocks, prompt_blocks};

fn long_text(seed: char, bytes: usize) -> String {
    std::iter::repeat_n(seed, bytes).collect()
}

#[test]
fn only_full_blocks_are_hashed_and_hashes_are_stable() {
    let short = prompt_blocks([("user", "hello")]);
    assert!(short.is_empty());
    let text = long_text('a', 3 * BLOCK_BYTES);
    let blocks = prompt_blocks([("user", text.as_str())]);
    // "user" + separator + text + terminator = 3 blocks and 6 bytes.
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks, prompt_blocks([("user", text.as_str())]));
    // Fixed across builds: the simulator and the gateway may be different binaries.
    let mut fixed = PromptBlocks::new();
    fixed.text(&long_text('x', BLOCK_BYTES));
    assert_eq!(fixed.finish(), vec![0xe1a8_69b2_43f5_fb3c]);
}

#[test]
fn a_follow_up_shares_the_prefix_blocks_of_its_conversation() {
    let system = long_text('s', 2 * BLOCK_BYTES);
    let first = prompt_blocks([("system", system.as_str()), ("user", "question one")]);
    let follow_up = prompt_blocks([
        ("system", system.as_str()),
        ("user", "question one"),
        ("assistant", long_text('r', BLOCK_BYTES).as_str()),
        ("user", "question two"),
    ]);
    assert!(follow_up.len() > first.len());
    assert_eq!(follow_up[..first.len()], first[..]);
    // A different role at the start changes every block: each hash covers its whole prefix.
    let other = prompt_blocks([("user", system.as_str()), ("user", "question one")]);
    assert!(other.iter().zip(&first).all(|(a, b)| a != b));
}

#[test]
fn moving_text_between_messages_changes_the_blocks() {
    let text = long_text('t', BLOCK_BYTES);
    let one = prompt_blocks([("user", text.as_str()), ("user", "")]);
    let two = prompt_blocks([("user", ""), ("user", text.as_str())]);
    assert_ne!(one, two);
}

#[test]
fn the_lru_matches_leading_blocks_and_stays_within_capacity() {
    let mut lru = BlockLru::new(4);
    assert_eq!(lru.serve(&[1, 2, 3]), 0);
    assert_eq!(lru.matched(&[1, 2, 3, 4]), 3);
    // Leading blocks only: a gap ends the match.
    assert_eq!(lru.matched(&[9, 2, 3]), 0);
    lru.insert_prompt(&[5, 6, 7]);
    assert_eq!(lru.len(), 4);
    // The newest prompt is whole; the older one lost its tail first, keeping its head.
    assert_eq!(lru.matched(&[5, 6, 7]), 3);
    assert_eq!(lru.matched(&[1, 2, 3]), 1);
    for block in 100..1000 {
        lru.insert_prompt(&[block]);
    }
    assert_eq!(lru.len(), 4);
}

#[test]
fn a_zero_capacity_lru_holds_nothing() {
    let mut lru = BlockLru::new(0);
    assert_eq!(lru.serve(&[1, 2]), 0);
    assert_eq!(lru.serve(&[1, 2]), 0);
    assert!(lru.is_empty());
}

#[test]
fn a_salt_gives_the_same_prompt_other_blocks() {
    let text = long_text('a', 2 * BLOCK_BYTES);
    let blocks = |salt: &[u8]| {
        let mut blocks = PromptBlocks::salted(salt);
        blocks.message("user", &text);
        blocks.finish()
    };
    let (acme, beta) = (blocks(b"acme"), blocks(b"beta"));
    assert_eq!(acme.len(), 2);
    assert_eq!(
        acme,
        blocks(b"acme"),
        "one salt, one prompt: the same blocks"
    );
    assert!(acme.iter().all(|block| !beta.contains(block)));
    let unsalted = prompt_blocks([("user", text.as_str())]);
    assert!(acme.iter().all(|block| !unsalted.contains(block)));
}
