//! SIREN (9 digits) and SIRET (14 digits: SIREN + 5-digit establishment number), both Luhn
//! checked — a SIRET's own SIREN too — except La Poste's SIRETs (SIREN 356 000 000), which INSEE
//! checks by digit sum.

use crate::checksum::{is_la_poste, la_poste_siret_valid, luhn_valid};

/// A SIREN, as one group or `XXX XXX XXX`.
pub(crate) fn siren_valid(digits: &[u8], lens: &[u8]) -> bool {
    digits.len() == 9 && matches!(lens, [9] | [3, 3, 3]) && !all_zero(digits) && luhn_valid(digits)
}

/// A SIRET, as one group, `XXX XXX XXX XXXXX`, `XXXXXXXXX XXXXX` or `XXX XXX XXX XXX XX`.
pub(crate) fn siret_valid(digits: &[u8], lens: &[u8]) -> bool {
    if digits.len() != 14
        || !matches!(lens, [14] | [3, 3, 3, 5] | [9, 5] | [3, 3, 3, 3, 2])
        || all_zero(digits)
    {
        return false;
    }
    if is_la_poste(digits) {
        la_poste_siret_valid(digits)
    } else {
        luhn_valid(&digits[..9]) && luhn_valid(digits)
    }
}

/// Zeros pass Luhn trivially and are placeholders, not identifiers.
fn all_zero(digits: &[u8]) -> bool {
    digits.iter().all(|&d| d == 0)
}
