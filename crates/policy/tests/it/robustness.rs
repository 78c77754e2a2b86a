//! Property-style robustness: scanning arbitrary bytes (made UTF-8 lossily) never panics and
//! always keeps the span invariants; so does scanning adversarial runs of trigger characters.

use policy::Detector;

use crate::support::{Rng, assert_invariants};

/// Bytes biased toward what the detectors look at, so the random inputs reach deep paths.
const ALPHABET: &[u8] = b"0123456789  .-+@:/,AFRBEfr2xX_\xC2\xA0\xE2\x80\xAF\xC3\xA9\xFF";

#[test]
fn arbitrary_input_never_panics_and_keeps_invariants() {
    let detector = Detector::all();
    let mut rng = Rng::new(7);
    for round in 0..20_000 {
        let len = rng.below(120) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if round % 2 == 0 {
                    *rng.pick(ALPHABET)
                } else {
                    rng.next_u64() as u8
                }
            })
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let spans = detector.scan(&text);
        assert_invariants(&text, &spans);
    }
}

#[test]
fn adversarial_runs_stay_linear_and_sane() {
    let detector = Detector::all();
    for unit in [
        "@", ":", "a:", "1:", "::", "1.", "1 ", "+", "+33", "a@", "@a.", "FR76", "1\u{a0}", "ab",
        "0", "2A", "ff:",
    ] {
        let text = unit.repeat(50_000);
        let spans = detector.scan(&text);
        assert_invariants(&text, &spans);
    }
}
