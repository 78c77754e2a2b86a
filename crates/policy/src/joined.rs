//! Several texts read as one: the parts of a message, or the messages of a conversation, which a
//! model reads one after the other. A value split between two of them (`FR7630006000` +
//! `011234567890189`) is found by reading the texts as their concatenation.
//!
//! Each text is scanned on its own, and each boundary between two texts is scanned in a window
//! of at most [`WINDOW`] bytes on each side, copied to the stack; a span is taken from a window
//! only if it crosses the boundary. So a value longer than [`WINDOW`] bytes on one side of a
//! boundary (only possible with hundreds of invisible characters inside it) is not found across
//! it, and reading texts together costs a small window per boundary, not a second scan.
//!
//! Spans of a joint scan are offsets into the concatenation of the texts; [`pieces`] says which
//! parts of which texts a span covers, and [`rewrite_joined`] rewrites the texts.

use std::ops::Range;

use crate::actions::{ActionTable, InputAction};
use crate::pseudonyms::{Pseudonyms, redaction_marker};
use crate::scan::{resolve_overlaps, scan_text};
use crate::{Detector, Span};

/// How many bytes on each side of a boundary a joint scan reads: more than any value the
/// detectors accept takes when written with separators, even no-break ones (an email is at most
/// 254 ASCII characters).
pub const WINDOW: usize = 320;

/// A span is taken from a window only if it stays this far from a window edge that is not the
/// start or end of all the texts, since the detectors look a few bytes around a value.
const EDGE: usize = crate::boundary::LOOKAHEAD;

impl Detector {
    /// The personal data in `texts` read as one text, sorted by start, never overlapping, with
    /// offsets into the concatenation of the texts: each text's own, and the values that run from
    /// one text into the next.
    pub fn scan_joined<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Span> {
        let mut spans = Vec::new();
        if self.enabled == 0 {
            return spans;
        }
        let mut offset = 0;
        for text in texts {
            let text = text.as_ref();
            let first = spans.len();
            scan_text(text, &mut spans);
            for span in &mut spans[first..] {
                span.start += offset;
                span.end += offset;
            }
            offset += text.len();
        }
        let total = offset;
        // Every start of a text after some text: empty texts join nothing.
        let mut boundary = 0;
        for (index, text) in texts.iter().enumerate() {
            let len = text.as_ref().len();
            if boundary > 0 && len > 0 {
                crossing(texts, index, boundary, total, &mut spans);
            }
            boundary += len;
        }
        resolve_overlaps(&mut spans, 0);
        spans.retain(|span| self.is_enabled(span.kind));
        spans
    }
}

/// Pushes the spans crossing the boundary at `boundary` (an offset of the concatenation), where
/// text `index` starts.
fn crossing<S: AsRef<str>>(
    texts: &[S],
    index: usize,
    boundary: usize,
    total: usize,
    spans: &mut Vec<Span>,
) {
    let mut buffer = [0u8; 2 * WINDOW];
    let mut len = 0;
    // Back from the boundary, up to WINDOW bytes: the first text read may start inside.
    let mut first = index;
    let mut wanted = WINDOW;
    let mut skip = 0;
    while first > 0 && wanted > 0 {
        first -= 1;
        let text = texts[first].as_ref();
        skip = text.len().saturating_sub(wanted);
        while !text.is_char_boundary(skip) {
            skip += 1;
        }
        wanted = wanted.saturating_sub(text.len());
    }
    for text in &texts[first..index] {
        let part = &text.as_ref().as_bytes()[skip..];
        buffer[len..len + part.len()].copy_from_slice(part);
        len += part.len();
        skip = 0;
    }
    let window_offset = boundary - len;
    let local_boundary = len;
    // On from the boundary, up to WINDOW bytes: the last text read may end inside.
    for text in &texts[index..] {
        let text = text.as_ref();
        let mut take = text.len().min(local_boundary + WINDOW - len);
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        buffer[len..len + take].copy_from_slice(&text.as_bytes()[..take]);
        len += take;
        if take < text.len() || len == local_boundary + WINDOW {
            break;
        }
    }
    let Ok(window) = std::str::from_utf8(&buffer[..len]) else {
        return;
    };
    if !window
        .bytes()
        .any(|b| b.is_ascii_digit() || b == b'@' || b >= 0x80)
    {
        return;
    }
    let mut found = Vec::new();
    scan_text(window, &mut found);
    for span in found {
        let crosses = span.start < local_boundary && span.end > local_boundary;
        let clear_of_start = window_offset == 0 || span.start >= EDGE;
        let clear_of_end = window_offset + len == total || span.end + EDGE <= len;
        if crosses && clear_of_start && clear_of_end {
            spans.push(Span {
                start: span.start + window_offset,
                end: span.end + window_offset,
                kind: span.kind,
            });
        }
    }
}

