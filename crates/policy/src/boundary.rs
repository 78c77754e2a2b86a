//! Token boundaries and group separators: where a number may start and end without cutting inside
//! a longer token, and which separators may split a number into groups.

/// A separator between digit groups. A token uses one kind throughout (`06.12.34.56.78`), which
/// keeps `12.03 2024` from reading as one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sep {
    /// A space, or the no-break spaces French typography puts in numbers (U+00A0, U+202F).
    Space,
    Dot,
    Dash,
}

/// Letters, digits and `_` glue characters into one word; a match may not touch them.
pub(crate) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The separator starting at `i`, with its length in bytes.
pub(crate) fn separator_at(bytes: &[u8], i: usize) -> Option<(Sep, usize)> {
    match bytes.get(i)? {
        b' ' => Some((Sep::Space, 1)),
        b'.' => Some((Sep::Dot, 1)),
        b'-' => Some((Sep::Dash, 1)),
        0xC2 if bytes.get(i + 1) == Some(&0xA0) => Some((Sep::Space, 2)),
        0xE2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xAF) => {
            Some((Sep::Space, 3))
        }
        _ => None,
    }
}

/// The length of a space-like separator ending just before `i`, if any.
fn space_before(bytes: &[u8], i: usize) -> Option<usize> {
    let before = &bytes[..i];
    if before.ends_with(b" ") {
        Some(1)
    } else if before.ends_with(&[0xC2, 0xA0]) {
        Some(2)
    } else if before.ends_with(&[0xE2, 0x80, 0xAF]) {
        Some(3)
    } else {
        None
    }
}

/// Punctuation that, between two digits, makes one longer token: a version (`1.2.3`), a decimal
/// (`12,50`), a range or reference (`12-34`), a date (`12/03`).
fn is_joiner(b: u8) -> bool {
    matches!(b, b'.' | b',' | b'-' | b'/')
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

/// The left context of a number starting at `start` (a digit or `+`).
pub(crate) fn left_context(bytes: &[u8], start: usize) -> Left {
    if start == 0 {
        return Left::Free;
    }
    let previous = bytes[start - 1];
    if is_word(previous) || previous == b'+' {
        return Left::Blocked;
    }
    if is_joiner(previous) && start >= 2 && bytes[start - 2].is_ascii_digit() {
        return Left::Blocked;
    }
    let after_spaced_digits = space_before(bytes, start)
        .is_some_and(|len| start > len && bytes[start - len - 1].is_ascii_digit());
    if after_spaced_digits {
        return Left::AfterSpacedDigits;
    }
    Left::Free
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
    if is_joiner(next) && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let continues_spaced_run = grouped_by == Some(Sep::Space)
        && matches!(separator_at(bytes, end), Some((Sep::Space, len))
            if bytes.get(end + len).is_some_and(u8::is_ascii_digit));
    !continues_spaced_run
}
