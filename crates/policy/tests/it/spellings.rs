//! Values written the way people write and paste them (review finding M-6): any case, no-break
//! and thin spaces, dashes, invisible characters inside, full-width forms, a value split between
//! two parts of a message. Each case was missed before the detectors read a normalized view.

use policy::{ActionTable, Detector, InputAction, PiiType, Pseudonyms, rewrite_joined};

use crate::support::scan_pairs;

fn found(text: &str) -> Vec<(String, String)> {
    scan_pairs(&Detector::all(), text)
}

fn one(kind: &str, value: &str) -> Vec<(String, String)> {
    vec![(kind.to_owned(), value.to_owned())]
}

#[test]
fn ibans_in_any_case_and_grouping_are_found() {
    for value in [
        "fr7630006000011234567890189",
        "fr76 3000 6000 0112 3456 7890 189",
        "Fr76 3000 6000 0112 3456 7890 189",
        "FR76\u{a0}3000\u{a0}6000\u{a0}0112\u{a0}3456\u{a0}7890\u{a0}189",
        "FR76\u{202f}3000\u{202f}6000\u{202f}0112\u{202f}3456\u{202f}7890\u{202f}189",
        "FR76-3000-6000-0112-3456-7890-189",
        "FR76\u{2011}3000\u{2011}6000\u{2011}0112\u{2011}3456\u{2011}7890\u{2011}189",
        "FR 76 3000 6000 0112 3456 7890 189",
        "FR76 30006 00001 12345678901 89",
        "gb82 west 1234 5698 7654 32",
        "FR76 3000\u{200b}6000 0112 3456 7890 189",
        "FR76 3000 6000 0112 3456 78\u{ad}90 189",
    ] {
        assert_eq!(found(&format!("IBAN {value}, merci")), one("IBAN", value));
    }
}

#[test]
fn the_reviews_phone_and_email_spellings_are_found() {
    let text = "tel 06\u{200b}12 34 56 78, ada\u{ff20}example.com";
    assert_eq!(
        found(text),
        vec![
            ("PHONE_FR".to_owned(), "06\u{200b}12 34 56 78".to_owned()),
            ("EMAIL".to_owned(), "ada\u{ff20}example.com".to_owned()),
        ]
    );
    for value in [
        "０６ １２ ３４ ５６ ７８",
        "06\u{2009}12\u{2009}34\u{2009}56\u{2009}78",
        "06\u{2060}12\u{2060}34\u{2060}56\u{2060}78",
        "\u{ff0b}33 6 12 34 56 78",
        "0 800 123 456",
    ] {
        assert_eq!(found(&format!("Tél. : {value}.")), one("PHONE_FR", value));
    }
}

#[test]
fn other_types_read_through_invisible_and_full_width_characters() {
    assert_eq!(
        found("NIR 1 85 05 78 006 084 91"),
        one("NIR", "1 85 05 78 006 084 91")
    );
    assert_eq!(
        found("assuré 185052b00608462"),
        one("NIR", "185052b00608462")
    );
    assert_eq!(
        found("Carte 4970\u{200b}1012 3456 7893"),
        one("CREDIT_CARD", "4970\u{200b}1012 3456 7893")
    );
    assert_eq!(
        found("SIRET ７３２ ８２９ ３２０ ０００７４"),
        one("SIRET", "７３２ ８２９ ３２０ ０００７４")
    );
    assert_eq!(
        found("serveur １９２．１６８．０．１"),
        one("IPV4", "１９２．１６８．０．１")
    );
    assert_eq!(
        found("jean.du\u{200d}pont@exemple.fr"),
        one("EMAIL", "jean.du\u{200d}pont@exemple.fr")
    );
    // Arabic-Indic digits are digits too.
    assert_eq!(found("هاتف ٠٦١٢٣٤٥٦٧٨"), one("PHONE_FR", "٠٦١٢٣٤٥٦٧٨"));
}

#[test]
fn context_tells_versions_orders_and_amounts_from_personal_data() {
    for text in [
        "version 10.2.33.4",
        "Mise à jour vers la version 10.2.33.4 samedi",
        "release 4.2.0.1 publiée",
        "v 10.2.33.4",
        "Testé avec 10.2.33.4-beta.",
        "Commande n° 732829320 expédiée",
        "Facture 4970101234567893 réglée",
        "colis 73282932000074 livré",
        "Montant : 732 829 320 €",
        "Capital de 732.829.320 EUR",
    ] {
        assert_eq!(found(text), vec![], "{text:?}");
    }
    assert_eq!(found("serveur 10.2.33.4"), one("IPV4", "10.2.33.4"));
    assert_eq!(
        found("commande payée par carte 4970 1012 3456 7893"),
        one("CREDIT_CARD", "4970 1012 3456 7893")
    );
    assert_eq!(
        found("SIRET du client : 732 829 320 00074"),
        one("SIRET", "732 829 320 00074")
    );
}