/// The parts of `range` (offsets of the concatenation) in each text, as `(text index, range in
/// that text)`, in order; empty parts are left out.
fn pieces_of<S: AsRef<str>>(
    texts: &[S],
    range: Range<usize>,
) -> impl Iterator<Item = (usize, Range<usize>)> + '_ {
    let mut text_start = 0;
    texts.iter().enumerate().filter_map(move |(index, text)| {
        let start = text_start;
        let end = start + text.as_ref().len();
        text_start = end;
        let from = range.start.max(start);
        let to = range.end.min(end);
        (from < to).then(|| (index, from - start..to - start))
    })
}

/// The parts of the texts that `span`, from [`Detector::scan_joined`], covers: `(text index,
/// range in that text)`, in order.
pub fn pieces<'t, S: AsRef<str>>(
    texts: &'t [S],
    span: &Span,
) -> impl Iterator<Item = (usize, Range<usize>)> + 't {
    pieces_of(texts, span.start..span.end)
}

/// The texts scanned together by [`Detector::scan_joined`] with each span whose type is redacted
/// or pseudonymized in `actions` replaced, as `(text index, new text)` for the texts that change.
/// A value split between texts is replaced in the text where it starts and removed from the
/// others; its pseudonym stands for the whole value.
pub fn rewrite_joined<S: AsRef<str>>(
    texts: &[S],
    spans: &[Span],
    actions: &ActionTable<InputAction>,
    pseudonyms: &mut Pseudonyms,
) -> Vec<(usize, String)> {
    let mut replacements: Vec<(Span, String)> = Vec::new();
    for span in spans {
        let replacement = match actions.get(span.kind) {
            Some(InputAction::Pseudonymize) => {
                let value: String = pieces(texts, span)
                    .map(|(index, range)| &texts[index].as_ref()[range])
                    .collect();
                pseudonyms.placeholder(span.kind, &value).to_owned()
            }
            Some(InputAction::Redact) => redaction_marker(span.kind),
            Some(InputAction::Block | InputAction::Flag) | None => continue,
        };
        replacements.push((*span, replacement));
    }
    splice(texts, &replacements)
}

/// The texts read as one with each span (offsets of the concatenation) replaced by its
/// replacement, as `(text index, new text)` for the texts that change: a replacement goes where
/// its span starts, and the rest of the span is removed from the texts it runs into. `spans` are
/// sorted and do not overlap.
pub(crate) fn splice<S: AsRef<str>>(
    texts: &[S],
    replacements: &[(Span, String)],
) -> Vec<(usize, String)> {
    let mut changed = Vec::new();
    if replacements.is_empty() {
        return changed;
    }
    let mut text_start = 0;
    for (index, text) in texts.iter().enumerate() {
        let text = text.as_ref();
        let text_end = text_start + text.len();
        let mut new: Option<String> = None;
        let mut copied = 0;
        for (span, replacement) in replacements {
            if span.start >= text_end || span.end <= text_start {
                continue;
            }
            let new = new.get_or_insert_with(|| String::with_capacity(text.len()));
            new.push_str(&text[copied..span.start.saturating_sub(text_start)]);
            if span.start >= text_start {
                new.push_str(replacement);
            }
            copied = span.end.min(text_end) - text_start;
        }
        if let Some(mut new) = new {
            new.push_str(&text[copied..]);
            changed.push((index, new));
        }
        text_start = text_end;
    }
    changed
}
