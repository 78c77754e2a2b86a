//! What the characters people write mean to the detectors, beyond ASCII: which are invisible
//! (dropped), which are another way of writing an ASCII character (full-width `＠`, `７`, digits
//! of other scripts), and which separate the groups of a number (no-break and thin spaces, dashes).
//!
//! The classification comes from the Unicode tables of `unicode-properties` (general category)
//! and `unicode-normalization` (compatibility decomposition, the "K" of NFKC); the only rule of
//! our own is which categories matter, documented at [`fold`]. The readings of the characters
//! text is mostly made of are computed once and looked up.

use std::sync::OnceLock;

use unicode_normalization::char::decompose_compatible;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::boundary::Sep;

/// What the detectors read in place of a non-ASCII character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fold {
    /// The character itself: a letter, a symbol, or a separator read in place
    /// ([`separator_kind`]).
    Keep,
    /// Nothing: a format character (zero-width space and joiners, word joiner, byte-order mark,
    /// soft hyphen, direction marks), which a reader does not see.
    Drop,
    /// This ASCII character: a decimal digit of any script, or a character whose compatibility
    /// decomposition is one ASCII character (full-width forms, mathematical letters and digits).
    Ascii(u8),
}

/// How the detectors read the non-ASCII character `c`. Superscripts, circled digits and fractions
/// (category `No`) stay what they are: `m²` is no digit of a number. Spaces and dashes are kept
/// so that the text keeps its byte layout where nothing else changes; the detectors read them as
/// separators where they stand.
pub(crate) fn fold(c: char) -> Fold {
    reading(c).fold
}

/// The kind of separator a non-ASCII character is between digit groups: every space separator
/// (no-break, narrow no-break, thin, figure, ideographic…) is a space; every dash, and the minus
/// sign, is a dash.
pub(crate) fn separator_kind(c: char) -> Option<Sep> {
    reading(c).separator
}

/// What a character means to the detectors: how it folds, and what separator it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reading {
    fold: Fold,
    separator: Option<Sep>,
}

/// The characters below this one — Latin, Greek, Cyrillic and the other alphabets, general
/// punctuation (typographic quotes, dashes, spaces, invisible characters) and currency signs —
/// are most of the non-ASCII text a detector meets: their readings are computed once, at first
/// use, from the Unicode tables, and then looked up instead of searched.
const READINGS_END: u32 = 0x20D0;

fn reading(c: char) -> Reading {
    static READINGS: OnceLock<Box<[Reading]>> = OnceLock::new();
    let code = u32::from(c);
    if !(0x80..READINGS_END).contains(&code) {
        return read(c);
    }
    let readings = READINGS.get_or_init(|| {
        (0x80..READINGS_END)
            .map(|code| char::from_u32(code).map_or(KEPT, read))
            .collect()
    });
    readings[(code - 0x80) as usize]
}

const KEPT: Reading = Reading {
    fold: Fold::Keep,
    separator: None,
};

/// The reading of `c`, from the Unicode tables.
fn read(c: char) -> Reading {
    // Latin-1 letters and Latin Extended-A, the accented letters of French and of most European
    // languages, read as themselves (the long `ſ` included): the scan skips them by their first
    // byte alone (`view`).
    if ('\u{c0}'..='\u{17f}').contains(&c) {
        return KEPT;
    }
    let category = c.general_category();
    let fold = match category {
        GeneralCategory::Format => Fold::Drop,
        GeneralCategory::DecimalNumber => Fold::Ascii(b'0' + decimal_value(c)),
        GeneralCategory::SpaceSeparator
        | GeneralCategory::DashPunctuation
        | GeneralCategory::OtherNumber => Fold::Keep,
        _ => compatibility_ascii(c).map_or(Fold::Keep, Fold::Ascii),
    };
    let separator = match category {
        GeneralCategory::SpaceSeparator => Some(Sep::Space),
        GeneralCategory::DashPunctuation => Some(Sep::Dash),
        _ if c == '\u{2212}' => Some(Sep::Dash),
        _ => None,
    };
    Reading { fold, separator }
}

/// The value of a decimal digit. Unicode encodes every script's decimal digits (`Nd`) as
/// contiguous runs of ten, in order, starting with zero, so the value is the distance from the
/// start of the run of `Nd` characters, modulo ten (some blocks, such as the mathematical digits,
/// hold several runs back to back).
fn decimal_value(c: char) -> u8 {
    let mut distance = 0u32;
    let mut code = u32::from(c);
    while let Some(previous) = code.checked_sub(1).and_then(char::from_u32) {
        if previous.general_category() != GeneralCategory::DecimalNumber {
            break;
        }
        distance += 1;
        code -= 1;
    }
    // At most 9, so it fits a byte.
    (distance % 10) as u8
}

