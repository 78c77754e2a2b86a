//! Token boundaries and group separators: where a number may start and end without cutting inside
//! a longer token, and which separators may split a number into groups.

use crate::unicode::{char_at, char_before, separator_kind};

/// The most bytes past a value's end that the detectors read to decide it: a Unicode space and
/// `euro` (`context::currency_after`), a dash and a digit ([`right_ok`]), `/32` and a letter
/// (`ip::prefix_length_follows`). A value with this many bytes after it is decided for good.
pub(crate) const LOOKAHEAD: usize = 8;

/// A separator between digit groups. A token uses one kind throughout (`06.12.34.56.78`), which
/// keeps `12.03 2024` from reading as one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sep {
    /// A space, or any Unicode space: the no-break spaces French typography puts in numbers
    /// (U+00A0, U+202F), thin and figure spaces…
    Space,
    Dot,
    Dash,
}

/// Letters, digits and `_` glue characters into one word; a match may not touch them.
pub(crate) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The separator starting at `i`, with its length in bytes: a space, `.` or `-`, or any Unicode
/// space or dash (`unicode::separator_kind`), which Word, Outlook and web pages put in numbers.
pub(crate) fn separator_at(bytes: &[u8], i: usize) -> Option<(Sep, usize)> {
    match *bytes.get(i)? {
        b' ' => Some((Sep::Space, 1)),
        b'.' => Some((Sep::Dot, 1)),
        b'-' => Some((Sep::Dash, 1)),
        0x80.. => {
            let (c, len) = char_at(bytes, i)?;
            separator_kind(c).map(|kind| (kind, len))
        }
        _ => None,
    }
}

/// `bytes` without the one space-like separator it may start with.
pub(crate) fn skip_space(bytes: &[u8]) -> &[u8] {
    match separator_at(bytes, 0) {
        Some((Sep::Space, len)) => &bytes[len..],
        _ => bytes,
    }
}

/// The length of a space-like separator ending just before `i`, if any.
pub(crate) fn space_before(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes[..i].last()? {
        b' ' => Some(1),
        0x80.. => {
            let (c, len) = char_before(bytes, i)?;
            (separator_kind(c) == Some(Sep::Space)).then_some(len)
        }
        _ => None,
    }
}

/// The length of the punctuation at `i` that, between two digits, makes one longer token: a
/// version (`1.2.3`), a decimal (`12,50`), a range or reference (`12-34`, `12–34`), a date
/// (`12/03`).
fn joiner_at(bytes: &[u8], i: usize) -> Option<usize> {
    match *bytes.get(i)? {
        b'.' | b',' | b'-' | b'/' => Some(1),
        0x80.. => match separator_at(bytes, i)? {
            (Sep::Dash, len) => Some(len),
            _ => None,
        },
        _ => None,
    }
}

/// What precedes a possible start of a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Left {
    /// Inside a longer token: nothing may start here.
    Blocked,
    /// After another number and a space: only a number written as one group may start here,
    /// since a grouped one would be part of the same space-separated run.
    AfterSpacedDigits,
    /// A free start.
    Free,
}

/// What the character before a number is, for [`left_context`].
#[derive(Clone, Copy)]
enum Before {
    /// Punctuation that, between two digits, makes one token (`joiner_at`).
    Joiner,
    Space,
}

/// The left context of a number starting at `start` (a digit or `+`).
pub(crate) fn left_context(bytes: &[u8], start: usize) -> Left {
    let Some(&previous) = start.checked_sub(1).map(|i| &bytes[i]) else {
        return Left::Free;
    };
    // What precedes `previous`: a digit there makes a joiner or a space part of a longer token.
    let (separator, len) = if previous.is_ascii() {
        if is_word(previous) || previous == b'+' {
            return Left::Blocked;
        }
        let separator = match previous {
            b'.' | b',' | b'-' | b'/' => Some(Before::Joiner),
            b' ' => Some(Before::Space),
            _ => None,
        };
        (separator, 1)
    } else {
        match char_before(bytes, start) {
            Some((c, len)) => match separator_kind(c) {
                Some(Sep::Dash) => (Some(Before::Joiner), len),
                Some(Sep::Space) => (Some(Before::Space), len),
                Some(Sep::Dot) | None => (None, len),
            },
            None => (None, 1),
        }
    };
    let digit_before = start > len && bytes[start - len - 1].is_ascii_digit();
    match separator {
        Some(Before::Joiner) if digit_before => Left::Blocked,
        Some(Before::Space) if digit_before => Left::AfterSpacedDigits,
        _ => Left::Free,
    }
}

/// Whether a match ending at `end` ends its token. `grouped_by` is the separator the match used
/// between its groups, if it has more than one group.
pub(crate) fn right_ok(bytes: &[u8], end: usize, grouped_by: Option<Sep>) -> bool {
    let Some(&next) = bytes.get(end) else {
        return true;
    };
    if is_word(next) {
        return false;
    }
    let joined = match next {
        b'.' | b',' | b'-' | b'/' => bytes.get(end + 1).is_some_and(u8::is_ascii_digit),
        0x80.. => joiner_at(bytes, end)
            .is_some_and(|len| bytes.get(end + len).is_some_and(u8::is_ascii_digit)),
        _ => false,
    };
    if joined {
        return false;
    }
    let continues_spaced_run = grouped_by == Some(Sep::Space)
        && matches!(separator_at(bytes, end), Some((Sep::Space, len))
            if bytes.get(end + len).is_some_and(u8::is_ascii_digit));
    !continues_spaced_run
}
