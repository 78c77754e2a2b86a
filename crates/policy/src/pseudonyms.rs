//! Rewriting input texts: redaction markers and pseudonyms.
//!
//! A redacted value becomes `[REDACTED_<TYPE>]`; a pseudonymized one becomes `[<TYPE>_<n>]`, `n`
//! counting the distinct values of that type in the request from 1, so the same value gets the same
//! placeholder in every message of the request. The mapping ([`Pseudonyms`]) lives only in the
//! request's memory: it is what lets [`crate::Restorer`] put the values back in the answer.

use crate::actions::{ActionTable, InputAction};
use crate::{PiiType, Span};

/// The pseudonyms given out in one request: placeholder ↔ original value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pseudonyms {
    /// `(type, original value, placeholder)`, in the order given out. Requests carry a handful of
    /// values, so a list searched linearly beats a map.
    entries: Vec<(PiiType, String, String)>,
    counts: [u32; PiiType::ALL.len()],
    /// The longest placeholder, which bounds how much of a stream a restorer may hold back.
    longest: usize,
}

impl Pseudonyms {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The placeholder of `value`, given out now if it has none yet.
    pub fn placeholder(&mut self, kind: PiiType, value: &str) -> &str {
        let found = self
            .entries
            .iter()
            .position(|(k, v, _)| *k == kind && v == value);
        let index = match found {
            Some(index) => index,
            None => {
                let count = &mut self.counts[kind as usize];
                *count += 1;
                let placeholder = format!("[{}_{}]", kind.as_str(), count);
                self.longest = self.longest.max(placeholder.len());
                self.entries.push((kind, value.to_owned(), placeholder));
                self.entries.len() - 1
            }
        };
        &self.entries[index].2
    }

    /// The original value behind `placeholder`, if it is one of this request's.
    pub fn original(&self, placeholder: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, _, p)| p == placeholder)
            .map(|(_, v, _)| v.as_str())
    }

    /// Whether `text` is the beginning, but not the whole, of one of this request's placeholders.
    pub fn could_start(&self, text: &str) -> bool {
        text.len() < self.longest
            && self
                .entries
                .iter()
                .any(|(_, _, p)| p.len() > text.len() && p.starts_with(text))
    }

    pub(crate) fn longest(&self) -> usize {
        self.longest
    }
}

/// The marker a redacted value of `kind` becomes.
pub fn redaction_marker(kind: PiiType) -> String {
    format!("[REDACTED_{}]", kind.as_str())
}

/// `text` with each span whose type is redacted or pseudonymized in `actions` replaced; `None`
/// when no span is (so the caller keeps the text it has). `spans` are [`crate::Detector::scan`]'s:
/// sorted, not overlapping.
pub fn rewrite(
    text: &str,
    spans: &[Span],
    actions: &ActionTable<InputAction>,
    pseudonyms: &mut Pseudonyms,
) -> Option<String> {
    crate::rewrite_joined(&[text], spans, actions, pseudonyms)
        .pop()
        .map(|(_, new)| new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Detector;

    const IBAN: &str = "FR76 3000 6000 0112 3456 7890 189";

    fn table(pairs: &[(PiiType, InputAction)]) -> ActionTable<InputAction> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn the_same_value_gets_the_same_placeholder_across_texts() {
        let actions = table(&[
            (PiiType::Iban, InputAction::Pseudonymize),
            (PiiType::Email, InputAction::Redact),
        ]);
        let mut pseudonyms = Pseudonyms::default();
        let detector = Detector::all();
        let first = format!("Virez sur {IBAN} et écrivez à jean@example.fr");
        let second = format!("Confirmez {IBAN}, pas FR14 2004 1010 0505 0001 3M02 606");
        let a = rewrite(&first, &detector.scan(&first), &actions, &mut pseudonyms).unwrap();
        let b = rewrite(&second, &detector.scan(&second), &actions, &mut pseudonyms).unwrap();
        assert_eq!(a, "Virez sur [IBAN_1] et écrivez à [REDACTED_EMAIL]");
        assert_eq!(b, "Confirmez [IBAN_1], pas [IBAN_2]");
        assert_eq!(pseudonyms.original("[IBAN_1]"), Some(IBAN));
        assert_eq!(
            pseudonyms.original("[IBAN_2]"),
            Some("FR14 2004 1010 0505 0001 3M02 606")
        );
        assert_eq!(
            pseudonyms.original("[EMAIL_1]"),
            None,
            "redaction keeps nothing"
        );
    }

    #[test]
    fn flagged_or_unlisted_types_leave_the_text_alone() {
        let text = "écrivez à jean@example.fr";
        let spans = Detector::all().scan(text);
        let mut pseudonyms = Pseudonyms::default();
        let flagged = table(&[(PiiType::Email, InputAction::Flag)]);
        assert_eq!(rewrite(text, &spans, &flagged, &mut pseudonyms), None);
        assert_eq!(rewrite(text, &spans, &table(&[]), &mut pseudonyms), None);
        assert!(pseudonyms.is_empty());
    }

    #[test]
    fn prefixes_of_placeholders_are_recognized() {
        let mut pseudonyms = Pseudonyms::default();
        pseudonyms.placeholder(PiiType::PhoneFr, "06 12 34 56 78");
        assert!(pseudonyms.could_start("["));
        assert!(pseudonyms.could_start("[PHONE_FR_"));
        assert!(
            !pseudonyms.could_start("[PHONE_FR_1]"),
            "whole, not a start"
        );
        assert!(!pseudonyms.could_start("[IBAN"));
    }
}
