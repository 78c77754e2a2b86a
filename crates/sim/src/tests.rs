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
    assert_eq!(config.token_due(0), Duration::from_millis(20));
    assert_eq!(config.token_due(3), Duration::from_millis(50));
    for tokens_per_second in [0.0, f64::INFINITY, f64::NAN, -1.0] {
        let config = SimConfig {
            tokens_per_second,
            ..SimConfig::instant()
        };
        assert_eq!(config.token_interval(), None);
        assert_eq!(config.token_due(1000), Duration::ZERO);
    }
    // Absurdly slow rates saturate instead of overflowing.
    let slow = SimConfig {
        tokens_per_second: 1e-300,
        ..SimConfig::default()
    };
    assert!(slow.token_due(u64::MAX) > Duration::from_secs(1));
}
