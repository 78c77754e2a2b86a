//! Personal-data detection for Fabrique's data policies: which spans of a text are an email, a
//! French phone number, an IBAN, a NIR, a SIREN or SIRET, a card number or an IP address.
//!
//! The detectors find; the rest of the crate holds the pure parts of acting on what they find —
//! rewriting texts with redaction markers and pseudonyms (`pseudonyms`), putting pseudonymized
//! values back into answers, streamed or whole (`restore`), output policies across stream pieces
//! (`output`), blocked terms and the prompt-injection heuristic (`terms`) — while deciding when to
//! apply them, and to which JSON strings, belongs to the gateway's inspect stage. Every numeric type is checksum-validated (Luhn, mod 97, NIR key) so that near-misses —
//! a mistyped IBAN, an invoice number, an amount — are not reported.
//!
//! # How a scan works
//! [`Detector::scan`] walks the bytes once. Most bytes are letters and spaces, so a byte-class
//! table lets the loop skip them; only four kinds of byte start work:
//! - a digit that begins a token: the digit groups that follow are read once
//!   (`digits::DigitGroups`) and classified by `numeric`; a digit right after two uppercase
//!   letters may instead end an IBAN's country code (`iban`);
//! - `+`: an international French phone number;
//! - `@`: an email, whose local part is found by looking back (`email`);
//! - `:`: an IPv6 address, whose hex groups are found by looking both ways (`ip`).
//!
//! # Token boundaries
//! A match never cuts inside a longer token (`boundary`): it may not touch a letter or digit, may
//! not be continued by `.`, `,`, `-` or `/` and a digit (`1.2.3.4.5`, `123 456,78`, `12/03`), and
//! a match written in space-separated groups must be the whole space-separated run (so
//! `06 12 34 56 78 90` is no phone number). A number written without separators stays a word of
//! its own even when another number follows after a space. The one exception is an IPv4 address
//! in CIDR notation (`10.0.0.0/24`), reported without its prefix length.
//!
//! # Accepted forms, in brief
//! - `PHONE_FR`: `0X XX XX XX XX` (X 1–9) solid or with one of space, `.`, `-`; `+33 X XX XX XX
//!   XX`, `+33XXXXXXXXX`, `0033…`, `+33 (0)X…`, and the common `+33 0X…`.
//! - `IBAN`: the 42 SEPA countries with their lengths, solid or in fours; mod 97.
//! - `NIR`: sex 1, 2, 7 or 8 (3 and 4 would collide with 15-digit Amex numbers), plausible
//!   month, `2A`/`2B` departments, separators only between fields; key = 97 − (number mod 97).
//! - `SIREN` (`XXX XXX XXX`), `SIRET` (`XXX XXX XXX XXXXX`, `XXXXXXXXX XXXXX`…): Luhn, or for
//!   La Poste (356 000 000) a digit sum that is a multiple of 5.
//! - `CREDIT_CARD`: 13–19 digits, Luhn, a scheme's IIN and length, printed groupings.
//! - `IPV4`: four decimal octets without leading zeros; `IPV6`: anything `Ipv6Addr` parses, except
//!   a bare `::`.
//!
//! # Precedence
//! One token gets one type, decided in this order:
//! 1. `NIR` (15 characters with a valid key: a 1-in-97 check is stronger than Luhn);
//! 2. the reading of the whole group run before the reading of its first group alone
//!    (`732829320 00074` is a SIRET, not a SIREN followed by a number);
//! 3. within one reading: `PHONE_FR`, `CREDIT_CARD`, `SIRET`, `SIREN`, `IPV4`. Lengths keep most
//!    of these apart; the only real overlap is 14 Luhn-valid digits, which are a card only with a
//!    14-digit Diners Club IIN (`36`, `300`–`305`) written as one group or `4-6-4`, otherwise a
//!    SIRET.
//!
//! Spans found by looking back (emails, IPv6) may overlap a numeric span found earlier, such as
//! a phone number used as an email's local part; the longer span wins, then the earlier one. A
//! token is classified with every detector and only then filtered by the enabled types, so
//! disabling a type never turns its tokens into another type.

