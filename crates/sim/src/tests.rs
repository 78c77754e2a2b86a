//! Unit tests of the pure parts: token counting, text generation, vectors, pacing.

use std::time::Duration;

use crate::config::SimConfig;
use crate::embeddings::unit_vector;
use crate::text::{SIMULATED_MARK, VOCABULARY, Words, approximate_tokens, message_tokens};

#[test]
fn approximate_tokens_is_ceil_of_chars_over_four() {
    assert_eq!(approximate_tokens(""), 0);
    assert_eq!(approximate_tokens("abc"), 1);
    assert_eq!(approximate_tokens("abcd"), 1);
    assert_eq!(approximate_tokens("abcde"), 2);
    // Characters, not bytes: four two-byte letters are one token.
    assert_eq!(approximate_tokens("éééé"), 1);
    assert_eq!(message_tokens("abcde"), 5);
}

#[test]
fn vocabulary_needs_no_json_escaping() {
    // The stream writer copies words into JSON strings as they are.
    for word in VOCABULARY {
        assert!(
            !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()),
            "{word:?}"
        );
    }
}

#[test]
fn text_is_deterministic_marked_and_has_one_word_per_token() {
    let text = Words::new(42, 0).text(10);
    assert_eq!(text, Words::new(42, 0).text(10));
    assert!(text.starts_with("[simulated] "));
    assert_eq!(text.split_whitespace().count(), 10);
    // A longer completion extends the shorter one.
    assert!(Words::new(42, 0).text(20).starts_with(&text));
    assert_ne!(text, Words::new(43, 0).text(10));
    assert_ne!(text, Words::new(42, 1).text(10));
    assert_eq!(Words::new(1, 0).text(1), SIMULATED_MARK);
}

#[test]
fn vectors_are_unit_length_and_deterministic() {
    let vector = unit_vector(7, 1024);
    assert_eq!(vector.len(), 1024);
    let norm: f64 = vector
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    assert_eq!(vector, unit_vector(7, 1024));
    assert_ne!(vector, unit_vector(8, 1024));
}

#[test]
fn pacing_follows_ttft_and_rate() {
    let config = SimConfig {
        ttft: Duration::from_millis(20),
        tokens_per_second: 100.0,
        ..SimConfig::default()
    };
    assert_eq!(
        config.token_due_after(config.ttft, 0),
        Duration::from_millis(20)
    );
    assert_eq!(
        config.token_due_after(config.ttft, 3),
        Duration::from_millis(50)
    );
    for tokens_per_second in [0.0, f64::INFINITY, f64::NAN, -1.0] {
        let config = SimConfig {
            tokens_per_second,
            ..SimConfig::instant()
        };
        assert_eq!(config.token_interval(), None);
        assert_eq!(config.token_due_after(config.ttft, 1000), Duration::ZERO);
    }
    // Absurdly slow rates saturate instead of overflowing.
    let slow = SimConfig {
        tokens_per_second: 1e-300,
        ..SimConfig::default()
    };
    assert!(slow.token_due_after(slow.ttft, u64::MAX) > Duration::from_secs(1));
}

#[test]
fn a_fuller_batch_decodes_each_sequence_slower() {
    let config = SimConfig {
        tokens_per_second: 100.0,
        batch_slowdown: 0.5,
        ..SimConfig::default()
    };
    assert!(config.batch_slows_decoding());
    let ms = |batch| config.token_interval_in_batch(batch).unwrap().as_millis();
    // 10 ms × (1 + 0.5 × (batch − 1)).
    assert_eq!((ms(0), ms(1), ms(2), ms(5)), (10, 10, 15, 30));
    // The default keeps the pace whatever the batch, and no pace stays no pace.
    let neutral = SimConfig::default();
    assert!(!neutral.batch_slows_decoding());
    assert_eq!(
        neutral.token_interval_in_batch(64),
        neutral.token_interval()
    );
    let instant = SimConfig {
        batch_slowdown: 1.0,
        ..SimConfig::instant()
    };
    assert!(!instant.batch_slows_decoding());
    assert_eq!(instant.token_interval_in_batch(8), None);
}

#[test]
fn prefill_grows_with_the_uncached_prompt_only_when_a_prefill_speed_is_set() {
    let config = SimConfig {
        ttft: Duration::from_millis(20),
        prefill_tokens_per_second: 1000.0,
        ..SimConfig::default()
    };
    assert_eq!(config.prefill(0), Duration::from_millis(20));
    assert_eq!(config.prefill(500), Duration::from_millis(520));
    let default = SimConfig::default();
    assert_eq!(default.prefill(100_000), default.ttft);
}
