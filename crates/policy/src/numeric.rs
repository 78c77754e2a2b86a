//! Classifying a number: reads its digit groups once and picks the one type it is, in the
//! precedence order documented at the crate root.

use crate::boundary::{Left, left_context, right_ok};
use crate::digits::DigitGroups;
use crate::{PiiType, card, company, ip, nir, phone};

/// The type and end of the number starting at `start` (a digit, or `+` for an international
/// phone number), if it is personal data.
pub(crate) fn classify(bytes: &[u8], start: usize) -> Option<(PiiType, usize)> {
    let left = left_context(bytes, start);
    if left == Left::Blocked {
        return None;
    }
    if bytes[start] == b'+' {
        // A `+` always opens a new number, whatever precedes it.
        if let Some(national) = phone::after_bracketed_trunk_prefix(bytes, start) {
            let groups = DigitGroups::read(bytes, national, false);
            return whole_or_first_group(bytes, &groups, |digits, lens| {
                phone::after_country_code(digits, lens).then_some(PiiType::PhoneFr)
            });
        }
        let groups = DigitGroups::read(bytes, start + 1, false);
        return whole_or_first_group(bytes, &groups, |digits, lens| {
            phone::international(digits, lens, true).then_some(PiiType::PhoneFr)
        });
    }
    if let Some(end) = nir::read(bytes, start, left) {
        return Some((PiiType::Nir, end));
    }
    let groups = DigitGroups::read(bytes, start, left == Left::AfterSpacedDigits);
    whole_or_first_group(bytes, &groups, |digits, lens| {
        reading(digits, lens, groups.sep)
    })
    .or_else(|| ipv4_with_prefix_length(bytes, &groups))
}

/// An IPv4 address in CIDR notation (`10.0.0.0/24`): the address is reported, although `/` and a
/// digit would otherwise continue the token (as in a date).
fn ipv4_with_prefix_length(bytes: &[u8], groups: &DigitGroups) -> Option<(PiiType, usize)> {
    let end = groups.end(4);
    (groups.group_count() == 4
        && ip::ipv4_valid(groups.digits(4), groups.lens(4), groups.sep)
        && ip::prefix_length_follows(bytes, end))
    .then_some((PiiType::Ipv4, end))
}

/// Tries the reading of every group, then of the first group alone; the other prefixes can never
/// end their token. `kind_of` gets the digit values and group lengths of a reading.
fn whole_or_first_group(
    bytes: &[u8],
    groups: &DigitGroups,
    kind_of: impl Fn(&[u8], &[u8]) -> Option<PiiType>,
) -> Option<(PiiType, usize)> {
    let all = groups.group_count();
    if all == 0 {
        return None;
    }
    let counts = [all, 1];
    let counts = if all > 1 { &counts[..] } else { &counts[1..] };
    counts.iter().find_map(|&count| {
        let grouped_by = if count > 1 { groups.sep } else { None };
        let end = groups.end(count);
        if !right_ok(bytes, end, grouped_by) {
            return None;
        }
        kind_of(groups.digits(count), groups.lens(count)).map(|kind| (kind, end))
    })
}

/// The type of one reading of a number (not a NIR, which [`nir`] reads itself).
fn reading(digits: &[u8], lens: &[u8], sep: Option<crate::boundary::Sep>) -> Option<PiiType> {
    let sep = if lens.len() > 1 { sep } else { None };
    if phone::national(digits, lens) || phone::international(digits, lens, false) {
        Some(PiiType::PhoneFr)
    } else if card::valid(digits, lens, sep) {
        Some(PiiType::CreditCard)
    } else if company::siret_valid(digits, lens) {
        Some(PiiType::Siret)
    } else if company::siren_valid(digits, lens) {
        Some(PiiType::Siren)
    } else if ip::ipv4_valid(digits, lens, sep) {
        Some(PiiType::Ipv4)
    } else {
        None
    }
}
