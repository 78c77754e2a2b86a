//! Spans are UTF-8 byte offsets: after multibyte characters they differ from character counts.

use policy::{Detector, PiiType, Span};

#[test]
fn offsets_are_bytes_after_multibyte_characters() {
    // "é" is 2 bytes, "€" is 3, the no-break space 2.
    let text =
        "Réglé 12€ à andré@société.fr\u{a0}: FR76 3000 6000 0112 3456 7890 189 — +33 6 12 34 56 78";
    let spans = Detector::all().scan(text);
    let email_start = text.find("andré").unwrap();
    let iban_start = text.find("FR76").unwrap();
    let phone_start = text.find("+33").unwrap();
    assert_eq!(
        email_start, 17,
        "17 bytes but 13 characters precede the address"
    );
    assert_eq!(
        spans,
        vec![
            Span {
                start: email_start,
                end: email_start + "andré@société.fr".len(),
                kind: PiiType::Email,
            },
            Span {
                start: iban_start,
                end: iban_start + 33,
                kind: PiiType::Iban,
            },
            Span {
                start: phone_start,
                end: text.len(),
                kind: PiiType::PhoneFr,
            },
        ]
    );
    assert_eq!(&text[spans[0].start..spans[0].end], "andré@société.fr");
    assert!(text.len() > text.chars().count());
}

#[test]
fn no_break_spaces_group_numbers() {
    let text = "SIRET\u{a0}732\u{a0}829\u{a0}320\u{a0}00074 ; tél.\u{202f}06\u{202f}12\u{202f}34\u{202f}56\u{202f}78";
    let found: Vec<(PiiType, &str)> = Detector::all()
        .scan(text)
        .iter()
        .map(|span| (span.kind, &text[span.start..span.end]))
        .collect();
    assert_eq!(
        found,
        vec![
            (PiiType::Siret, "732\u{a0}829\u{a0}320\u{a0}00074"),
            (
                PiiType::PhoneFr,
                "06\u{202f}12\u{202f}34\u{202f}56\u{202f}78"
            ),
        ]
    );
}
