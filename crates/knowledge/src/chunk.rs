//! Chunking that keeps a document's structure: a heading starts a new chunk and is carried at
//! the head of every chunk under it (so a passage found alone still says what it is about);
//! paragraphs are kept whole when they fit, cut at sentence ends when they do not; a table's
//! rows are never cut, and a table's chunk repeats its first row (its header) when the table
//! spans several. A chunk never spans two pages, so its citation names one.

use crate::extract::{Block, BlockKind, Extracted};

/// The most characters a chunk aims at (about 300 tokens).
pub const CHUNK_CHARS: usize = 1_200;

/// A passage of a document, cited by its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Its place in the document, from 0.
    pub ordinal: u32,
    pub page: u32,
    /// The heading it is under, if any.
    pub heading: Option<String>,
    /// Its text, the heading first.
    pub text: String,
}

/// Chunks of at most about `CHUNK_CHARS` characters (a single row or sentence longer than that
/// stays whole).
pub fn chunks(extracted: &Extracted) -> Vec<Chunk> {
    let mut chunker = Chunker::default();
    for block in &extracted.blocks {
        chunker.add(block);
    }
    chunker.close();
    chunker.done
}

#[derive(Default)]
struct Chunker {
    done: Vec<Chunk>,
    heading: Option<String>,
    page: u32,
    body: String,
    /// The first row of the table being read, repeated when the table goes on in a new chunk.
    table_header: Option<String>,
}

impl Chunker {
    fn add(&mut self, block: &Block) {
        if block.page != self.page {
            self.close();
            self.page = block.page;
        }
        match block.kind {
            BlockKind::Heading => {
                self.close();
                self.heading = Some(block.text.clone());
                self.table_header = None;
            }
            BlockKind::Paragraph => {
                self.table_header = None;
                for piece in sentences_within(&block.text, CHUNK_CHARS) {
                    self.push(piece, "\n\n");
                }
            }
            BlockKind::TableRow => {
                if self.table_header.is_none() {
                    self.table_header = Some(block.text.clone());
                } else if self.len_with(&block.text) > CHUNK_CHARS {
                    self.close();
                    let header = self.table_header.clone().unwrap_or_default();
                    self.body.push_str(&header);
                }
                self.push(&block.text, "\n");
            }
        }
    }

    fn len_with(&self, text: &str) -> usize {
        self.heading.as_ref().map_or(0, |h| h.len() + 1) + self.body.len() + 2 + text.len()
    }

    /// Adds `text` after `separator`, closing the chunk first when it would overflow.
    fn push(&mut self, text: &str, separator: &str) {
        if !self.body.is_empty() && self.len_with(text) > CHUNK_CHARS {
            self.close();
        }
        if !self.body.is_empty() {
            self.body.push_str(separator);
        }
        self.body.push_str(text);
    }

    fn close(&mut self) {
        if self.body.trim().is_empty() {
            self.body.clear();
            return;
        }
        let body = std::mem::take(&mut self.body);
        let text = match &self.heading {
            Some(heading) => format!("{heading}\n{body}"),
            None => body,
        };
        let ordinal = u32::try_from(self.done.len()).unwrap_or(u32::MAX);
        let heading = self.heading.clone();
        self.done.push(Chunk {
            ordinal,
            page: self.page,
            heading,
            text,
        });
    }
}

/// `text` cut at sentence ends into pieces of at most `limit` bytes (a longer sentence whole).
fn sentences_within(text: &str, limit: usize) -> Vec<&str> {
    if text.len() <= limit {
        return vec![text];
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut last_end = 0;
    for (at, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | ';') {
            let end = at + c.len_utf8();
            if end - start > limit && last_end > start {
                pieces.push(text[start..last_end].trim());
                start = last_end;
            }
            last_end = end;
        }
    }
    if text.len() - start > limit && last_end > start {
        pieces.push(text[start..last_end].trim());
        start = last_end;
    }
    pieces.push(text[start..].trim());
    pieces.retain(|p| !p.is_empty());
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::plain;

    #[test]
    fn a_heading_starts_a_chunk_and_heads_its_passages() {
        let text =
            "# Congés\nLes congés sont de 25 jours.\n\n# Télétravail\nDeux jours par semaine.";
        let chunks = chunks(&plain(text, 1));
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].text, "Congés\nLes congés sont de 25 jours.");
        assert_eq!(chunks[1].heading.as_deref(), Some("Télétravail"));
    }

    #[test]
    fn a_long_table_repeats_its_header_and_never_cuts_a_row() {
        let mut text = String::from("| Ville | Code |\n");
        for n in 0..200 {
            text.push_str(&format!("| Ville numéro {n} | {n:05} |\n"));
        }
        let chunks = chunks(&plain(&text, 3));
        assert!(chunks.len() > 1);
        for chunk in &chunks {
            assert!(chunk.text.starts_with("Ville | Code"), "{}", chunk.text);
            assert!(chunk.text.len() <= CHUNK_CHARS + 40);
            assert_eq!(chunk.page, 3);
        }
        let rows: usize = chunks.iter().map(|c| c.text.lines().count() - 1).sum();
        assert_eq!(rows, 200);
    }

    #[test]
    fn a_long_paragraph_is_cut_at_sentence_ends() {
        let sentence = "Une phrase de la politique interne du groupe. ";
        let text = sentence.repeat(100);
        let chunks = chunks(&plain(&text, 1));
        assert!(chunks.len() > 2);
        for chunk in &chunks {
            assert!(chunk.text.ends_with('.'));
            assert!(chunk.text.len() <= CHUNK_CHARS);
        }
    }
}
