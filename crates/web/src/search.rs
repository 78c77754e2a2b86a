//! Search over one's own conversations: the words looked for, found in a title or a message
//! without regard to case, and the passage around them to show. Titles and messages are sealed,
//! so a search opens the person's own ones in memory (`conversations::Keeper::search`); no index
//! of their text is ever written.

/// How many characters of context a passage shows on each side of what was found.
const CONTEXT_CHARS: usize = 40;

/// What is looked for, folded to lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle(Vec<char>);

impl Needle {
    /// The words of `query`; `None` when it holds nothing to look for.
    pub fn new(query: &str) -> Option<Needle> {
        let folded: Vec<char> = query.trim().chars().map(fold).collect();
        (!folded.is_empty()).then_some(Needle(folded))
    }

    /// The passage of `text` around the first place it is found, on one line, `…` marking what
    /// is cut; `None` when it is not found.
    pub fn find(&self, text: &str) -> Option<String> {
        let chars: Vec<char> = text.chars().collect();
        let folded: Vec<char> = chars.iter().copied().map(fold).collect();
        let at = folded
            .windows(self.0.len())
            .position(|window| window == self.0.as_slice())?;
        let start = at.saturating_sub(CONTEXT_CHARS);
        let end = (at + self.0.len() + CONTEXT_CHARS).min(chars.len());
        let mut passage = String::new();
        if start > 0 {
            passage.push('…');
        }
        passage.extend(chars[start..end].iter().map(|&c| match c.is_whitespace() {
            true => ' ',
            false => c,
        }));
        if end < chars.len() {
            passage.push('…');
        }
        Some(passage)
    }
}

/// One character in lower case, one for one, so positions in the folded text are positions in
/// the text.
fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_whatever_their_case_with_the_passage_around_them() {
        let needle = Needle::new("  Coffre VAUBAN ").unwrap();
        assert_eq!(
            needle.find("Le code du coffre Vauban\nest 4242").as_deref(),
            Some("Le code du coffre Vauban est 4242")
        );
        assert_eq!(needle.find("Le coffre de Vauban"), None);
        let long = format!("{}ÉTÉ{}", "a".repeat(100), "b".repeat(100));
        let found = Needle::new("été").unwrap().find(&long).unwrap();
        assert_eq!(found, format!("…{}ÉTÉ{}…", "a".repeat(40), "b".repeat(40)));
    }

    #[test]
    fn nothing_to_look_for_finds_nothing() {
        assert_eq!(Needle::new(" \n "), None);
        assert_eq!(Needle::new("long").unwrap().find("lo"), None);
    }
}
