//! IP addresses: IPv4 as a four-group dotted number (read by [`crate::numeric`] like any other
//! number), IPv6 as a window of hex digits, colons and dots around a `:`, parsed by the standard
//! library so every textual form (full, compressed, IPv4-embedded) is accepted exactly.

use std::net::Ipv6Addr;

use crate::boundary::{Sep, is_word};

/// The longest textual IPv6 address (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
const MAX_IPV6_LEN: usize = 45;

/// A dotted quad: four groups of 1–3 digits, each at most 255 and without a leading zero (which
/// would make `01.02.03.04` an address, and which some parsers read as octal).
pub(crate) fn ipv4_valid(digits: &[u8], lens: &[u8], sep: Option<Sep>) -> bool {
    if sep != Some(Sep::Dot) || lens.len() != 4 {
        return false;
    }
    let mut rest = digits;
    for &len in lens {
        let (octet, tail) = rest.split_at(usize::from(len));
        rest = tail;
        // The length first: a longer group's value may not fit.
        if len > 3 || (len > 1 && octet[0] == 0) {
            return false;
        }
        let value = octet.iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d));
        if value > 255 {
            return false;
        }
    }
    true
}

/// Whether a pre-release or build suffix follows a dotted quad (`1.2.3.4-beta`, `1.2.3.4+git`):
/// a version, not an address.
pub(crate) fn version_suffix_follows(bytes: &[u8], end: usize) -> bool {
    matches!(bytes.get(end), Some(b'-' | b'+'))
        && bytes.get(end + 1).is_some_and(u8::is_ascii_alphabetic)
}

/// Whether `/0`–`/32` follows at `end`, ending the token.
pub(crate) fn prefix_length_follows(bytes: &[u8], end: usize) -> bool {
    if bytes.get(end) != Some(&b'/') {
        return false;
    }
    let digits = bytes[end + 1..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let after = end + 1 + digits;
    let value = bytes[end + 1..after].iter().fold(0u32, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    });
    (1..=2).contains(&digits) && value <= 32 && !bytes.get(after).is_some_and(|&b| is_word(b))
}

fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// The IPv6 address around the `:` at `colon`, as `(start, end)`, and where the examined window
/// ends so that the scan skips the window's other colons. `colon` is the window's first colon.
pub(crate) fn ipv6_around_colon(bytes: &[u8], colon: usize) -> (Option<(usize, usize)>, usize) {
    let mut end = colon + 1;
    while end < bytes.len() && is_ipv6_byte(bytes[end]) {
        end += 1;
    }
    let mut start = colon;
    while start > 0 && is_ipv6_byte(bytes[start - 1]) {
        start -= 1;
    }
    if end - start > MAX_IPV6_LEN * 2 {
        // Longer than any address even after dropping a glued head: a longer token.
        return (None, end);
    }
    let found = if start > 0 && is_word(bytes[start - 1]) {
        // Glued to a word on the left (`IP:2001:db8::1`, `fe80` in `Adresse:fe80::1` cannot
        // start there): the address can only begin after the first colon.
        parse_window(bytes, colon + 1, end)
    } else {
        parse_window(bytes, start, end)
    };
    (found, end)
}

fn parse_window(bytes: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    if bytes.get(end).is_some_and(|&b| is_word(b)) {
        return None;
    }
    // A trailing dot ends the sentence.
    let mut end = end;
    while end > start && bytes[end - 1] == b'.' {
        end -= 1;
    }
    let window = &bytes[start..end];
    if window.len() > MAX_IPV6_LEN {
        return None;
    }
    // `::` alone parses as the unspecified address, but in prose it is punctuation.
    let colons = window.iter().filter(|&&b| b == b':').count();
    if colons < 2 || !window.iter().any(u8::is_ascii_hexdigit) {
        return None;
    }
    let text = std::str::from_utf8(window).ok()?;
    text.parse::<Ipv6Addr>().ok().map(|_| (start, end))
}
