//! French phone numbers: national `0X XX XX XX XX` (any one of space, dot or dash between pairs,
//! or none) and international `+33 X XX XX XX XX` / `0033…`, where X is 1–9.

/// A national number: ten digits, `0` then a digit 1–9, as one group or five pairs.
pub(crate) fn national(digits: &[u8], lens: &[u8]) -> bool {
    digits.len() == 10 && digits[0] == 0 && digits[1] != 0 && matches!(lens, [10] | [2, 2, 2, 2, 2])
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