mod actions;
mod boundary;
mod card;
mod checksum;
mod company;
mod digits;
mod email;
mod iban;
mod ip;
mod nir;
mod numeric;
mod output;
mod phone;
mod pseudonyms;
mod restore;
pub mod scan_cli;
mod terms;

use std::fmt;
use std::str::FromStr;

pub use actions::{
    ActionTable, ContentAction, InputAction, OutputAction, TypeCounts, UnknownAction,
};
pub use output::{MAX_HELD_BYTES, OutputGuard, OutputRules};
pub use pseudonyms::{Pseudonyms, redaction_marker, rewrite};
pub use restore::{Restorer, restore};
pub use scan_cli::{ScanError, ScanStats};
pub use terms::{BlockedTerms, suspected_injection};

/// The kinds of personal data the detectors recognize. A closed set: the names returned by
/// [`PiiType::as_str`] are the ones policies, audit events and `fabrique policy scan` use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiType {
    Email,
    PhoneFr,
    Iban,
    Nir,
    Siren,
    Siret,
    CreditCard,
    Ipv4,
    Ipv6,
}

impl PiiType {
    /// Every type, in declaration order.
    pub const ALL: [PiiType; 9] = [
        PiiType::Email,
        PiiType::PhoneFr,
        PiiType::Iban,
        PiiType::Nir,
        PiiType::Siren,
        PiiType::Siret,
        PiiType::CreditCard,
        PiiType::Ipv4,
        PiiType::Ipv6,
    ];

    /// The type's name as it appears in configuration and output (`EMAIL`, `PHONE_FR`…).
    pub fn as_str(self) -> &'static str {
        match self {
            PiiType::Email => "EMAIL",
            PiiType::PhoneFr => "PHONE_FR",
            PiiType::Iban => "IBAN",
            PiiType::Nir => "NIR",
            PiiType::Siren => "SIREN",
            PiiType::Siret => "SIRET",
            PiiType::CreditCard => "CREDIT_CARD",
            PiiType::Ipv4 => "IPV4",
            PiiType::Ipv6 => "IPV6",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for PiiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`PiiType::as_str`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown personal-data type `{0}` (expected one of EMAIL, PHONE_FR, IBAN, NIR, SIREN, SIRET, CREDIT_CARD, IPV4, IPV6)"
)]
pub struct UnknownPiiType(pub String);

impl FromStr for PiiType {
    type Err = UnknownPiiType;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        PiiType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownPiiType(name.to_owned()))
    }
}

/// One detected item: `text[start..end]` is personal data of type `kind`. Offsets are UTF-8 byte
/// offsets into the scanned text, always on character boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: PiiType,
}

/// A set of enabled detectors, built once and shared: it holds no per-scan state, so it is
/// `Send + Sync` and one instance serves every request.
#[derive(Clone, Debug)]
pub struct Detector {
    enabled: u16,
}

impl Detector {
    /// A detector reporting only `types` (duplicates are harmless).
    pub fn new(types: &[PiiType]) -> Self {
        let enabled = types.iter().fold(0, |bits, kind| bits | kind.bit());
        Detector { enabled }
    }

    /// A detector reporting every type.
    pub fn all() -> Self {
        Detector::new(&PiiType::ALL)
    }

    /// Whether spans of `kind` are reported.
    pub fn is_enabled(&self, kind: PiiType) -> bool {
        self.enabled & kind.bit() != 0
    }

    /// The personal data in `text`, sorted by start, never overlapping.
    pub fn scan(&self, text: &str) -> Vec<Span> {
        let mut spans = Vec::new();
        if self.enabled == 0 {
            return spans;
        }
        find_candidates(text, &mut spans);
        resolve_overlaps(&mut spans);
        spans.retain(|span| self.is_enabled(span.kind));
        spans
    }
}

