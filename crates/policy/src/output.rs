//! Output policies: the detectors applied to what the model writes, whole or streamed.
//!
//! A stream is cut anywhere, and a value may arrive in pieces (`06 12 3` + `4 56 78`). The guard
//! therefore holds back the trailing run of text that could still grow into personal data — the
//! last word when it is made of characters personal data uses, plus the space-separated
//! number-like words before it (`FR76 3000 …`, `fr 76 …`, `06 12 …`, groups joined by no-break
//! spaces or written in full-width digits) — and scans and releases the rest.
//!
//! A held run longer than [`MAX_HELD_BYTES`] is not held whole, so a stream never stalls, but it
//! is never cut inside a value either: only the text older than the last [`WINDOW`] bytes — more
//! than the longest value the detectors accept — is released, and never in the middle of a value
//! found there; the window slides on. The held text is always scanned together with the end of
//! the text already released, so that it reads as it does in the whole answer.
//!
//! What follows a value decides it too (`123 456 789,50` is an amount, `10.0.0.0/33` no
//! address): a value is released only once the [`LOOKAHEAD`] bytes after it have arrived, or the
//! stream has ended. So the pieces give, for any cuts, exactly what the whole text gives.

use std::borrow::Cow;

use crate::actions::{ActionTable, OutputAction, TypeCounts};
use crate::boundary::LOOKAHEAD;
use crate::joined::splice;
use crate::pseudonyms::redaction_marker;
use crate::unicode::{Fold, fold, separator_kind};
use crate::{Detector, Span, WINDOW};

/// The most text a guard holds back before it releases all but the last [`WINDOW`] bytes.
pub const MAX_HELD_BYTES: usize = 512;

/// How much released text a guard keeps to read the held text in its context: more than the
/// detectors look back (the words before a number, `context::REACH`).
const CONTEXT_BYTES: usize = 64;

