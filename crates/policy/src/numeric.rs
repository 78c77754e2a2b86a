//! Classifying a number: reads its digit groups once and picks the one type it is, in the
//! precedence order documented at the crate root.

use std::cell::OnceCell;

use crate::boundary::{Left, Sep, left_context, right_ok};
use crate::context::{self, Context};
use crate::digits::DigitGroups;
use crate::scan::Text;
use crate::{PiiType, card, company, ip, nir, phone};

/// The type and end of the number starting at `start` (a digit, or `+` for an international
/// phone number), if it is personal data.
pub(crate) fn classify(text: Text<'_>, start: usize) -> Option<(PiiType, usize)> {
    let bytes = text.bytes;
    let left = left_context(bytes, start);
    if left == Left::Blocked {
        return None;
    }
    if bytes[start] == b'+' {
        // A `+` always opens a new number, whatever precedes it.
        if let Some(national) = phone::after_bracketed_trunk_prefix(bytes, start) {
            let groups = DigitGroups::read(bytes, national, false);
            return whole_or_first_group(text, start, &groups, |digits, lens, _| {
                phone::after_country_code(digits, lens).then_some(PiiType::PhoneFr)
            });
        }
        let groups = DigitGroups::read(bytes, start + 1, false);
        return whole_or_first_group(text, start, &groups, |digits, lens, _| {
            phone::international(digits, lens, true).then_some(PiiType::PhoneFr)
        });
    }
    if let Some(end) = nir::read(bytes, start, left) {
        return Some((PiiType::Nir, end));
    }
    let groups = DigitGroups::read(bytes, start, left == Left::AfterSpacedDigits);
    let context = OnceCell::new();
    let context = || *context.get_or_init(|| context::before(bytes, start));
    whole_or_first_group(text, start, &groups, |digits, lens, end| {
        let sep = if lens.len() > 1 { groups.sep } else { None };
        let kind = reading(digits, lens, sep, context)?;
        confirmed(kind, bytes, end, context).then_some(kind)
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

/// Tries the reading of every group, then — when invisible characters were dropped inside the
/// number — of every digit as one group, then of the first group alone; the other prefixes can
/// never end their token. `kind_of` gets the digit values, group lengths and end of a reading.
fn whole_or_first_group(
    text: Text<'_>,
    start: usize,
    groups: &DigitGroups,
    kind_of: impl Fn(&[u8], &[u8], usize) -> Option<PiiType>,
) -> Option<(PiiType, usize)> {
    let all = groups.group_count();
    if all == 0 {
        return None;
    }
    // At most MAX_DIGITS digits, so the count fits a byte.
    let solid = [groups.digits(all).len() as u8];
    let glued = all > 1 && text.glued_inside(start, groups.end(all));
    let try_reading = |count: usize, lens: &[u8]| {
        let grouped_by = if count > 1 { groups.sep } else { None };
        let end = groups.end(count);
        if !right_ok(text.bytes, end, grouped_by) {
            return None;
        }
        kind_of(groups.digits(count), lens, end).map(|kind| (kind, end))
    };
    try_reading(all, groups.lens(all))
        .or_else(|| glued.then(|| try_reading(all, &solid)).flatten())
        .or_else(|| (all > 1).then(|| try_reading(1, groups.lens(1))).flatten())
}

/// The type of one reading of a number (not a NIR, which [`nir`] reads itself). Fourteen digits
/// that are both a SIRET and a Diners Club card are the SIRET unless the words before speak of a
/// card.
fn reading(
    digits: &[u8],
    lens: &[u8],
    sep: Option<Sep>,
    context: impl Fn() -> Context,
) -> Option<PiiType> {
    if phone::national(digits, lens) || phone::international(digits, lens, false) {
        return Some(PiiType::PhoneFr);
    }
    let card = card::valid(digits, lens, sep);
    let siret = company::siret_valid(digits, lens);
    if card && siret {
        let context = context();
        return Some(if context.card && !context.company {
            PiiType::CreditCard
        } else {
            PiiType::Siret
        });
    }
    if card {
        Some(PiiType::CreditCard)
    } else if siret {
        Some(PiiType::Siret)
    } else if company::siren_valid(digits, lens) {
        Some(PiiType::Siren)
    } else if ip::ipv4_valid(digits, lens, sep) {
        Some(PiiType::Ipv4)
    } else {
        None
    }
}

/// Whether the words around a number of `kind` ending at `end` let it be one: a dotted quad
/// after `version` is a version; a SIREN, SIRET or card number after `commande` or `facture`
/// (and no word of its own type) is that other number; a SIREN or SIRET followed by a currency
/// is an amount.
fn confirmed(kind: PiiType, bytes: &[u8], end: usize, context: impl Fn() -> Context) -> bool {
    match kind {
        PiiType::Ipv4 => !context().version && !ip::version_suffix_follows(bytes, end),
        PiiType::Siren | PiiType::Siret => {
            let context = context();
            (context.company || !context.other_number) && !context::currency_after(bytes, end)
        }
        PiiType::CreditCard => {
            let context = context();
            context.card || !context.other_number
        }
        PiiType::PhoneFr | PiiType::Email | PiiType::Iban | PiiType::Nir | PiiType::Ipv6 => true,
    }
}
