//! Output policies: the detectors applied to what the model writes, whole or streamed.
//!
//! A stream is cut anywhere, and a value may arrive in pieces (`06 12 3` + `4 56 78`). The guard
//! therefore holds back the trailing run of text that could still grow into personal data — the
//! last word when it is made of characters personal data uses, plus the space-separated groups of
//! capitals and digits before it (`FR76 3000 …`, `06 12 …`) — and scans and releases the rest.
//! A held run longer than [`MAX_HELD_BYTES`] is released anyway, so a stream never stalls.

use std::borrow::Cow;

use crate::actions::{ActionTable, OutputAction, TypeCounts};
use crate::pseudonyms::redaction_marker;
use crate::{Detector, Span};

/// The most text a guard holds back: longer than any value the detectors accept written with
/// spaces (an IBAN of 34 characters in groups of four is 42).
pub const MAX_HELD_BYTES: usize = 256;

/// The output rules of one policy: a detector for the types that have an action, and the actions.
#[derive(Clone, Debug)]
pub struct OutputRules {
    detector: Detector,
    actions: ActionTable<OutputAction>,
}

impl OutputRules {
    pub fn new(actions: ActionTable<OutputAction>) -> Self {
        let types: Vec<_> = actions.iter().map(|(kind, _)| kind).collect();
        OutputRules {
            detector: Detector::new(&types),
            actions,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub fn action(&self, kind: crate::PiiType) -> Option<OutputAction> {
        self.actions.get(kind)
    }

    /// `text` with redacted types replaced by their marker; every span found (redacted or flagged)
    /// is counted in `found`.
    pub fn apply<'a>(&self, text: &'a str, found: &mut TypeCounts) -> Cow<'a, str> {
        let spans = self.detector.scan(text);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        for span in &spans {
            found.add(span.kind);
        }
        let redacted = |span: &&Span| self.actions.get(span.kind) == Some(OutputAction::Redact);
        if !spans.iter().any(|span| redacted(&span)) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for span in spans.iter().filter(redacted) {
            out.push_str(&text[copied..span.start]);
            out.push_str(&redaction_marker(span.kind));
            copied = span.end;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

/// Applies [`OutputRules`] to one stream of text (one choice of a completion).
#[derive(Clone, Debug, Default)]
pub struct OutputGuard {
    pending: String,
    /// What was found so far, for the flag audit event.
    pub found: TypeCounts,
}

impl OutputGuard {
    /// The next piece: what can be released now, checked; a tail that may still grow into
    /// personal data is kept for the next call.
    pub fn push(&mut self, rules: &OutputRules, piece: &str) -> String {
        self.pending.push_str(piece);
        let cut = release_point(&self.pending);
        let released = rules
            .apply(&self.pending[..cut], &mut self.found)
            .into_owned();
        self.pending.replace_range(..cut, "");
        released
    }

    /// The end of the stream: the rest, checked.
    pub fn finish(&mut self, rules: &OutputRules) -> String {
        let rest = std::mem::take(&mut self.pending);
        rules.apply(&rest, &mut self.found).into_owned()
    }
}

/// Where the text that may still grow into personal data begins.
fn release_point(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut start = bytes.len();
    // The last word, unless the text ends with a space: it may be an email or a number in the making.
    if let Some(&last) = bytes.last()
        && !last.is_ascii_whitespace()
    {
        let word_start = word_start(bytes, bytes.len());
        if !bytes[word_start..].iter().all(|&b| may_be_in_value(b)) {
            return bytes.len();
        }
        start = word_start;
        // A sentence may end right after a value: `… 7890 189.`
        let word = &bytes[word_start..];
        let end = word.len()
            - word
                .iter()
                .rev()
                .take_while(|b| b".,;:!?".contains(b))
                .count();
        if !is_group(&word[..end]) {
            return keep_at_most(text, start);
        }
    }
    // Groups of capitals and digits separated by single spaces may be one value written in groups.
    while start >= 2 && bytes[start - 1] == b' ' && !bytes[start - 2].is_ascii_whitespace() {
        let previous = word_start(bytes, start - 1);
        if !is_group(&bytes[previous..start - 1]) {
            break;
        }
        start = previous;
    }
    keep_at_most(text, start)
}

fn keep_at_most(text: &str, start: usize) -> usize {
    if text.len() - start > MAX_HELD_BYTES {
        text.len()
    } else {
        start
    }
}

fn word_start(bytes: &[u8], end: usize) -> usize {
    bytes[..end]
        .iter()
        .rposition(|b| b.is_ascii_whitespace())
        .map_or(0, |i| i + 1)
}

/// Bytes an email, a phone number, an IBAN, a card, an IP address can hold (and non-ASCII bytes,
/// which emails may hold).
fn may_be_in_value(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"@.+-_:()%/'".contains(&b) || !b.is_ascii()
}

/// A group of a value written in groups: digits, capitals and phone punctuation, up to 8 bytes.
fn is_group(word: &[u8]) -> bool {
    !word.is_empty()
        && word.len() <= 8
        && word
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b"+()".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PiiType;

    fn rules(action: OutputAction) -> OutputRules {
        OutputRules::new(
            [
                (PiiType::PhoneFr, action),
                (PiiType::Iban, action),
                (PiiType::Email, action),
            ]
            .into_iter()
            .collect(),
        )
    }

    const TEXT: &str = "Appelez le 06 12 34 56 78 ou écrivez à marie.curie@example.fr, compte FR76 3000 6000 0112 3456 7890 189.";
    const REDACTED: &str =
        "Appelez le [REDACTED_PHONE_FR] ou écrivez à [REDACTED_EMAIL], compte [REDACTED_IBAN].";

    #[test]
    fn whole_text_is_redacted_and_counted() {
        let mut found = TypeCounts::default();
        assert_eq!(
            rules(OutputAction::Redact).apply(TEXT, &mut found),
            REDACTED
        );
        assert_eq!(found.names(), "EMAIL, PHONE_FR, IBAN");
    }

    #[test]
    fn every_split_point_of_a_stream_gives_the_whole_text_result() {
        let rules = rules(OutputAction::Redact);
        for cut in 1..TEXT.len() {
            if !TEXT.is_char_boundary(cut) {
                continue;
            }
            let mut guard = OutputGuard::default();
            let mut out = guard.push(&rules, &TEXT[..cut]);
            out.push_str(&guard.push(&rules, &TEXT[cut..]));
            out.push_str(&guard.finish(&rules));
            assert_eq!(out, REDACTED, "cut at {cut}");
        }
    }

    #[test]
    fn word_by_word_streams_are_redacted_too() {
        let rules = rules(OutputAction::Redact);
        let mut guard = OutputGuard::default();
        let mut out = String::new();
        for piece in TEXT.split_inclusive(' ') {
            out.push_str(&guard.push(&rules, piece));
        }
        out.push_str(&guard.finish(&rules));
        assert_eq!(out, REDACTED);
    }

    #[test]
    fn prose_is_held_back_by_at_most_its_last_word() {
        let rules = rules(OutputAction::Redact);
        let mut guard = OutputGuard::default();
        assert_eq!(guard.push(&rules, "la réponse est "), "la réponse est ");
        assert_eq!(guard.push(&rules, "simple et cla"), "simple et ");
        assert_eq!(guard.push(&rules, "ire. "), "claire. ");
    }

    #[test]
    fn flag_counts_without_changing_the_text() {
        let rules = rules(OutputAction::Flag);
        let mut guard = OutputGuard::default();
        let mut out = guard.push(&rules, &TEXT[..40]);
        out.push_str(&guard.push(&rules, &TEXT[40..]));
        out.push_str(&guard.finish(&rules));
        assert_eq!(out, TEXT);
        assert_eq!(guard.found.names(), "EMAIL, PHONE_FR, IBAN");
    }
}
