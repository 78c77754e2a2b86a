//! Personal-data detection for Fabrique's data policies: which spans of a text are personal
//! data of one of the types of [`PiiType`] — emails, French phone numbers, IBANs, NIRs, SIRENs and
//! SIRETs, card numbers, IP addresses.
//!
//! The detectors find; the rest of the crate holds the pure parts of acting on what they find —
//! rewriting texts with redaction markers and pseudonyms (`pseudonyms`, `joined`), putting
//! pseudonymized values back into answers, streamed or whole (`restore`), output policies across
//! stream pieces (`output`), blocked terms and the prompt-injection heuristic (`terms`) — while
//! deciding when to apply them, and to which JSON strings, belongs to the gateway's inspect stage.
//! A policy can be tried on sample text ([`dry_run`]): what it would find, refuse, flag and send,
//! in the inspect stage's order, for the admin API's dry run.
//! Every numeric type is checksum-validated (Luhn, mod 97, NIR key) so that near-misses — a
//! mistyped IBAN, an invoice number, an amount — are not reported.
//!
//! # Text as people write it
//! Values are found however they are typed or pasted: in any case (`fr76 3000 …`), grouped with
//! no-break, narrow no-break, thin or other Unicode spaces, dots or any dash, with invisible
//! format characters inside (zero-width space and joiners, word joiner, byte-order mark, soft
//! hyphen), in full-width forms (`０６…`, `＠`) or another script's digits. Spaces and dashes are
//! read where they stand (`boundary`); a text holding any of the other characters is scanned
//! through a folded copy (`view`, using Unicode's own tables: `unicode`) whose offsets map back
//! to the original, so a span always covers exactly the characters that wrote the value. A
//! number with invisible characters inside is read whatever its grouping
//! (`06\u{200b}12 34 56 78`). Several texts can be scanned as one ([`Detector::scan_joined`]),
//! so a value split between two parts of a message is found.
//!
//! # How a scan works
//! The scan walks the bytes once (`scan`). Most bytes are letters and spaces, so a byte-class
//! table lets the loop skip them; only four kinds of byte start work:
//! - a digit that begins a token: the digit groups that follow are read once
//!   (`digits::DigitGroups`) and classified by `numeric`; a digit right after two letters, or
//!   after two letters and a space, may instead be an IBAN's check digits (`iban`);
//! - `+`: an international French phone number;
//! - `@`: an email, whose local part is found by looking back (`email`);
//! - `:`: an IPv6 address, whose hex groups are found by looking both ways (`ip`).
//!
//! A text with nothing to fold and nothing found costs no allocation.
//!
//! # Token boundaries
//! A match never cuts inside a longer token (`boundary`): it may not touch a letter or digit, may
//! not be continued by `.`, `,`, `-` or `/` and a digit (`1.2.3.4.5`, `123 456,78`, `12/03`), and
//! a match written in space-separated groups must be the whole space-separated run (so
//! `06 12 34 56 78 90` is no phone number). A number written without separators stays a word of
//! its own even when another number follows after a space. The one exception is an IPv4 address
//! in CIDR notation (`10.0.0.0/24`), reported without its prefix length.
//!
//! # Context
//! Where the shape of a number cannot tell, the words just before it do (`context`): a dotted
//! quad after `version`, `v` or `release` (or followed by `-beta`) is a version, not an IPv4
//! address; a SIREN, SIRET or card number after `commande`, `facture`, `invoice`, `client`… is that
//! other kind of number unless a word of its own type (`SIRET`, `carte`) is there too; a SIREN
//! followed by a currency is an amount.
//!
//! # Accepted forms, in brief
//! - `EMAIL`: an unquoted local part of Unicode letters, digits and `._%+-`; a domain of at least
//!   two labels ending in two ASCII letters or more.
//! - `PHONE_FR`: `0X XX XX XX XX` (X 1–9) solid or with one kind of space, dot or dash;
//!   `0 8XX XXX XXX` for special-rate numbers; `+33 X XX XX XX XX`, `+33XXXXXXXXX`, `0033…`,
//!   `+33 (0)X…`, and the common `+33 0X…`.
//! - `IBAN`: the 42 SEPA countries with their lengths, in any case, solid or in groups of any
//!   length with one kind of separator, the country code possibly apart (`FR 76 …`); mod 97.
//! - `NIR`: sex 1, 2, 7 or 8 (3 and 4 would collide with 15-digit Amex numbers), plausible
//!   month, `2A`/`2B` departments, separators only between fields; key = 97 − (number mod 97).
//! - `SIREN` (`XXX XXX XXX`), `SIRET` (`XXX XXX XXX XXXXX`, `XXXXXXXXX XXXXX`…): Luhn — for a
//!   SIRET, of its SIREN too — or for La Poste (356 000 000) a digit sum that is a multiple of 5.
//! - `CREDIT_CARD`: 13–19 digits, Luhn, a scheme's IIN and length, printed groupings.
//! - `IPV4`: four decimal octets without leading zeros; `IPV6`: anything `Ipv6Addr` parses, except
//!   a bare `::`.
//!
//! # Precedence
//! One token gets one type, decided in this order:
//! 1. `NIR` (15 characters with a valid key: a 1-in-97 check is stronger than Luhn);
//! 2. the reading of the whole group run before the reading of its first group alone
//!    (`732829320 00074` is a SIRET, not a SIREN followed by a number);
//! 3. within one reading: `PHONE_FR`, then `CREDIT_CARD` and `SIRET`, then `SIREN`, `IPV4`.
//!    Lengths keep most of these apart; the only real overlap is 14 digits that pass both a
//!    SIRET's checks and a 14-digit Diners Club IIN (`36`, `300`–`305`) with a card's grouping:
//!    a SIRET unless the words before speak of a card.
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
mod context;
mod digits;
mod dry_run;
mod email;
mod iban;
mod ip;
mod joined;
mod nir;
mod numeric;
mod output;
mod phone;
mod pseudonyms;
mod restore;
mod scan;
pub mod scan_cli;
mod terms;
mod unicode;
mod view;

use std::fmt;
use std::str::FromStr;

pub use actions::{
    ActionTable, ContentAction, InputAction, OutputAction, TypeCounts, UnknownAction,
};
pub use dry_run::{DryRun, Finding, Refusal, Rules, dry_run};
pub use joined::{WINDOW, pieces, rewrite_joined};
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

    /// Every type's name, comma-separated, in [`PiiType::ALL`] order.
    pub fn names() -> String {
        PiiType::ALL.map(PiiType::as_str).join(", ")
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
#[error("unknown personal-data type `{0}` (expected one of {names})", names = PiiType::names())]
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
        scan::scan_text(text, &mut spans);
        spans.retain(|span| self.is_enabled(span.kind));
        spans
    }
}
