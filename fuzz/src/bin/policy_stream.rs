//! The streaming halves of the data policies (`policy`), as the relay runs them on an answer that
//! arrives in pieces cut anywhere: the output guard and the restorer give, for any cuts of any
//! text, what they give for the whole text at once — the same redacted text and counts, the same
//! values put back — never a panic.
//!
//! Input: one byte saying how many cuts (0–7), that many bytes saying where (each a fraction of
//! the text's length), then the text (invalid UTF-8 replaced).

#![no_main]

use libfuzzer_sys::fuzz_target;
use policy::{
    ActionTable, Detector, InputAction, OutputAction, OutputGuard, OutputRules, PiiType,
    Pseudonyms, Restorer, TypeCounts, restore, rewrite,
};

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 8);
    if rest.len() < count {
        return;
    }
    let (cuts, body) = rest.split_at(count);
    let text = String::from_utf8_lossy(body);

    for action in [OutputAction::Redact, OutputAction::Flag] {
        let rules = OutputRules::new(every_type(action));
        let mut found = TypeCounts::default();
        let whole = rules.apply(&text, &mut found);
        let mut guard = OutputGuard::default();
        let mut streamed = String::new();
        for piece in pieces(&text, cuts) {
            streamed.push_str(&guard.push(&rules, piece));
        }
        streamed.push_str(&guard.finish(&rules));
        assert_eq!(streamed, whole, "{action:?}");
        assert_eq!(guard.found, found, "{action:?}");
    }

    // The answer of a model that saw the text pseudonymized, and the text itself, which may write
    // placeholders (whole, cut, unknown) of its own.
    let mut pseudonyms = Pseudonyms::default();
    let spans = Detector::all().scan(&text);
    let pseudonymize = every_type(InputAction::Pseudonymize);
    let answer = rewrite(&text, &spans, &pseudonymize, &mut pseudonyms);
    for answer in [answer.as_deref(), Some(&*text)].into_iter().flatten() {
        let mut restorer = Restorer::default();
        let mut streamed = String::new();
        for piece in pieces(answer, cuts) {
            streamed.push_str(&restorer.push(&pseudonyms, piece));
        }
        streamed.push_str(&restorer.finish());
        assert_eq!(streamed, restore(&pseudonyms, answer));
    }
});

fn every_type<A: Copy>(action: A) -> ActionTable<A> {
    PiiType::ALL
        .into_iter()
        .map(|kind| (kind, action))
        .collect()
}

/// `text` cut where `cuts` say (each byte a fraction of the length, moved to a character
/// boundary), in order.
fn pieces<'t>(text: &'t str, cuts: &[u8]) -> Vec<&'t str> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&cut| {
            let mut at = text.len() * usize::from(cut) / 255;
            while !text.is_char_boundary(at) {
                at += 1;
            }
            at
        })
        .collect();
    points.sort_unstable();
    let mut pieces = Vec::with_capacity(points.len() + 1);
    let mut from = 0;
    for at in points {
        pieces.push(&text[from..at]);
        from = at;
    }
    pieces.push(&text[from..]);
    pieces
}
