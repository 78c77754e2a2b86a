//! The single pass over a text that finds candidate spans of every type, and the resolution of
//! overlaps between them. A text that needs folding (`view`) is scanned through its view and the
//! spans are moved back to the original.

use crate::unicode::{Fold, char_at, fold};
use crate::view::View;
use crate::{PiiType, Span, email, iban, ip, numeric};

/// A text as the detectors read it: its bytes, and where invisible characters were dropped from
/// it (empty unless it is a view).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Text<'a> {
    pub(crate) str: &'a str,
    pub(crate) bytes: &'a [u8],
    /// Offsets (sorted) at which the view dropped invisible characters.
    drops: &'a [usize],
    /// Whether this is a view, whose characters fold no further.
    is_view: bool,
}

impl<'a> Text<'a> {
    /// A text as it was written.
    pub(crate) fn plain(str: &'a str) -> Self {
        Text {
            str,
            bytes: str.as_bytes(),
            drops: &[],
            is_view: false,
        }
    }

    /// A view, which dropped invisible characters at `drops`.
    pub(crate) fn view(str: &'a str, drops: &'a [usize]) -> Self {
        Text {
            str,
            bytes: str.as_bytes(),
            drops,
            is_view: true,
        }
    }

    /// Whether invisible characters stood strictly inside `start..end`: a number written with
    /// them (`06\u{200b}12 34 56 78`) is read as if they were not there, whatever its grouping.
    pub(crate) fn glued_inside(&self, start: usize, end: usize) -> bool {
        let first_after_start = self.drops.partition_point(|&at| at <= start);
        self.drops
            .get(first_after_start)
            .is_some_and(|&at| at < end)
    }
}

/// Appends every span of `text`, of every type, sorted and not overlapping, to `spans`. The text
/// is scanned as it is until a character that folds turns up; then it is scanned again, through
/// its view.
pub(crate) fn scan_text(text: &str, spans: &mut Vec<Span>) {
    let first = spans.len();
    if find_candidates(Text::plain(text), spans) == Pass::NeedsView {
        spans.truncate(first);
        if let Some(view) = View::of(text) {
            find_candidates(view.text(), spans);
            view.map_back(text, &mut spans[first..]);
        }
    }
    resolve_overlaps(spans, first);
}

/// How a pass over a text ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Done,
    /// The text holds a character that folds: it must be read through its view.
    NeedsView,
}

/// What a byte may start, so the scan loop skips everything else with one table lookup.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    None,
    Digit,
    Plus,
    At,
    Colon,
    /// The first byte of a non-ASCII character that may fold. Accented Latin letters (first
    /// bytes C3–C5) and the bytes inside characters never do.
    NonAscii,
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
    table[0xC2] = Trigger::NonAscii;
    let mut b = 0xC6;
    while b <= 0xF4 {
        table[b as usize] = Trigger::NonAscii;
        b += 1;
    }
    table
};

/// The pass over `text`: pushes every candidate span, in roughly increasing order (spans found by
/// looking back may start before earlier ones; [`resolve_overlaps`] sorts that out). Stops at the
/// first character that folds, unless `text` is a view already.
fn find_candidates(text: Text<'_>, spans: &mut Vec<Span>) -> Pass {
    let bytes = text.bytes;
    let mut i = 0;
    // IPv6 windows already examined end here, so a run of colons is read once, not per colon.
    let mut ipv6_checked_until = 0;
    while i < bytes.len() {
        let Some(offset) = skip_to_trigger(&bytes[i..]) else {
            break;
        };
        i += offset;
        let found = match TRIGGERS[bytes[i] as usize] {
            Trigger::None => None,
            Trigger::NonAscii => match char_at(bytes, i) {
                Some((c, _)) if !text.is_view && fold(c) != Fold::Keep => return Pass::NeedsView,
                Some((_, len)) => {
                    i += len;
                    continue;
                }
                None => None,
            },
            Trigger::Digit => at_digit(text, i),
            Trigger::Plus => numeric_at(text, i),
            Trigger::At => email::around_at(text.str, i).map(|(start, end)| Span {
                start,
                end,
                kind: PiiType::Email,
            }),
            Trigger::Colon if i < ipv6_checked_until => None,
            Trigger::Colon => {
                let (found, window_end) = ip::ipv6_around_colon(bytes, i);
                ipv6_checked_until = window_end;
                found.map(|(start, end)| Span {
                    start,
                    end,
                    kind: PiiType::Ipv6,
                })
            }
        };
        i = match found {
            Some(span) => {
                spans.push(span);
                span.end.max(i + 1)
            }
            // A digit right after a digit starts nothing: skip the rest of the run.
            None if bytes[i].is_ascii_digit() => {
                i + 1
                    + bytes[i + 1..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .count()
            }
            None => i + 1,
        };
    }
    Pass::Done
}

/// The offset of the first byte of `bytes` that may start work.
fn skip_to_trigger(bytes: &[u8]) -> Option<usize> {
    const STARTS_WORK: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            table[b] = !matches!(TRIGGERS[b], Trigger::None);
            b += 1;
        }
        table
    };
    bytes.iter().position(|&b| STARTS_WORK[b as usize])
}

/// A digit: inside a word, only an IBAN's check digits after its country code can start here;
/// after a space, an IBAN whose country code stands apart (`FR 76 …`), else a number.
fn at_digit(text: Text<'_>, i: usize) -> Option<Span> {
    let bytes = text.bytes;
    let iban = if may_be_check_digits(bytes, i) {
        iban::find_at_check_digits(bytes, i).map(|(start, end)| Span {
            start,
            end,
            kind: PiiType::Iban,
        })
    } else {
        None
    };
    if i > 0 && crate::boundary::is_word(bytes[i - 1]) {
        iban
    } else {
        iban.or_else(|| numeric_at(text, i))
    }
}

/// The quick test before looking for an IBAN: two digits, after a letter, or after a letter and
/// a space, or after a non-ASCII character (a no-break space).
fn may_be_check_digits(bytes: &[u8], i: usize) -> bool {
    bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
        && match i.checked_sub(1).map(|p| bytes[p]) {
            Some(b' ') => i >= 3 && bytes[i - 2].is_ascii_alphabetic(),
            Some(b) => b.is_ascii_alphabetic() || !b.is_ascii(),
            None => false,
        }
}

fn numeric_at(text: Text<'_>, i: usize) -> Option<Span> {
    numeric::classify(text, i).map(|(kind, end)| Span {
        start: i,
        end,
        kind,
    })
}

/// Sorts `spans[first..]` by start and removes overlaps: of two overlapping spans the longer one
/// stays, and on equal length the earlier one. The kept span can only conflict with the last one
/// kept, because every earlier kept span ends before that one starts.
pub(crate) fn resolve_overlaps(spans: &mut Vec<Span>, first: usize) {
    if spans.len() < first + 2 {
        return;
    }
    spans[first..].sort_unstable_by_key(|span| (span.start, std::cmp::Reverse(span.end)));
    let mut kept = first;
    for index in first + 1..spans.len() {
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
