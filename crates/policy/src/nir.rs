//! The NIR (French social security number): sex, year, month, department (`2A`/`2B` for
//! Corsica, in either case), commune, order number and a two-digit key, 15 characters in all,
//! written solid or with one kind of separator between its fields (`1 85 05 78 006 084 36`).

use crate::boundary::{Left, Sep, right_ok, separator_at};
use crate::checksum::nir_key;

/// Characters in a NIR, key included.
const LEN: usize = 15;

/// A separator may only fall between fields: after the sex, year, month, department, commune and
/// order number.
const FIELD_ENDS: [usize; 6] = [1, 3, 5, 7, 10, 13];

/// The end of the NIR starting at `start`, if one does and its key is right.
pub(crate) fn read(bytes: &[u8], start: usize, left: Left) -> Option<usize> {
    // Sex: 1 or 2, and 7 or 8 for provisional registrations. The rarer 3 and 4 are left out:
    // they would collide with American Express numbers (34, 37), which are 15 digits too.
    // Checked first because most numbers fail here.
    if !matches!(bytes.get(start), Some(b'1' | b'2' | b'7' | b'8')) {
        return None;
    }
    let mut chars = [0u8; LEN];
    let mut sep: Option<Sep> = None;
    let mut i = start;
    for n in 0..LEN {
        let separator = if FIELD_ENDS.contains(&n) {
            separator_at(bytes, i)
        } else {
            None
        };
        if let Some((kind, len)) = separator {
            if sep.is_some_and(|used| used != kind) {
                return None;
            }
            sep = Some(kind);
            i += len;
        }
        let c = bytes.get(i)?.to_ascii_uppercase();
        let corsica = n == 6 && chars[5] == b'2' && matches!(c, b'A' | b'B');
        if !c.is_ascii_digit() && !corsica {
            return None;
        }
        chars[n] = c;
        i += 1;
    }
    // A NIR written in groups is a whole space-separated run; after another number it may only be
    // written solid.
    if sep.is_some() && left == Left::AfterSpacedDigits {
        return None;
    }
    if !right_ok(bytes, i, sep) || !fields_plausible(&chars) {
        return None;
    }
    key_valid(&chars).then_some(i)
}

/// The month is 01–12, or 20 and above for registrations whose month is unknown; the department
/// is not 00.
fn fields_plausible(chars: &[u8; LEN]) -> bool {
    let month = two_digits(chars[3], chars[4]);
    let month_ok = matches!(month, Some(1..=12 | 20..=99));
    let department_ok = chars[5..7] != *b"00";
    month_ok && department_ok
}

/// Key = 97 − (number mod 97), where Corsica's `2A` and `2B` count as 19 and 18.
fn key_valid(chars: &[u8; LEN]) -> bool {
    let mut number = 0u64;
    for (n, &c) in chars[..13].iter().enumerate() {
        let digit = match (n, c) {
            (5, b'2') if matches!(chars[6], b'A' | b'B') => 1,
            (6, b'A') => 9,
            (6, b'B') => 8,
            (_, c) => c - b'0',
        };
        number = number * 10 + u64::from(digit);
    }
    two_digits(chars[13], chars[14]).is_some_and(|key| u64::from(key) == nir_key(number))
}

fn two_digits(tens: u8, units: u8) -> Option<u8> {
    (tens.is_ascii_digit() && units.is_ascii_digit()).then(|| (tens - b'0') * 10 + (units - b'0'))
}
