//! The personal-data scanner and its rewriters (`policy`), as the inspect stage runs them on every
//! string of a request: any text, and the same text cut in two parts read as one, gives spans that
//! are sorted, apart and on character boundaries; redaction replaces exactly those spans, so a
//! detected value survives only where the text also holds it undetected; pseudonyms restore the
//! original text; the output rules redact and count the same; never a panic.
//!
//! Input: one byte choosing where the text is cut and which type a narrower detector keeps, then
//! the text (invalid UTF-8 replaced).

#![no_main]

use libfuzzer_sys::fuzz_target;
use policy::{
    ActionTable, Detector, InputAction, OutputAction, OutputRules, PiiType, Pseudonyms, Span,
    TypeCounts, redaction_marker, restore, rewrite, rewrite_joined,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let spans = Detector::all().scan(&text);
    assert_well_formed(&text, &spans);

    // Disabling a type never turns its values into another type.
    let kind = PiiType::ALL[usize::from(selector) % PiiType::ALL.len()];
    let narrow: Vec<Span> = spans.iter().copied().filter(|s| s.kind == kind).collect();
    assert_eq!(Detector::new(&[kind]).scan(&text), narrow);

    let redacted = redacted(&text, &spans);
    check_redaction(&text, &spans, &redacted);
    check_pseudonyms(&text, &spans);
    check_output_rules(&text, &spans, &redacted);
    check_joined(&text, selector);
    let _ = policy::suspected_injection(&text);
});

/// Spans sorted by start, never overlapping, within the text and on character boundaries.
fn assert_well_formed(text: &str, spans: &[Span]) {
    let mut end = 0;
    for span in spans {
        assert!(end <= span.start && span.start < span.end && span.end <= text.len());
        assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
        end = span.end;
    }
}

/// `text` with each span replaced by its marker: what redaction must give.
fn redacted(text: &str, spans: &[Span]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for span in spans {
        out.push_str(&text[copied..span.start]);
        out.push_str(&redaction_marker(span.kind));
        copied = span.end;
    }
    out.push_str(&text[copied..]);
    out
}

fn every_type<A: Copy>(action: A) -> ActionTable<A> {
    PiiType::ALL
        .into_iter()
        .map(|kind| (kind, action))
        .collect()
}

fn check_redaction(text: &str, spans: &[Span], expected: &str) {
    let mut pseudonyms = Pseudonyms::default();
    let out = rewrite(
        text,
        spans,
        &every_type(InputAction::Redact),
        &mut pseudonyms,
    );
    assert!(pseudonyms.is_empty(), "redaction keeps no value");
    let Some(out) = out else {
        assert!(spans.is_empty(), "a value was found but the text kept");
        return;
    };
    assert_eq!(out, expected);
    // Markers hold no value, so a value still in the output stands in the text outside every
    // span, where the detectors did not report it (`version 1.2.3.4`).
    let mut gaps = Vec::with_capacity(spans.len() + 1);
    let mut copied = 0;
    for span in spans {
        gaps.push(&text[copied..span.start]);
        copied = span.end;
    }
    gaps.push(&text[copied..]);
    for span in spans {
        let value = &text[span.start..span.end];
        if out.contains(value) {
            assert!(
                gaps.iter().any(|gap| gap.contains(value)),
                "{value:?} leaked"
            );
        }
    }
}

fn check_pseudonyms(text: &str, spans: &[Span]) {
    let mut pseudonyms = Pseudonyms::default();
    let out = rewrite(
        text,
        spans,
        &every_type(InputAction::Pseudonymize),
        &mut pseudonyms,
    );
    assert_eq!(out.is_none(), spans.is_empty());
    assert_eq!(pseudonyms.is_empty(), spans.is_empty());
    // A text that writes `[…]` itself may hold a placeholder's name, which restoring replaces.
    if let Some(out) = out
        && !text.contains('[')
    {
        assert_eq!(restore(&pseudonyms, &out), text);
    }
}

fn check_output_rules(text: &str, spans: &[Span], expected: &str) {
    let mut found = TypeCounts::default();
    let out = OutputRules::new(every_type(OutputAction::Redact)).apply(text, &mut found);
    assert_eq!(out, expected);
    let mut counted = TypeCounts::default();
    for span in spans {
        counted.add(span.kind);
    }
    assert_eq!(found, counted);
}

/// The text cut in two and read as one: well-formed spans of the whole, and a rewrite of the
/// parts that reads as the whole text redacted at those spans.
fn check_joined(text: &str, selector: u8) {
    let mut cut = text.len() * usize::from(selector) / 255;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    let parts = [&text[..cut], &text[cut..]];
    let spans = Detector::all().scan_joined(&parts);
    assert_well_formed(text, &spans);
    let mut rewritten = parts.map(str::to_owned);
    let mut pseudonyms = Pseudonyms::default();
    let redact = every_type(InputAction::Redact);
    for (index, new) in rewrite_joined(&parts, &spans, &redact, &mut pseudonyms) {
        rewritten[index] = new;
    }
    assert_eq!(rewritten.concat(), redacted(text, &spans));
}