#[test]
fn a_siret_that_is_also_a_diners_number_is_what_the_text_calls_it() {
    // 36 + a Luhn-valid SIREN + a Luhn-valid whole: both a SIRET and a 14-digit Diners number.
    let number = "36000000400000";
    assert_eq!(found(&format!("SIRET {number}")), one("SIRET", number));
    assert_eq!(found(&format!("société {number}")), one("SIRET", number));
    assert_eq!(
        found(&format!("carte Diners {number}")),
        one("CREDIT_CARD", number)
    );
    // Its SIREN fails Luhn: the Diners test number is a card only.
    assert_eq!(
        found("n° 30569309025904"),
        one("CREDIT_CARD", "30569309025904")
    );
    assert_eq!(found("SIRET 305 693 090 25904"), vec![]);
}

#[test]
fn a_value_split_between_parts_is_found_across_them() {
    let detector = Detector::all();
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["IBAN FR7630006000", "011234567890189 merci"],
            "IBAN",
            "FR7630006000011234567890189",
        ),
        (
            &["appelez le 06 12 34", " 56 78"],
            "PHONE_FR",
            "06 12 34 56 78",
        ),
        (
            &["écrire à jean.dupont@exa", "mple.fr"],
            "EMAIL",
            "jean.dupont@example.fr",
        ),
        (
            &["FR76 3000 ", "6000 ", "0112 3456 7890 189"],
            "IBAN",
            "FR76 3000 6000 0112 3456 7890 189",
        ),
        (
            &["", "carte 4970 10", "", "12 3456 7893"],
            "CREDIT_CARD",
            "4970 1012 3456 7893",
        ),
    ];
    for (texts, kind, value) in cases {
        let joined = texts.concat();
        let spans = detector.scan_joined(texts);
        let pairs: Vec<(String, String)> = spans
            .iter()
            .map(|s| {
                (
                    s.kind.as_str().to_owned(),
                    joined[s.start..s.end].to_owned(),
                )
            })
            .collect();
        assert_eq!(pairs, one(kind, value), "{texts:?}");
    }
    // Each text's own values stay found, and a phone that the next part would lengthen stays
    // the phone of its own part.
    let texts = ["tél 06 12 34 56 78", "90 minutes, jean@exemple.fr"];
    let spans = detector.scan_joined(&texts);
    let joined = texts.concat();
    let values: Vec<&str> = spans.iter().map(|s| &joined[s.start..s.end]).collect();
    assert_eq!(values, ["06 12 34 56 78", "jean@exemple.fr"]);
}

#[test]
fn a_split_value_is_rewritten_in_the_part_where_it_starts() {
    let texts = [
        "Virez sur FR7630006000",
        "011234567890189 et écrivez à ",
        "jean@exemple.fr",
    ];
    let spans = Detector::all().scan_joined(&texts);
    let actions: ActionTable<InputAction> = [
        (PiiType::Iban, InputAction::Pseudonymize),
        (PiiType::Email, InputAction::Redact),
    ]
    .into_iter()
    .collect();
    let mut pseudonyms = Pseudonyms::default();
    let changed = rewrite_joined(&texts, &spans, &actions, &mut pseudonyms);
    assert_eq!(
        changed,
        [
            (0, "Virez sur [IBAN_1]".to_owned()),
            (1, " et écrivez à ".to_owned()),
            (2, "[REDACTED_EMAIL]".to_owned()),
        ]
    );
    assert_eq!(
        pseudonyms.original("[IBAN_1]"),
        Some("FR7630006000011234567890189")
    );
}

#[test]
fn invisible_characters_around_a_value_stay_outside_its_span() {
    let text = "IBAN \u{200b}FR7630006000011234567890189\u{200b}.";
    let spans = Detector::all().scan(text);
    assert_eq!(spans.len(), 1);
    assert_eq!(
        &text[spans[0].start..spans[0].end],
        "FR7630006000011234567890189"
    );
}
