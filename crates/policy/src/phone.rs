//! French phone numbers: national `0X XX XX XX XX` (any one of space, dot or dash between pairs,
//! or none) and international `+33 X XX XX XX XX` / `0033…`, where X is 1–9.

use crate::boundary::skip_space;

/// A national number: ten digits, `0` then a digit 1–9, as one group or five pairs; special-rate
/// and free numbers (`08…`) also as `0 800 123 456`.
pub(crate) fn national(digits: &[u8], lens: &[u8]) -> bool {
    digits.len() == 10
        && digits[0] == 0
        && digits[1] != 0
        && match lens {
            [10] | [2, 2, 2, 2, 2] => true,
            [1, 3, 3, 3] => digits[1] == 8,
            _ => false,
        }
}

/// An international number: `+33` (`plus`) or `0033`, then the nine digits after the national
/// `0`, as one group, one group after the prefix, or `X XX XX XX XX`. The frequent
/// `+33 0X XX XX XX XX`, which keeps the national `0`, is accepted too.
pub(crate) fn international(digits: &[u8], lens: &[u8], plus: bool) -> bool {
    let prefix: &[u8] = if plus { &[3, 3] } else { &[0, 0, 3, 3] };
    let Some(rest) = digits.strip_prefix(prefix) else {
        return false;
    };
    let p = prefix.len() as u8;
    let first_is_region = |digit: u8| (1..=9).contains(&digit);
    match rest {
        [first, ..] if rest.len() == 9 && first_is_region(*first) => {
            lens == [p + 9] || lens == [p, 9] || lens == [p, 1, 2, 2, 2, 2]
        }
        [0, first, ..] if rest.len() == 10 && first_is_region(*first) => {
            lens == [p, 10] || lens == [p, 2, 2, 2, 2, 2]
        }
        _ => false,
    }
}

/// For `+33 (0)6 12 34 56 78`, where the bracketed national `0` follows the country code: the
/// offset of the first national digit, given the offset of the `+`.
pub(crate) fn after_bracketed_trunk_prefix(bytes: &[u8], plus: usize) -> Option<usize> {
    let rest = bytes.get(plus + 1..)?;
    let rest = skip_space(rest.strip_prefix(b"33")?);
    let rest = skip_space(rest.strip_prefix(b"(0)")?);
    rest.first()
        .is_some_and(u8::is_ascii_digit)
        .then_some(bytes.len() - rest.len())
}

/// The nine national digits after the country code and a bracketed `(0)`: one group or
/// `X XX XX XX XX`.
pub(crate) fn after_country_code(digits: &[u8], lens: &[u8]) -> bool {
    digits.len() == 9 && digits[0] != 0 && matches!(lens, [9] | [1, 2, 2, 2, 2])
}
