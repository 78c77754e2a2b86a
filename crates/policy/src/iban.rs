//! IBANs of every SEPA country: country code, two check digits and the country's BBAN length,
//! solid or in groups of four separated by single spaces, validated by ISO 13616 mod 97.

use crate::boundary::is_word;
use crate::checksum::iban_valid;

/// The longest IBAN in SEPA (Malta).
const MAX_LEN: usize = 31;

/// The IBAN whose check digits start at `digit` (just after two uppercase letters), as
/// `(start, end)`.
pub(crate) fn find_at_check_digits(bytes: &[u8], digit: usize) -> Option<(usize, usize)> {
    let start = digit.checked_sub(2)?;
    let country = [bytes[start], bytes[start + 1]];
    if !country.iter().all(u8::is_ascii_uppercase)
        || (start > 0 && is_word(bytes[start - 1]))
        || !bytes.get(digit + 1).is_some_and(u8::is_ascii_digit)
    {
        return None;
    }
    let len = sepa_length(country)?;
    let spaced = bytes.get(start + 4) == Some(&b' ');
    let mut chars = [0u8; MAX_LEN];
    let mut i = start;
    for (n, slot) in chars[..len].iter_mut().enumerate() {
        if spaced && n > 0 && n % 4 == 0 {
            if bytes.get(i) != Some(&b' ') {
                return None;
            }
            i += 1;
        }
        let c = *bytes.get(i)?;
        if !(c.is_ascii_uppercase() || c.is_ascii_digit()) {
            return None;
        }
        *slot = c;
        i += 1;
    }
    if bytes.get(i).is_some_and(|&b| is_word(b)) {
        return None;
    }
    // A full last group followed by another group of digits would be a longer grouped token; a
    // word after it (`EUR`, `a été`) is just the sentence going on.
    if spaced
        && len % 4 == 0
        && bytes.get(i) == Some(&b' ')
        && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
    {
        return None;
    }
    iban_valid(&chars[..len]).then_some((start, i))
}

/// The IBAN length of each country in the SEPA scheme (EU, EEA, Switzerland, the UK, the
/// microstates, and the 2025 members Albania, Moldova, Montenegro, North Macedonia, Serbia).
/// French overseas departments and territories use `FR` IBANs; Jersey, Guernsey and the Isle of
/// Man use `GB` ones.
fn sepa_length(country: [u8; 2]) -> Option<usize> {
    let len = match &country {
        b"AD" => 24,
        b"AL" => 28,
        b"AT" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"CH" => 21,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DK" => 18,
        b"EE" => 20,
        b"ES" => 24,
        b"FI" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GI" => 23,
        b"GR" => 27,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IS" => 26,
        b"IT" => 27,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MT" => 31,
        b"NL" => 18,
        b"NO" => 15,
        b"PL" => 28,
        b"PT" => 25,
        b"RO" => 24,
        b"RS" => 22,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"VA" => 22,
        _ => return None,
    };
    Some(len)
}
