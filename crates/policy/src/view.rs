//! The normalized view of a text: what the detectors scan when the text holds characters that
//! change how it reads (see [`crate::unicode::fold`]) — invisible format characters dropped,
//! full-width forms and other scripts' digits as ASCII — with a map from every byte of the view
//! back to the original, so that a span found in the view covers exactly the original characters
//! that wrote the value (invisible ones inside it included).
//!
//! Most texts need no view: [`View::of`] answers `None` after one pass that only decodes
//! non-ASCII characters, and the text is scanned as it is, without a copy.

use crate::Span;
use crate::scan::Text;
use crate::unicode::{Fold, fold};

/// A text as the detectors read it, and where each of its bytes comes from.
#[derive(Debug)]
pub(crate) struct View {
    text: String,
    /// For each byte of `text`, the offset of the original byte it copies, or of the start of
    /// the original character it stands for.
    origin: Vec<usize>,
    /// Offsets of `text` at which invisible characters were dropped, in order.
    drops: Vec<usize>,
}

impl View {
    /// The view of `text`, or `None` when it would be `text` itself.
    pub(crate) fn of(text: &str) -> Option<View> {
        let first = first_folded(text)?;
        let mut view = View {
            text: String::with_capacity(text.len()),
            origin: Vec::with_capacity(text.len()),
            drops: Vec::new(),
        };
        view.text.push_str(&text[..first]);
        view.origin.extend(0..first);
        for (offset, c) in text[first..].char_indices() {
            let at = first + offset;
            match fold_any(c) {
                Fold::Keep => {
                    view.text.push(c);
                    view.origin.extend(at..at + c.len_utf8());
                }
                Fold::Drop => {
                    if view.drops.last() != Some(&view.text.len()) {
                        view.drops.push(view.text.len());
                    }
                }
                Fold::Ascii(b) => {
                    view.text.push(char::from(b));
                    view.origin.push(at);
                }
            }
        }
        Some(view)
    }

    pub(crate) fn text(&self) -> Text<'_> {
        Text::view(&self.text, &self.drops)
    }

    #[cfg(test)]
    fn as_str(&self) -> &str {
        &self.text
    }

    /// Moves `spans`, found in the view, to the original `text`.
    pub(crate) fn map_back(&self, text: &str, spans: &mut [Span]) {
        for span in spans {
            span.start = self.origin[span.start];
            span.end = next_char_boundary(text, self.origin[span.end - 1] + 1);
        }
    }
}

/// How any character reads: ASCII as itself.
fn fold_any(c: char) -> Fold {
    if c.is_ascii() { Fold::Keep } else { fold(c) }
}

/// The offset of the first character that does not read as itself, if any.
fn first_folded(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b >= 0x80) {
        i += offset;
        // Lead bytes C3–C5 start U+00C0–U+017F, the accented Latin letters, which never fold.
        if matches!(bytes[i], 0xC3..=0xC5) {
            i += 2;
            continue;
        }
        let c = text[i..].chars().next()?;
        if fold(c) != Fold::Keep {
            return Some(i);
        }
        i += c.len_utf8();
    }
    None
}

fn next_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PiiType;

    #[test]
    fn plain_and_accented_texts_need_no_view() {
        assert!(View::of("Réglé à 12 h, café offert — 06\u{a0}12 34 56 78 €").is_none());
        assert!(View::of("").is_none());
    }

    #[test]
    fn the_view_drops_and_folds_and_maps_back_exactly() {
        let text = "tél ０６\u{200b}12 ; é＠x";
        let view = View::of(text).unwrap();
        assert_eq!(view.as_str(), "tél 0612 ; é@x");
        // A span over "0612" in the view covers the full-width digits and the zero-width space.
        let start = view.as_str().find('0').unwrap();
        let mut spans = [Span {
            start,
            end: start + 4,
            kind: PiiType::PhoneFr,
        }];
        view.map_back(text, &mut spans);
        assert_eq!(&text[spans[0].start..spans[0].end], "０６\u{200b}12");
        // A span ending on a kept multi-byte character ends after all its bytes.
        let e = view.as_str().rfind('é').unwrap();
        let mut spans = [Span {
            start: e,
            end: view.as_str().len(),
            kind: PiiType::Email,
        }];
        view.map_back(text, &mut spans);
        assert_eq!(&text[spans[0].start..spans[0].end], "é＠x");
    }
}
