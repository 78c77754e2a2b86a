//! Generated identifiers: valid values built with check digits computed by this file's helpers
//! (not the crate's), in every supported layout, must be found exactly; the same values with one
//! character changed must produce no span.

use policy::Detector;

use crate::support::{Rng, iban_check_digits, in_fours, luhn_check_digit, mod97, scan_pairs};

const ROUNDS: u64 = 300;

const CONTEXTS: [(&str, &str); 6] = [
    ("Le numéro ", " a été transmis au service contentieux."),
    ("Numéro : ", "."),
    ("(", ")"),
    ("", ""),
    ("Merci de vérifier « ", " » avant signature."),
    ("Valeur\u{a0}: ", ", à confirmer le 12/03/2024."),
];

fn embed(rng: &mut Rng, value: &str) -> String {
    let (before, after) = rng.pick(&CONTEXTS);
    format!("{before}{value}{after}")
}

fn expect_found(detector: &Detector, text: &str, kind: &str, value: &str) {
    let found = scan_pairs(detector, text);
    assert_eq!(
        found,
        vec![(kind.to_owned(), value.to_owned())],
        "in {text:?}"
    );
}

fn expect_nothing(detector: &Detector, text: &str) {
    let found = scan_pairs(detector, text);
    assert!(found.is_empty(), "in {text:?}: {found:?}");
}

/// Changes the character at byte `index` (a digit) to another digit.
fn change_digit(value: &str, index: usize, by: u8) -> String {
    let mut bytes = value.as_bytes().to_vec();
    let digit = bytes[index] - b'0';
    bytes[index] = b'0' + (digit + by) % 10;
    String::from_utf8(bytes).unwrap()
}

fn last_digit_index(value: &str) -> usize {
    value.rfind(|c: char| c.is_ascii_digit()).unwrap()
}

fn siren(rng: &mut Rng) -> String {
    let body = format!("{}{}", 1 + rng.below(9), rng.digits(7));
    format!("{body}{}", luhn_check_digit(&body))
}

#[test]
fn generated_sirens_are_found_and_their_near_misses_are_not() {
    let detector = Detector::all();
    let mut rng = Rng::new(1);
    for _ in 0..ROUNDS {
        let solid = siren(&mut rng);
        let value = match rng.below(3) {
            0 => solid.clone(),
            1 => format!("{} {} {}", &solid[..3], &solid[3..6], &solid[6..]),
            _ => format!("{}.{}.{}", &solid[..3], &solid[3..6], &solid[6..]),
        };
        expect_found(&detector, &embed(&mut rng, &value), "SIREN", &value);
        let wrong = change_digit(&value, last_digit_index(&value), 1 + rng.below(9) as u8);
        expect_nothing(&detector, &embed(&mut rng, &wrong));
    }
}

#[test]
fn generated_sirets_are_found_and_their_near_misses_are_not() {
    let detector = Detector::all();
    let mut rng = Rng::new(2);
    for _ in 0..ROUNDS {
        let body = format!("{}{}", siren(&mut rng), rng.digits(4));
        let solid = format!("{body}{}", luhn_check_digit(&body));
        let value = match rng.below(3) {
            0 => solid.clone(),
            1 => format!(
                "{} {} {} {}",
                &solid[..3],
                &solid[3..6],
                &solid[6..9],
                &solid[9..]
            ),
            _ => format!("{} {}", &solid[..9], &solid[9..]),
        };
        // Also when it is a 14-digit Diners Club number: no word before it speaks of a card.
        expect_found(&detector, &embed(&mut rng, &value), "SIRET", &value);
        let wrong = change_digit(&value, last_digit_index(&value), 1 + rng.below(9) as u8);
        // The SIREN inside a wrong SIRET is still a SIREN when written apart from it
        // (`732829320 00075`); grouped or solid, it is part of the longer token.
        let found = scan_pairs(&detector, &embed(&mut rng, &wrong));
        let siren_apart = vec![("SIREN".to_owned(), wrong[..9].to_owned())];
        assert!(
            found.is_empty() || (value.len() == 15 && found == siren_apart),
            "{wrong:?}: {found:?}"
        );
    }
}

#[test]
fn generated_cards_are_found_and_their_near_misses_are_not() {
    let detector = Detector::all();
    let mut rng = Rng::new(3);
    for _ in 0..ROUNDS {
        let (prefix, len) = *rng.pick(&[
            ("4", 16),
            ("4", 13),
            ("51", 16),
            ("55", 16),
            ("2221", 16),
            ("34", 15),
            ("37", 15),
            ("6011", 16),
            ("62", 19),
        ]);
        let body = format!("{prefix}{}", rng.digits(len - 1 - prefix.len()));
        let solid = format!("{body}{}", luhn_check_digit(&body));
        let value = match (rng.below(3), len) {
            (0, _) => solid.clone(),
            (_, 15) => format!("{} {} {}", &solid[..4], &solid[4..10], &solid[10..]),
            (1, _) => in_fours(&solid),
            _ => in_fours(&solid).replace(' ', "-"),
        };
        expect_found(&detector, &embed(&mut rng, &value), "CREDIT_CARD", &value);
        let wrong = change_digit(&value, last_digit_index(&value), 1 + rng.below(9) as u8);
        expect_nothing(&detector, &embed(&mut rng, &wrong));
    }
}

