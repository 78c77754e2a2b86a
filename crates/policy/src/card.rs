//! Payment card numbers: 13–19 digits, Luhn valid, with an issuer prefix (IIN) and length that a
//! real scheme uses, written as one group or in the groupings printed on cards, separated by
//! spaces or dashes.

use crate::boundary::Sep;
use crate::checksum::luhn_valid;

/// Whether a reading is a card number.
pub(crate) fn valid(digits: &[u8], lens: &[u8], sep: Option<Sep>) -> bool {
    (13..=19).contains(&digits.len())
        && sep != Some(Sep::Dot)
        && card_grouping(lens)
        && iin_fits(digits)
        && luhn_valid(digits)
}

/// One group; fours with a shorter last group (`4-4-4-4`, `4-4-4-4-3`…); Amex `4-6-5`; Diners
/// `4-6-4`; thirteen-digit Visa `4-3-3-3`.
fn card_grouping(lens: &[u8]) -> bool {
    match lens {
        [_] | [4, 6, 5] | [4, 6, 4] | [4, 3, 3, 3] => true,
        [fours @ .., last] => fours.len() >= 3 && fours.iter().all(|&l| l == 4) && *last <= 4,
        [] => false,
    }
}

/// Whether the prefix belongs to a scheme issuing cards of this length. Fourteen digits is also
/// a SIRET's length and many SIRENs start with 3, 5 or 6, so at 14 digits only Diners Club's
/// historical 14-digit ranges (36, 300–305) count as a card.
fn iin_fits(digits: &[u8]) -> bool {
    let len = digits.len();
    let prefix = |n: usize| {
        digits[..n]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    let two = prefix(2);
    let three = prefix(3);
    let four = prefix(4);
    let diners_14 = two == 36 || (300..=305).contains(&three);
    if len == 14 {
        return diners_14;
    }
    match digits[0] {
        // Visa.
        4 => matches!(len, 13 | 16 | 19),
        // Mastercard 2-series.
        2 => (2221..=2720).contains(&four) && len == 16,
        // Mastercard 51–55; Maestro 50, 56–59.
        5 => {
            if (51..=55).contains(&two) {
                len == 16
            } else {
                true
            }
        }
        // Maestro, Discover, UnionPay, and co-branded CB cards.
        6 => true,
        3 => match two {
            // American Express.
            34 | 37 => len == 15,
            // Diners Club, JCB.
            30 | 36 | 38 | 39 => len >= 16,
            35 => (3528..=3589).contains(&four) && len >= 16,
            _ => false,
        },
        _ => false,
    }
}
