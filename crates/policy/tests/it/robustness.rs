//! Property-style robustness: scanning arbitrary text, alone or split into parts, never panics
//! and always keeps the span invariants; so does scanning adversarial runs of trigger characters.

use policy::Detector;

use crate::support::{Rng, assert_invariants};

/// Pieces biased toward what the detectors look at — digits, separators of every width, the
/// characters the normalized view folds or drops — so the random inputs reach deep paths.
const PIECES: &[&str] = &[
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", " ", " ", ".", "-", "+", "@", ":", "/", ",",
    "A", "F", "R", "B", "E", "f", "r", "x", "X", "_", "\u{a0}", "\u{202f}", "\u{2009}", "é",
    "\u{200b}", "\u{ad}", "\u{feff}", "０", "７", "＠", "Ｆ", "–", "\u{2011}", "٣", "𝟘", "ᵉ",
];

fn random_text(rng: &mut Rng, round: u64) -> String {
    let len = rng.below(120) as usize;
    if round.is_multiple_of(2) {
        (0..len).map(|_| *rng.pick(PIECES)).collect()
    } else {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[test]
fn arbitrary_input_never_panics_and_keeps_invariants() {
    let detector = Detector::all();
    let mut rng = Rng::new(7);
    for round in 0..20_000 {
        let text = random_text(&mut rng, round);
        let spans = detector.scan(&text);
        assert_invariants(&text, &spans);
    }
}

#[test]
fn arbitrary_texts_scanned_together_keep_invariants_and_their_own_spans() {
    let detector = Detector::all();
    let mut rng = Rng::new(8);
    for round in 0..5_000 {
        let text = random_text(&mut rng, round);
        // Cut at up to three character boundaries.
        let mut cuts: Vec<usize> = (0..rng.below(4))
            .map(|_| rng.below(text.len() as u64 + 1) as usize)
            .filter(|&cut| text.is_char_boundary(cut))
            .collect();
        cuts.sort_unstable();
        let mut parts = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([text.len()]) {
            parts.push(&text[from..cut]);
            from = cut;
        }
        let joined = detector.scan_joined(&parts);
        assert_invariants(&text, &joined);
        // Each part's own spans are found, or lie inside a longer span across parts.
        let mut offset = 0;
        for part in &parts {
            for span in detector.scan(part) {
                let (start, end) = (span.start + offset, span.end + offset);
                assert!(
                    joined.iter().any(|j| j.start <= start && end <= j.end)
                        || joined.iter().any(|j| j.start < end && start < j.end),
                    "{parts:?}: {span:?} lost"
                );
            }
            offset += part.len();
        }
    }
}

#[test]
fn adversarial_runs_stay_linear_and_sane() {
    let detector = Detector::all();
    for unit in [
        "@",
        ":",
        "a:",
        "1:",
        "::",
        "1.",
        "1 ",
        "+",
        "+33",
        "a@",
        "@a.",
        "FR76",
        "1\u{a0}",
        "ab",
        "0",
        "2A",
        "ff:",
        "\u{200b}",
        "1\u{200b}",
        "０",
        "fr 76 ",
        "＠a.",
        "1\u{2011}",
    ] {
        let text = unit.repeat(50_000);
        let spans = detector.scan(&text);
        assert_invariants(&text, &spans);
        // As many texts: every boundary is scanned in its own window.
        let parts = vec![unit; 1_000];
        let spans = detector.scan_joined(&parts);
        assert_invariants(&parts.concat(), &spans);
    }
}

#[test]
fn a_dotted_number_with_a_long_group_is_no_address_and_no_overflow() {
    // Found by the `policy_scan` fuzz target: the octets' values were summed before their
    // lengths were checked, and ten digits overflowed.
    let detector = Detector::all();
    for text in [
        format!("{}.2.3.4", "1".repeat(25)),
        format!("1.2.3.{}", "9".repeat(12)),
    ] {
        let spans = detector.scan(&text);
        assert_invariants(&text, &spans);
        assert!(
            spans.iter().all(|s| s.kind != policy::PiiType::Ipv4),
            "{spans:?}"
        );
    }
}