/// The ASCII character `c` is a compatibility form of, if it is one (`Ｆ` → `F`, `＠` → `@`).
fn compatibility_ascii(c: char) -> Option<u8> {
    let mut decomposed = [None; 2];
    let mut count = 0;
    decompose_compatible(c, |part| {
        if count < decomposed.len() {
            decomposed[count] = Some(part);
        }
        count += 1;
    });
    match decomposed {
        [Some(single), None] if count == 1 && single.is_ascii_graphic() => Some(single as u8),
        _ => None,
    }
}

/// The character starting at byte `i` of a string's bytes (valid UTF-8, `i` on a character
/// boundary), with its length.
pub(crate) fn char_at(bytes: &[u8], i: usize) -> Option<(char, usize)> {
    let lead = *bytes.get(i)?;
    let (len, bits) = match lead {
        0x00..=0x7F => return Some((char::from(lead), 1)),
        0xC0..=0xDF => (2, u32::from(lead & 0x1F)),
        0xE0..=0xEF => (3, u32::from(lead & 0x0F)),
        _ => (4, u32::from(lead & 0x07)),
    };
    let code = bytes
        .get(i + 1..i + len)?
        .iter()
        .fold(bits, |code, &b| (code << 6) | u32::from(b & 0x3F));
    char::from_u32(code).map(|c| (c, len))
}

/// The character ending just before byte `i` of a string's bytes, with its length.
pub(crate) fn char_before(bytes: &[u8], i: usize) -> Option<(char, usize)> {
    let mut start = i.checked_sub(1)?;
    while start > 0 && i - start < 4 && bytes[start] & 0xC0 == 0x80 {
        start -= 1;
    }
    char_at(bytes, start).filter(|&(_, len)| start + len == i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_characters_drop_and_compatibility_forms_fold() {
        for invisible in [
            '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}', '\u{ad}',
        ] {
            assert_eq!(fold(invisible), Fold::Drop, "{invisible:?}");
        }
        assert_eq!(fold('＠'), Fold::Ascii(b'@'));
        assert_eq!(fold('７'), Fold::Ascii(b'7'));
        assert_eq!(fold('ｆ'), Fold::Ascii(b'f'));
        assert_eq!(fold('Ｒ'), Fold::Ascii(b'R'));
        assert_eq!(fold('：'), Fold::Ascii(b':'));
        assert_eq!(fold('٣'), Fold::Ascii(b'3'), "Arabic-Indic three");
        assert_eq!(fold('९'), Fold::Ascii(b'9'), "Devanagari nine");
        assert_eq!(fold('𝟘'), Fold::Ascii(b'0'), "double-struck zero");
        assert_eq!(fold('𝟡'), Fold::Ascii(b'9'), "double-struck nine");
        for kept in [
            'é', 'Œ', '€', '’', '²', '①', '½', '\u{a0}', '\u{202f}', '—', '…',
        ] {
            assert_eq!(fold(kept), Fold::Keep, "{kept:?}");
        }
    }

    #[test]
    fn decimal_digits_come_in_runs_of_ten() {
        // The rule `decimal_value` relies on, checked on this version of the tables.
        let mut run = 0u32;
        for code in 0..=0x10FFFFu32 {
            let decimal = char::from_u32(code)
                .is_some_and(|c| c.general_category() == GeneralCategory::DecimalNumber);
            if decimal {
                run += 1;
            } else {
                assert_eq!(run % 10, 0, "a run of {run} digits ends at U+{code:X}");
                run = 0;
            }
        }
    }

    #[test]
    fn spaces_and_dashes_separate() {
        for space in ['\u{a0}', '\u{202f}', '\u{2009}', '\u{2007}', '\u{3000}'] {
            assert_eq!(separator_kind(space), Some(Sep::Space), "{space:?}");
        }
        for dash in [
            '\u{2010}', '\u{2011}', '\u{2013}', '\u{2014}', '\u{2212}', '－',
        ] {
            assert_eq!(separator_kind(dash), Some(Sep::Dash), "{dash:?}");
        }
        assert_eq!(separator_kind('é'), None);
    }

    #[test]
    fn characters_are_read_both_ways() {
        let bytes = "a\u{a0}€𝟘".as_bytes();
        assert_eq!(char_at(bytes, 1), Some(('\u{a0}', 2)));
        assert_eq!(char_at(bytes, 3), Some(('€', 3)));
        assert_eq!(char_before(bytes, 6), Some(('€', 3)));
        assert_eq!(char_before(bytes, 10), Some(('𝟘', 4)));
        assert_eq!(char_before(bytes, 1), Some(('a', 1)));
        assert_eq!(char_before(bytes, 0), None);
    }
}