/// What a byte may start, so the scan loop skips everything else with one table lookup.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    None,
    Digit,
    Plus,
    At,
    Colon,
}

const TRIGGERS: [Trigger; 256] = {
    let mut table = [Trigger::None; 256];
    let mut b = b'0';
    while b <= b'9' {
        table[b as usize] = Trigger::Digit;
        b += 1;
    }
    table[b'+' as usize] = Trigger::Plus;
    table[b'@' as usize] = Trigger::At;
    table[b':' as usize] = Trigger::Colon;
    table
};

/// The single pass over `text`: pushes every candidate span, in roughly increasing order (spans
/// found by looking back may start before earlier ones; [`resolve_overlaps`] sorts that out).
fn find_candidates(text: &str, spans: &mut Vec<Span>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    // IPv6 windows already examined end here, so a run of colons is read once, not per colon.
    let mut ipv6_checked_until = 0;
    while i < bytes.len() {
        let Some(offset) = bytes[i..]
            .iter()
            .position(|&b| TRIGGERS[b as usize] != Trigger::None)
        else {
            break;
        };
        i += offset;
        match TRIGGERS[bytes[i] as usize] {
            Trigger::None => i += 1,
            Trigger::Digit => {
                let found = if i > 0 && boundary::is_word(bytes[i - 1]) {
                    // Inside a word: the only thing a digit here can be is an IBAN's check
                    // digits after its two-letter country code.
                    iban::find_at_check_digits(bytes, i).map(|(start, end)| Span {
                        start,
                        end,
                        kind: PiiType::Iban,
                    })
                } else {
                    numeric::classify(bytes, i).map(|(kind, end)| Span {
                        start: i,
                        end,
                        kind,
                    })
                };
                i = push_or_step(spans, found, i);
            }
            Trigger::Plus => {
                let found = numeric::classify(bytes, i).map(|(kind, end)| Span {
                    start: i,
                    end,
                    kind,
                });
                i = push_or_step(spans, found, i);
            }
            Trigger::At => {
                let found = email::around_at(text, i).map(|(start, end)| Span {
                    start,
                    end,
                    kind: PiiType::Email,
                });
                i = push_or_step(spans, found, i);
            }
            Trigger::Colon => {
                if i < ipv6_checked_until {
                    i += 1;
                    continue;
                }
                let (found, window_end) = ip::ipv6_around_colon(bytes, i);
                ipv6_checked_until = window_end;
                let found = found.map(|(start, end)| Span {
                    start,
                    end,
                    kind: PiiType::Ipv6,
                });
                i = push_or_step(spans, found, i);
            }
        }
    }
}

/// Records a found span and resumes after it, or steps over the trigger byte.
fn push_or_step(spans: &mut Vec<Span>, found: Option<Span>, at: usize) -> usize {
    match found {
        Some(span) => {
            spans.push(span);
            span.end.max(at + 1)
        }
        None => at + 1,
    }
}

/// Sorts spans by start and removes overlaps: of two overlapping spans the longer one stays, and
/// on equal length the earlier one. The kept span can only conflict with the last one kept,
/// because every earlier kept span ends before that one starts.
fn resolve_overlaps(spans: &mut Vec<Span>) {
    if spans.len() < 2 {
        return;
    }
    spans.sort_unstable_by_key(|span| (span.start, std::cmp::Reverse(span.end)));
    let mut kept = 0;
    for index in 1..spans.len() {
        let candidate = spans[index];
        let last = spans[kept];
        if candidate.start >= last.end {
            kept += 1;
            spans[kept] = candidate;
        } else if candidate.end - candidate.start > last.end - last.start {
            spans[kept] = candidate;
        }
    }
    spans.truncate(kept + 1);
}
