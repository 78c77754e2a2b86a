//! The words around a number, where its shape alone cannot tell what it is: `version 10.2.33.4`
//! is no IP address, `commande 482910374` no SIREN although its Luhn check passes, and a 14-digit
//! number that is both a valid SIRET and a Diners Club number is whichever the text calls it.
//!
//! Only the few words just before the number are read (at most [`WORDS`] words within
//! [`REACH`] bytes), compared without regard to case. A word naming the number's own type
//! wins over a word naming another kind of number.

use crate::boundary::skip_space;
use crate::unicode::char_before;

/// How many words before a number are read.
const WORDS: usize = 3;

/// How far back, in bytes, those words may be.
const REACH: usize = 48;

/// What the words before a number say it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Context {
    /// A software version or build (`version`, `v`, `release`…).
    pub(crate) version: bool,
    /// A company's registration (`SIRET`, `SIREN`, `RCS`).
    pub(crate) company: bool,
    /// A payment card (`carte`, `card`, `CB`, `Visa`…).
    pub(crate) card: bool,
    /// Another kind of business number (`commande`, `facture`, `invoice`, `colis`…).
    pub(crate) other_number: bool,
}

/// The context of the number starting at byte `start`.
pub(crate) fn before(bytes: &[u8], start: usize) -> Context {
    let mut context = Context::default();
    let floor = start.saturating_sub(REACH);
    let mut end = start;
    for _ in 0..WORDS {
        // Skip what separates words: spaces, punctuation, `n°`'s degree sign, digits of an
        // earlier number.
        while end > floor && !letter_before(bytes, end).0 {
            end -= letter_before(bytes, end).1.max(1);
        }
        let mut word_start = end;
        while word_start > floor {
            let (letter, len) = letter_before(bytes, word_start);
            if !letter {
                break;
            }
            word_start -= len;
        }
        if word_start == end {
            break;
        }
        match says(&bytes[word_start..end]) {
            Some(Says::Version) => context.version = true,
            Some(Says::Company) => context.company = true,
            Some(Says::Card) => context.card = true,
            Some(Says::OtherNumber) => context.other_number = true,
            None => {}
        }
        end = word_start;
    }
    context
}

/// Whether the character before `i` is a letter, and its length.
fn letter_before(bytes: &[u8], i: usize) -> (bool, usize) {
    match char_before(bytes, i) {
        Some((c, len)) => (c.is_alphabetic(), len),
        None => (false, 1),
    }
}

/// What a word says the number after it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Says {
    Version,
    Company,
    Card,
    OtherNumber,
}

/// The longest word that says something (`mastercard`, `révision`), in bytes.
const LONGEST_WORD: usize = 12;

/// What `word` says, in any case (`SIRET`, `Réf`, `RÉF`).
fn says(word: &[u8]) -> Option<Says> {
    if word.len() > LONGEST_WORD {
        return None;
    }
    let mut folded = [0u8; LONGEST_WORD];
    let mut len = 0;
    for c in std::str::from_utf8(word)
        .ok()?
        .chars()
        .flat_map(char::to_lowercase)
    {
        let end = len + c.len_utf8();
        c.encode_utf8(folded.get_mut(len..end)?);
        len = end;
    }
    let says = match std::str::from_utf8(&folded[..len]).ok()? {
        "version" | "versions" | "v" | "ver" | "release" | "build" | "firmware" | "patch"
        | "rev" | "revision" | "révision" | "update" => Says::Version,
        "siret" | "siren" | "rcs" => Says::Company,
        "carte" | "card" | "cb" | "visa" | "mastercard" | "amex" | "maestro" | "diners" | "jcb" => {
            Says::Card
        }
        "commande" | "facture" | "order" | "invoice" | "ticket" | "colis" | "tracking"
        | "suivi" | "devis" | "quote" | "bordereau" | "contrat" | "contract" | "client"
        | "customer" | "dossier" | "lot" | "série" | "serie" | "serial" | "référence"
        | "reference" | "réf" | "ref" | "transaction" => Says::OtherNumber,
        _ => return None,
    };
    Some(says)
}

/// Whether a currency follows the number ending at `end` (after at most one space): an amount,
/// not an identifier.
pub(crate) fn currency_after(bytes: &[u8], end: usize) -> bool {
    let rest = &bytes[end.min(bytes.len())..];
    let rest = skip_space(rest);
    const CURRENCIES: &[&[u8]] = &[
        "€".as_bytes(),
        b"$",
        "£".as_bytes(),
        b"EUR",
        b"eur",
        b"euro",
        b"USD",
        b"usd",
        b"k\xE2\x82\xAC",
        b"M\xE2\x82\xAC",
    ];
    CURRENCIES.iter().any(|currency| rest.starts_with(currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(text: &str) -> Context {
        before(text.as_bytes(), text.len())
    }

    #[test]
    fn the_words_just_before_are_read() {
        assert!(context("la version ").version);
        assert!(context("Version : ").version);
        assert!(context("v. ").version);
        assert!(!context("le serveur ").version);
        assert!(context("N° SIRET : ").company);
        assert!(context("Siret de la ").company);
        assert!(
            !context("Siret de la maison mère ").company,
            "beyond three words"
        );
        assert!(context("payé par carte n° ").card);
        assert!(context("Commande n° ").other_number);
        assert!(context("n° de commande ").other_number);
        assert!(context("numéro client\u{a0}: ").other_number);
        assert!(context("RÉF. ").other_number);
        assert_eq!(context(""), Context::default());
    }

    #[test]
    fn amounts_end_with_a_currency() {
        let text = "123 456 789 € et 123 456 789 EUR, 123 456 789 euros, 123 456 789 m";
        let ends: Vec<usize> = text.match_indices("789").map(|(i, _)| i + 3).collect();
        let bytes = text.as_bytes();
        assert!(currency_after(bytes, ends[0]));
        assert!(currency_after(bytes, ends[1]));
        assert!(currency_after(bytes, ends[2]));
        assert!(!currency_after(bytes, ends[3]));
    }
}
