//! The check-digit algorithms the numeric detectors rely on: Luhn (cards, SIREN, SIRET), La
//! Poste's SIRET rule, ISO 13616 mod 97 (IBAN) and the NIR key.
//!
//! Inputs are digit values (0–9), not ASCII, except for the IBAN, whose characters are letters
//! and digits.

/// Luhn: doubling every second digit from the right, the sum is a multiple of 10.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (position, &digit) in digits.iter().rev().enumerate() {
        let digit = u32::from(digit);
        sum += if position % 2 == 1 {
            let doubled = digit * 2;
            if doubled > 9 { doubled - 9 } else { doubled }
        } else {
            digit
        };
    }
    sum.is_multiple_of(10)
}

/// La Poste's establishments share SIREN 356 000 000 and number far more sites than Luhn leaves
/// room for, so INSEE validates their SIRETs by the plain sum of digits being a multiple of 5.
/// The head office, 356 000 000 00048, predates the rule and passes Luhn instead.
pub(crate) fn la_poste_siret_valid(digits: &[u8]) -> bool {
    digits
        .iter()
        .map(|&d| u32::from(d))
        .sum::<u32>()
        .is_multiple_of(5)
        || luhn_valid(digits)
}

/// Whether `digits` (a SIRET's 14 digit values) belong to La Poste.
pub(crate) fn is_la_poste(digits: &[u8]) -> bool {
    digits.starts_with(&[3, 5, 6, 0, 0, 0, 0, 0, 0])
}

/// ISO 13616: with the first four characters moved to the end and letters read as 10–35, the
/// IBAN is 1 mod 97. Computed digit by digit so no big integer is needed.
pub(crate) fn iban_valid(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let (head, bban) = iban.split_at(4);
    let mut remainder = 0u32;
    for &c in bban.iter().chain(head) {
        remainder = match c {
            b'0'..=b'9' => (remainder * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (remainder * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        };
    }
    remainder == 1
}

/// The NIR key of a 13-digit number (Corsica already mapped to digits): 97 − (number mod 97).
pub(crate) fn nir_key(number: u64) -> u64 {
    97 - number % 97
}