/// The most released text a guard keeps, when the word [`CONTEXT_BYTES`] back runs on that far:
/// a value a word read from its middle makes up starts within an email's longest local part of
/// the cut and ends within the longest address after it (about 510 bytes), so it cannot reach
/// the held text, nor overlap a value that does.
const MAX_CONTEXT_BYTES: usize = 1024;

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

    /// Whether some type is redacted, so that what the model writes may change.
    pub fn redacts(&self) -> bool {
        self.actions
            .iter()
            .any(|(_, action)| action == OutputAction::Redact)
    }

    /// The pieces of one text — the tokens of an answer, as `logprobs` lists them — read as one,
    /// with redacted values replaced: a marker goes to the piece where its value starts, and the
    /// rest of the value is removed from the pieces it runs into. Returns `(piece index, new
    /// piece)` for the pieces that change.
    pub fn apply_pieces<S: AsRef<str>>(&self, pieces: &[S]) -> Vec<(usize, String)> {
        if !self.redacts() {
            return Vec::new();
        }
        let joined: String = pieces.iter().map(AsRef::as_ref).collect();
        let replacements: Vec<(Span, String)> = self
            .detector
            .scan(&joined)
            .into_iter()
            .filter(|span| self.actions.get(span.kind) == Some(OutputAction::Redact))
            .map(|span| (span, redaction_marker(span.kind)))
            .collect();
        splice(pieces, &replacements)
    }

    /// `text` with redacted types replaced by their marker; every span found (redacted or flagged)
    /// is counted in `found`.
    pub fn apply<'a>(&self, text: &'a str, found: &mut TypeCounts) -> Cow<'a, str> {
        let spans = self.detector.scan(text);
        self.apply_spans(text, 0, &spans, found)
    }

    /// `text` with the `spans` (of a text of which `text` starts at `offset`) applied.
    fn apply_spans<'a>(
        &self,
        text: &'a str,
        offset: usize,
        spans: &[Span],
        found: &mut TypeCounts,
    ) -> Cow<'a, str> {
        for span in spans {
            found.add(span.kind);
        }
        let redacted = |span: &&Span| self.actions.get(span.kind) == Some(OutputAction::Redact);
        if !spans.iter().any(|span| redacted(&span)) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for span in spans.iter().filter(redacted) {
            out.push_str(&text[copied..span.start - offset]);
            out.push_str(&redaction_marker(span.kind));
            copied = span.end - offset;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

/// Applies [`OutputRules`] to one stream of text (one choice of a completion).
#[derive(Clone, Debug, Default)]
pub struct OutputGuard {
    /// The end of the text already released (at most [`CONTEXT_BYTES`]), then the held text.
    pending: String,
    /// Where the held text starts in `pending`.
    held_from: usize,
    /// What was found so far, for the flag audit event.
    pub found: TypeCounts,
}

impl OutputGuard {
    /// The next piece: what can be released now, checked; a tail that may still grow into
    /// personal data is kept for the next call.
    pub fn push(&mut self, rules: &OutputRules, piece: &str) -> String {
        self.pending.push_str(piece);
        let cut = release_point(&self.pending, self.held_from);
        // A value is decided by the bytes just after it too (`00074,00074` is no SIRET,
        // `… 00074 €` an amount): one ending closer than that to what has arrived may still
        // change, either way.
        let settled = self.pending.len().saturating_sub(LOOKAHEAD);
        self.release(rules, cut, settled)
    }

    /// The end of the stream: the rest, checked.
    pub fn finish(&mut self, rules: &OutputRules) -> String {
        let end = self.pending.len();
        let released = self.release(rules, end, end);
        self.pending.clear();
        self.held_from = 0;
        released
    }

    /// Releases the held text up to `cut`, or up to the start of a value `cut` would split or
    /// that ends past `settled`, where what follows it has not all arrived.
    fn release(&mut self, rules: &OutputRules, mut cut: usize, settled: usize) -> String {
        if cut == self.held_from {
            return String::new();
        }
        let spans = rules.detector.scan(&self.pending);
        // Spans starting in the released context were released already.
        let held_from = self.held_from;
        if let Some(open) = spans
            .iter()
            .find(|s| s.start >= held_from && s.start < cut && s.end > cut.min(settled))
        {
            cut = open.start;
        }
        let released: Vec<Span> = spans
            .into_iter()
            .filter(|s| s.start >= held_from && s.end <= cut)
            .collect();
        let out = rules
            .apply_spans(
                &self.pending[held_from..cut],
                held_from,
                &released,
                &mut self.found,
            )
            .into_owned();
        let keep_from = context_start(&self.pending, cut);
        self.pending.replace_range(..keep_from, "");
        self.held_from = cut - keep_from;
        out
    }
}

/// Where the released text kept as context starts: [`CONTEXT_BYTES`] before `cut`, moved back to
/// the start of its word. A word read from its middle is another text: the last 60 letters of a
/// 90-letter run read as an email's local part that the whole run is too long to be, and that
/// phantom address then hides the real one after it from the overlap rule (found by the
/// `policy_stream` fuzz target). A word longer than [`MAX_CONTEXT_BYTES`] is still cut, past the
/// reach of anything a cut word can make up.
fn context_start(text: &str, cut: usize) -> usize {
    let bytes = text.as_bytes();
    let near = cut.saturating_sub(CONTEXT_BYTES);
    let mut start = word_start(bytes, near).max(cut.saturating_sub(MAX_CONTEXT_BYTES));
    while !text.is_char_boundary(start) {
        start += 1;
    }
    start
}

/// Where the text that may still grow into personal data begins in `text`, at or after `from`.
fn release_point(text: &str, from: usize) -> usize {
    let start = hold_back_start(text.as_bytes(), from);
    if text.len() - start <= MAX_HELD_BYTES {
        return start;
    }
    let mut window_start = text.len() - WINDOW;
    while !text.is_char_boundary(window_start) {
        window_start += 1;
    }
    window_start.max(from)
}

/// The start of the trailing run that may still grow into a value.
fn hold_back_start(bytes: &[u8], from: usize) -> usize {
    let mut start = bytes.len();
    // Where the last word starts when it is letters that may begin a group of an IBAN
    // (`FR76 e` of `FR76 e000 …`): the groups before it are held with it only if one has a digit.
    let mut letters_from = None;
    // The last word, unless the text ends with whitespace: it may be a value in the making, from
    // after the last character no value holds (`"FR76`, `IBAN:FR76`).
    if let Some(&last) = bytes[from..].last()
        && !last.is_ascii_whitespace()
    {
        let word_start = word_start(bytes, bytes.len()).max(from);
        let word = &bytes[word_start..];
        start = word_start
            + word
                .iter()
                .rposition(|&b| !may_be_in_value(b))
                .map_or(0, |i| i + 1);
        let tail = &bytes[start..];
        // A sentence may end right after a value: `… 7890 189.`
        let trimmed = tail.len()
            - tail
                .iter()
                .rev()
                .take_while(|b| b".,;:!?".contains(b))
                .count();
        let (groups_from, whole) = number_like_tail(&tail[..trimmed]);
        let group_start = start == word_start && trimmed == tail.len() && is_group_start(tail);
        if groups_from.is_none() && group_start {
            letters_from = Some(start);
        } else if groups_from.is_none() || !whole || start > word_start {
            return start;
        }
    }
    // Number-like words separated by single spaces may be one value written in groups.
    while start >= from + 2 && bytes[start - 1] == b' ' && !bytes[start - 2].is_ascii_whitespace() {
        let previous = word_start(bytes, start - 1).max(from);
        let (Some(groups_from), whole) = number_like_tail(&bytes[previous..start - 1]) else {
            break;
        };
        start = previous + groups_from;
        if !whole {
            break;
        }
    }
    match letters_from {
        Some(letters_from) if !has_digit(&bytes[start..letters_from]) => letters_from,
        _ => start,
    }
}

/// Letters that may begin a group of an IBAN written in groups of four (`e` of `e000`, `NWB` of
/// `NWBK`); two or four are a country or bank code already (`number_like_tail`).
fn is_group_start(word: &[u8]) -> bool {
    (1..4).contains(&word.len()) && word.iter().all(u8::is_ascii_alphabetic)
}

/// Whether `text` holds a digit of any script.
fn has_digit(text: &[u8]) -> bool {
    String::from_utf8_lossy(text)
        .chars()
        .any(|c| match fold(c) {
            Fold::Ascii(b) => b.is_ascii_digit(),
            Fold::Keep | Fold::Drop => c.is_ascii_digit(),
        })
}

fn word_start(bytes: &[u8], end: usize) -> usize {
    bytes[..end]
        .iter()
        .rposition(|b| b.is_ascii_whitespace())
        .map_or(0, |i| i + 1)
}

/// Bytes an email, a phone number, an IBAN, a card, an IP address can hold (and non-ASCII bytes:
/// letters of emails, no-break spaces, full-width forms, invisible characters).
fn may_be_in_value(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"@.+-_:()%/'".contains(&b) || !b.is_ascii()
}

/// Where the number-like end of `word` starts, if it has one, and whether that is the whole
/// word. Number-like: digits of any script, letters, phone punctuation and the characters people
/// put inside numbers (no-break spaces, dashes, invisible characters), with a digit — or two or
/// four ASCII letters, which may be an IBAN's country code (`fr`) or bank code (`WEST`).
fn number_like_tail(word: &[u8]) -> (Option<usize>, bool) {
    let Ok(word) = std::str::from_utf8(word) else {
        return (None, false);
    };
    let from = word
        .char_indices()
        .rev()
        .find(|&(_, c)| !in_group(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let tail = &word[from..];
    let has_digit = has_digit(tail.as_bytes());
    let short_code = matches!(tail.len(), 2 | 4) && tail.bytes().all(|b| b.is_ascii_alphabetic());
    // Invisible characters and Unicode spaces alone (`6 ` + `\u{200b}`) may be inside a number
    // whose next group has not arrived yet.
    let inside = !tail.is_empty() && tail.chars().all(|c| !c.is_ascii());
    (
        (has_digit || short_code || inside).then_some(from),
        from == 0,
    )
}

/// A character of a group of a value written in groups.
fn in_group(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "+().-".contains(c)
    } else {
        fold(c) != Fold::Keep || separator_kind(c).is_some()
    }
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
                (PiiType::CreditCard, action),
            ]
            .into_iter()
            .collect(),
        )
    }

    const TEXT: &str = "Appelez le 06 12 34 56 78 ou écrivez à marie.curie@example.fr, compte FR76 3000 6000 0112 3456 7890 189.";
    const REDACTED: &str =
        "Appelez le [REDACTED_PHONE_FR] ou écrivez à [REDACTED_EMAIL], compte [REDACTED_IBAN].";

    /// The texts whose every split point is checked: values in the shapes people and models
    /// write, and runs longer than a guard holds.
    fn texts() -> Vec<String> {
        let long_run = "ABCD ".repeat(120);
        let long_digits = "1234 ".repeat(120);
        vec![
            TEXT.to_owned(),
            "iban fr76 3000 6000 0112 3456 7890 189 merci".to_owned(),
            "IBAN FR 76 3000 6000 0112 3456 7890 189".to_owned(),
            "IBAN\u{a0}: FR76\u{a0}3000\u{a0}6000\u{a0}0112\u{a0}3456\u{a0}7890\u{a0}189.".to_owned(),
            "« FR76-3000-6000-0112-3456-7890-189 » et «FR7630006000011234567890189».".to_owned(),
            "IBAN:FR76 30006 00001 12345678901 89 (RIB)".to_owned(),
            "tél ０６ １２ ３４ ５６ ７８ ou 06\u{200b}12 34 56 78, ada＠example.com".to_owned(),
            "tél 06\u{202f}12\u{202f}34\u{202f}56\u{202f}78 ; carte 4970\u{2009}1012\u{2009}3456\u{2009}7893".to_owned(),
            format!("codes {long_run}carte 4970 1012 3456 7893 fin."),
            format!("{long_run}4970 1012 3456 7893 puis {long_run}FR76 3000 6000 0112 3456 7890 189"),
            format!("suite {long_digits}et la carte 4970 1012 3456 7893"),
            format!("{} jean.dupont@example.fr", "x".repeat(600)),
            // Two `@` in one word, the first after a run too long for a local part: only the
            // second address is one, whatever part of the run the guard still holds.
            format!("Le s jean{}@example.{}@example.fr fin", "n".repeat(63), "n".repeat(10)),
            format!(
                "Le s{} jean{}@example.{}@example.fr",
                "x".repeat(600),
                "n".repeat(90),
                "n".repeat(50)
            ),
        ]
    }

    /// What a guard releases for `pieces` pushed one after the other, then finished.
    fn streamed<'a>(rules: &OutputRules, pieces: impl IntoIterator<Item = &'a str>) -> String {
        let mut guard = OutputGuard::default();
        let mut out = String::new();
        for piece in pieces {
            out.push_str(&guard.push(rules, piece));
        }
        out.push_str(&guard.finish(rules));
        out
    }

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
        for text in texts() {
            let whole = rules.apply(&text, &mut TypeCounts::default()).into_owned();
            assert!(whole.contains("[REDACTED_"), "{text:?} has a value");
            for cut in (1..text.len()).filter(|&cut| text.is_char_boundary(cut)) {
                let out = streamed(&rules, [&text[..cut], &text[cut..]]);
                assert_eq!(out, whole, "cut at {cut} of {text:?}");
            }
        }
    }

    #[test]
    fn character_by_character_and_word_by_word_streams_are_redacted_too() {
        let rules = rules(OutputAction::Redact);
        for text in texts() {
            let whole = rules.apply(&text, &mut TypeCounts::default()).into_owned();
            let chars: Vec<String> = text.chars().map(String::from).collect();
            assert_eq!(streamed(&rules, chars.iter().map(String::as_str)), whole);
            assert_eq!(streamed(&rules, text.split_inclusive(' ')), whole);
        }
    }

    #[test]
    fn a_long_run_is_released_but_never_the_digits_of_a_value() {
        // Before: past 256 held bytes the whole run was released, the card in two halves.
        let rules = rules(OutputAction::Redact);
        let text = format!("codes {}4970 1012 3456 7893 fin", "ABCD ".repeat(200));
        let mut guard = OutputGuard::default();
        let mut released = String::new();
        for piece in text.split_inclusive(' ') {
            let out = guard.push(&rules, piece);
            assert!(!out.contains("4970") && !out.contains("7893"), "{out:?}");
            released.push_str(&out);
            assert!(guard.pending.len() <= MAX_HELD_BYTES + CONTEXT_BYTES + 8);
        }
        assert!(
            released.len() > 500,
            "the run before the value was released as it came"
        );
        released.push_str(&guard.finish(&rules));
        assert!(
            released.ends_with("[REDACTED_CREDIT_CARD] fin"),
            "{released}"
        );
    }

    #[test]
    fn a_value_cut_after_an_invisible_character_is_redacted_whole() {
        // Found by the `policy_stream` fuzz target: `6 ` was released with the zero-width space
        // that followed it, so the SIREN `6 \u{200b}12 34 56 78` reached the caller in clear.
        let rules = every_type_redacted();
        let text = "tél 6 \u{200b}12 34 56 78, merci";
        let whole = rules.apply(text, &mut TypeCounts::default()).into_owned();
        assert_eq!(whole, "tél [REDACTED_SIREN], merci");
        let cut = text.find('1').unwrap();
        for pieces in [
            [&text[..cut], &text[cut..]],
            [&text[..cut - 4], &text[cut - 4..]],
        ] {
            assert_eq!(streamed(&rules, pieces), whole, "{pieces:?}");
        }
    }

    #[test]
    fn a_group_of_letters_in_the_making_holds_the_groups_before_it() {
        // Found by the `policy_stream` fuzz target: cut after `fr76 e`, the lone letter was held
        // but `iban fr76 ` released, and with it the IBAN whose next group is `e000`.
        let rules = every_type_redacted();
        let text = "iban fr76 e000 6000 0112 3446 7890 189 merci";
        let whole = rules.apply(text, &mut TypeCounts::default()).into_owned();
        assert_eq!(whole, "iban [REDACTED_IBAN] merci");
        for cut in (1..text.len()).filter(|&cut| text.is_char_boundary(cut)) {
            assert_eq!(
                streamed(&rules, [&text[..cut], &text[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        // Prose is still held back by its last word only when no digit comes before it.
        let mut guard = OutputGuard::default();
        assert_eq!(
            guard.push(&rules, "voir le dossier de Ada a"),
            "voir le dossier de Ada "
        );
    }

    fn every_type_redacted() -> OutputRules {
        OutputRules::new(
            PiiType::ALL
                .into_iter()
                .map(|kind| (kind, OutputAction::Redact))
                .collect(),
        )
    }

    #[test]
    fn a_value_is_released_only_once_what_follows_it_can_no_longer_change_it() {
        // Found by the `policy_stream` fuzz target: `… 00074,` was released as a SIRET, but the
        // whole text goes on `00074`, which makes `00074,00074` one number and no SIRET. The
        // guard released a value while the next bytes could still decide it either way.
        let rules = every_type_redacted();
        let text = "carte 4970\u{2009}101]2\u{2009}3\0\0ET 732 829 320 00074,00074\u{4}oz\u{fffd}\u{fffd},t";
        let whole = rules.apply(text, &mut TypeCounts::default()).into_owned();
        assert_eq!(whole, text, "no value in the whole text");
        let pieces = [
            &text[..10],
            &text[10..38],
            &text[38..40],
            &text[40..43],
            &text[43..45],
            &text[45..],
        ];
        assert_eq!(streamed(&rules, pieces), whole);

        // Each value here is decided by the bytes after it: a decimal part, a currency, a
        // prefix length, a version suffix, the next group of a spaced run.
        let text = "SIRET 732 829 320 00074,00074 ou 732 829 320 00074\u{202f}euros, \
                    SIREN 732 829 320 k€, 10.0.0.0/33, 10.1.2.3-beta, 06 12 34 56 78 90 et \
                    enfin SIRET 732 829 320 00074.";
        let whole = rules.apply(text, &mut TypeCounts::default()).into_owned();
        assert!(
            whole.ends_with("SIRET [REDACTED_SIRET].") && whole.matches("[REDACTED_").count() == 1,
            "{whole}"
        );
        for cut in (1..text.len()).filter(|&cut| text.is_char_boundary(cut)) {
            let out = streamed(&rules, [&text[..cut], &text[cut..]]);
            assert_eq!(out, whole, "cut at {cut}");
        }
        let chars: Vec<String> = text.chars().map(String::from).collect();
        assert_eq!(streamed(&rules, chars.iter().map(String::as_str)), whole);
    }

    #[test]
    fn prose_is_held_back_by_at_most_its_last_word() {
        let rules = rules(OutputAction::Redact);
        let mut guard = OutputGuard::default();
        assert_eq!(guard.push(&rules, "la réponse est "), "la réponse est ");
        assert_eq!(guard.push(&rules, "simple et cla"), "simple et ");
        assert_eq!(guard.push(&rules, "ire. "), "claire. ");
        assert_eq!(guard.push(&rules, "Le compte « FR"), "Le compte « ");
        assert_eq!(guard.push(&rules, "76 3000"), "");
    }

    #[test]
    fn tokens_of_a_value_are_redacted_together() {
        let redact = rules(OutputAction::Redact);
        let tokens = ["Carte", " 49", "70 10", "12 3456", " 789", "3", ", merci"];
        assert_eq!(
            redact.apply_pieces(&tokens),
            [
                (1, " [REDACTED_CREDIT_CARD]".to_owned()),
                (2, String::new()),
                (3, String::new()),
                (4, String::new()),
                (5, String::new()),
            ]
        );
        assert!(redact.apply_pieces(&["Bonjour", " à", " tous"]).is_empty());
        assert!(rules(OutputAction::Flag).apply_pieces(&tokens).is_empty());
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
