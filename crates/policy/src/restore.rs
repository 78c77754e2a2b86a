//! Putting a request's own values back into the answer it gets, whole or streamed.
//!
//! A streamed answer arrives in pieces, and a placeholder may be cut anywhere (`[IB` + `AN_1]`).
//! The restorer holds back only a tail that could still become one of this request's placeholders
//! — from a `[` on, while what follows is a proper prefix of a placeholder it gave out — and lets
//! everything else through at once. Text without `[` is never delayed nor copied.

use std::borrow::Cow;

use crate::Pseudonyms;

/// Restores one stream of text (one choice of a completion).
#[derive(Clone, Debug, Default)]
pub struct Restorer {
    /// The held-back tail: a possible placeholder start, never longer than the longest placeholder.
    pending: String,
}

impl Restorer {
    /// The next piece of text, with every complete placeholder replaced by its value; a possible
    /// placeholder start at its end is kept for the next call.
    pub fn push<'a>(&mut self, pseudonyms: &Pseudonyms, piece: &'a str) -> Cow<'a, str> {
        if self.pending.is_empty() && !piece.contains('[') {
            return Cow::Borrowed(piece);
        }
        let mut text = std::mem::take(&mut self.pending);
        text.push_str(piece);
        let (restored, held) = restore_prefix(pseudonyms, &text);
        self.pending = text[held..].to_owned();
        Cow::Owned(restored)
    }

    /// The end of the stream: whatever was held back, as it was.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Whether text is held back.
    pub fn is_holding(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// A whole text with every placeholder of `pseudonyms` replaced by its value.
pub fn restore<'a>(pseudonyms: &Pseudonyms, text: &'a str) -> Cow<'a, str> {
    if !text.contains('[') || pseudonyms.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut restorer = Restorer::default();
    let mut out = restorer.push(pseudonyms, text).into_owned();
    out.push_str(&restorer.finish());
    Cow::Owned(out)
}

/// Restores `text` up to a possible placeholder start at its end; returns the restored text and
/// where the held-back tail begins.
fn restore_prefix(pseudonyms: &Pseudonyms, text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(offset) = text[search..].find('[') {
        let open = search + offset;
        let window_end = (open + pseudonyms.longest()).min(text.len());
        let window = &text.as_bytes()[open..window_end];
        match window.iter().position(|&b| b == b']') {
            Some(close) => {
                let candidate = &text[open..open + close + 1];
                if let Some(original) = pseudonyms.original(candidate) {
                    out.push_str(&text[copied..open]);
                    out.push_str(original);
                    copied = open + close + 1;
                    search = copied;
                    continue;
                }
            }
            None if pseudonyms.could_start(&text[open..]) => {
                out.push_str(&text[copied..open]);
                return (out, open);
            }
            None => {}
        }
        search = open + 1;
    }
    out.push_str(&text[copied..]);
    (out, text.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PiiType;

    fn pseudonyms() -> Pseudonyms {
        let mut p = Pseudonyms::default();
        p.placeholder(PiiType::Iban, "FR76 3000 6000 0112 3456 7890 189");
        p.placeholder(PiiType::Email, "jean@example.fr");
        p
    }

    const ANSWER: &str = "Le compte [IBAN_1] de [EMAIL_1] [sic] est [IBAN_9] crédité [IBAN_1]";
    const RESTORED: &str = "Le compte FR76 3000 6000 0112 3456 7890 189 de jean@example.fr [sic] est [IBAN_9] crédité FR76 3000 6000 0112 3456 7890 189";

    #[test]
    fn a_whole_answer_gets_its_values_back() {
        assert_eq!(restore(&pseudonyms(), ANSWER), RESTORED);
        assert!(matches!(
            restore(&pseudonyms(), "no placeholder"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn every_split_point_of_a_stream_restores_the_same_text() {
        let p = pseudonyms();
        for cut in 1..ANSWER.len() {
            if !ANSWER.is_char_boundary(cut) {
                continue;
            }
            let mut restorer = Restorer::default();
            let mut out = restorer.push(&p, &ANSWER[..cut]).into_owned();
            out.push_str(&restorer.push(&p, &ANSWER[cut..]));
            out.push_str(&restorer.finish());
            assert_eq!(out, RESTORED, "cut at {cut}");
        }
    }

    #[test]
    fn every_pair_of_split_points_restores_the_same_text() {
        let p = pseudonyms();
        let text = "[IBAN_1][EMAIL_1]x[";
        let expected = "FR76 3000 6000 0112 3456 7890 189jean@example.frx[";
        for a in 0..=text.len() {
            for b in a..=text.len() {
                let mut restorer = Restorer::default();
                let mut out = String::new();
                for piece in [&text[..a], &text[a..b], &text[b..]] {
                    out.push_str(&restorer.push(&p, piece));
                }
                out.push_str(&restorer.finish());
                assert_eq!(out, expected, "cuts at {a} and {b}");
            }
        }
    }

    #[test]
    fn only_a_possible_placeholder_start_is_held_back() {
        let p = pseudonyms();
        let mut restorer = Restorer::default();
        assert_eq!(
            restorer.push(&p, "texte sans crochet"),
            "texte sans crochet"
        );
        assert_eq!(restorer.push(&p, "voir [IB"), "voir ");
        assert!(restorer.is_holding());
        assert_eq!(
            restorer.push(&p, "AN_1] ok"),
            "FR76 3000 6000 0112 3456 7890 189 ok"
        );
        // `[X` cannot start any placeholder given out: nothing is held.
        assert_eq!(restorer.push(&p, "[X"), "[X");
        // `[IBAN_2` is no placeholder of this request either.
        assert_eq!(restorer.push(&p, "[IBAN_2"), "[IBAN_2");
        assert!(!restorer.is_holding());
        assert_eq!(restorer.push(&p, "fin ["), "fin ");
        assert_eq!(restorer.finish(), "[");
    }
}