/// A NIR with its key, computed here: Corsica's 2A and 2B count as 19 and 18.
fn nir(rng: &mut Rng) -> String {
    let department = match rng.below(10) {
        0 => "2A".to_owned(),
        1 => "2B".to_owned(),
        _ => format!("{:02}", 1 + rng.below(95)),
    };
    let body = format!(
        "{}{}{:02}{department}{}{}",
        1 + rng.below(2),
        rng.digits(2),
        1 + rng.below(12),
        rng.digits(3),
        rng.digits(3)
    );
    let numeric = body.replace("2A", "19").replace("2B", "18");
    format!("{body}{:02}", 97 - mod97(&numeric))
}

#[test]
fn generated_nirs_are_found_and_their_near_misses_are_not() {
    let detector = Detector::all();
    let mut rng = Rng::new(4);
    for _ in 0..ROUNDS {
        let solid = nir(&mut rng);
        let value = match rng.below(3) {
            0 => solid.clone(),
            1 => format!(
                "{} {} {} {} {} {} {}",
                &solid[..1],
                &solid[1..3],
                &solid[3..5],
                &solid[5..7],
                &solid[7..10],
                &solid[10..13],
                &solid[13..]
            ),
            _ => format!("{} {}", &solid[..13], &solid[13..]),
        };
        expect_found(&detector, &embed(&mut rng, &value), "NIR", &value);
        let wrong = change_digit(&value, last_digit_index(&value), 1 + rng.below(9) as u8);
        // Changing the key's last digit only yields another valid key when the key is 97 → no.
        expect_nothing(&detector, &embed(&mut rng, &wrong));
    }
}

#[test]
fn generated_ibans_are_found_and_their_near_misses_are_not() {
    let detector = Detector::all();
    let mut rng = Rng::new(5);
    for _ in 0..ROUNDS {
        let (country, len) = *rng.pick(&[
            ("FR", 27),
            ("DE", 22),
            ("BE", 16),
            ("ES", 24),
            ("IT", 27),
            ("NL", 18),
            ("PT", 25),
            ("MT", 31),
            ("NO", 15),
        ]);
        let bban = match country {
            // Letters where those countries put them: Italy's CIN, Dutch and Maltese bank codes,
            // a letter inside a French account number.
            "IT" => format!("X{}", rng.digits(len - 5)),
            "NL" => format!("ABNA{}", rng.digits(len - 8)),
            "MT" => format!("MALT{}", rng.digits(len - 8)),
            "FR" => format!("{}M{}", rng.digits(14), rng.digits(len - 19)),
            _ => rng.digits(len - 4),
        };
        let solid = format!("{country}{}{bban}", iban_check_digits(country, &bban));
        let value = if rng.below(2) == 0 {
            solid.clone()
        } else {
            in_fours(&solid)
        };
        expect_found(&detector, &embed(&mut rng, &value), "IBAN", &value);
        let wrong = change_digit(&value, last_digit_index(&value), 1 + rng.below(9) as u8);
        expect_nothing(&detector, &embed(&mut rng, &wrong));
    }
}

#[test]
fn generated_phones_are_found_in_every_layout() {
    let detector = Detector::all();
    let mut rng = Rng::new(6);
    for _ in 0..ROUNDS {
        let national = format!("0{}{}", 1 + rng.below(9), rng.digits(8));
        let pairs: Vec<&str> = (0..5).map(|i| &national[2 * i..2 * i + 2]).collect();
        let value = match rng.below(7) {
            0 => national.clone(),
            1 => pairs.join(" "),
            2 => pairs.join("."),
            3 => pairs.join("-"),
            4 => format!("+33{}", &national[1..]),
            5 => format!("+33 {} {}", &national[1..2], pairs[1..].join(" ")),
            _ => format!("0033 {} {}", &national[1..2], pairs[1..].join(" ")),
        };
        expect_found(&detector, &embed(&mut rng, &value), "PHONE_FR", &value);
        // One digit fewer is no phone number (though nine solid digits may be a SIREN).
        let short = &value[..value.len() - 1];
        let found = scan_pairs(&detector, &embed(&mut rng, short));
        assert!(
            found.iter().all(|(kind, _)| kind != "PHONE_FR"),
            "{short:?}: {found:?}"
        );
    }
}
