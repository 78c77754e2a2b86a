//! Documents' text, read by well-kept readers and kept in its structure: headings, paragraphs
//! and table rows, each with the page it is on (a PDF's page, a spreadsheet's sheet; 1 for a
//! format without pages). `lopdf` reads PDF, `docx-rs` DOCX, `calamine` XLSX, `html2text` HTML,
//! `mail-parser` e-mail (EML), `zip` and `quick-xml` PPTX's slides (`slides`); Markdown and
//! plain text are read as they are.
//!
//! A PDF with pages but no text layer (a scan) is not an error: it comes back flagged
//! `scanned`, with no blocks, so a library can list it as such. A reader that fails on a damaged
//! file gives [`Unreadable::Damaged`]; callers run readers on a blocking thread and treat a
//! reader that gives up in a way of its own the same.

/// The largest document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;
/// The most characters of text a document may give.
pub const MAX_TEXT_CHARS: usize = 2_000_000;

/// The kinds of documents read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pdf,
    Docx,
    Xlsx,
    /// A presentation: a slide a page.
    Pptx,
    Html,
    Markdown,
    /// Plain text: UTF-8 as it is.
    Text,
    /// An e-mail message (RFC 5322, `.eml`).
    Eml,
}

impl Kind {
    /// The kind of a file, by its name's extension.
    pub fn of_name(name: &str) -> Option<Kind> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match extension.as_str() {
            "pdf" => Kind::Pdf,
            "docx" => Kind::Docx,
            "xlsx" => Kind::Xlsx,
            "pptx" => Kind::Pptx,
            "html" | "htm" => Kind::Html,
            "md" | "markdown" => Kind::Markdown,
            "txt" | "text" => Kind::Text,
            "eml" => Kind::Eml,
            _ => return None,
        })
    }

    /// The kind's name, as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pdf => "pdf",
            Kind::Docx => "docx",
            Kind::Xlsx => "xlsx",
            Kind::Pptx => "pptx",
            Kind::Html => "html",
            Kind::Markdown => "markdown",
            Kind::Text => "text",
            Kind::Eml => "eml",
        }
    }
}

/// Why a document's text could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    /// Not one of the [`Kind`]s.
    #[error(
        "this kind of document is not read (PDF, DOCX, XLSX, PPTX, HTML, Markdown, TXT, EML are)"
    )]
    Kind,
    /// Larger than [`MAX_DOCUMENT_BYTES`], or more text than [`MAX_TEXT_CHARS`].
    #[error("the document is larger than 10 MiB or holds more than 2,000,000 characters")]
    Size,
    /// The reader could not read it (damaged, encrypted, not what its name says).
    #[error("the document could not be read: damaged, encrypted or not what its name says")]
    Damaged,
    /// It holds no text (an empty file, a scanned PDF where text is required).
    #[error("the document holds no text")]
    Empty,
}

/// What a block of text is, for chunking that keeps structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Heading,
    Paragraph,
    /// One row of a table, its cells joined by ` | `.
    TableRow,
}

/// A heading, a paragraph or a table row, on its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub page: u32,
    pub kind: BlockKind,
    pub text: String,
}

/// A document's text in its structure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub blocks: Vec<Block>,
    /// Pages (sheets for a spreadsheet; 1 for formats without pages).
    pub pages: u32,
    /// A PDF with pages but no text layer: a scan, whose text would need recognition.
    pub scanned: bool,
}

impl Extracted {
    /// The whole text, a block a line.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for block in &self.blocks {
            text.push_str(&block.text);
            text.push('\n');
        }
        text
    }

    fn chars(&self) -> usize {
        self.blocks.iter().map(|b| b.text.chars().count()).sum()
    }
}

/// The text of a document of `kind`, in its structure.
pub fn extract(kind: Kind, bytes: &[u8]) -> Result<Extracted, Unreadable> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(Unreadable::Size);
    }
    let extracted = match kind {
        Kind::Pdf => pdf(bytes)?,
        Kind::Docx => docx(bytes)?,
        Kind::Xlsx => xlsx(bytes)?,
        Kind::Pptx => slides::pptx(bytes)?,
        Kind::Html => html(bytes)?,
        Kind::Markdown | Kind::Text => plain(utf8(bytes)?, 1),
        Kind::Eml => eml(bytes)?,
    };
    match extracted.chars() {
        0 if !extracted.scanned => Err(Unreadable::Empty),
        n if n > MAX_TEXT_CHARS => Err(Unreadable::Size),
        _ => Ok(extracted),
    }
}

/// A document's text as one string, for a question it is attached to: a scan, which has none,
/// is [`Unreadable::Empty`].
/// Markdown and plain text come back as they are (a question keeps its Markdown).
pub fn text(kind: Kind, bytes: &[u8]) -> Result<String, Unreadable> {
    let extracted = extract(kind, bytes)?;
    let text = match kind {
        Kind::Markdown | Kind::Text => utf8(bytes)?.to_owned(),
        _ => extracted.text(),
    };
    match text.trim() {
        "" => Err(Unreadable::Empty),
        trimmed => Ok(trimmed.to_owned()),
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, Unreadable> {
    std::str::from_utf8(bytes).map_err(|_| Unreadable::Damaged)
}

/// A PDF's text page after page; pages with text but none at all is a scan.
fn pdf(bytes: &[u8]) -> Result<Extracted, Unreadable> {
    let pdf = lopdf::Document::load_mem(bytes).map_err(|_| Unreadable::Damaged)?;
    let mut extracted = Extracted::default();
    for number in pdf.get_pages().into_keys() {
        let text = pdf
            .extract_text(&[number])
            .map_err(|_| Unreadable::Damaged)?;
        extracted.blocks.extend(plain(&text, number).blocks);
        extracted.pages = extracted.pages.max(number);
    }
    extracted.scanned = extracted.pages > 0 && extracted.blocks.is_empty();
    Ok(extracted)
}

/// Markdown or plain text: `#` lines are headings, `|` lines table rows, blank lines end
/// paragraphs.
pub(crate) fn plain(text: &str, page: u32) -> Extracted {
    let mut blocks = Vec::new();
    let mut paragraph = String::new();
    let end_paragraph = |paragraph: &mut String, blocks: &mut Vec<Block>| {
        if !paragraph.is_empty() {
            let text = std::mem::take(paragraph);
            blocks.push(Block {
                page,
                kind: BlockKind::Paragraph,
                text,
            });
        }
    };
    for line in text.lines().map(str::trim) {
        let heading = line.starts_with('#');
        let row = line.starts_with('|');
        if line.is_empty() || heading || row {
            end_paragraph(&mut paragraph, &mut blocks);
        }
        if heading {
            let text = line.trim_start_matches('#').trim().to_owned();
            blocks.push(Block {
                page,
                kind: BlockKind::Heading,
                text,
            });
        } else if row {
            if !line
                .trim_matches(|c| matches!(c, '|' | '-' | ':' | ' '))
                .is_empty()
            {
                let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
                let text = cells.join(" | ");
                blocks.push(Block {
                    page,
                    kind: BlockKind::TableRow,
                    text,
                });
            }
        } else if !line.is_empty() {
            if !paragraph.is_empty() {
                paragraph.push(' ');
            }
            paragraph.push_str(line);
        }
    }
    end_paragraph(&mut paragraph, &mut blocks);
    Extracted {
        blocks,
        pages: 1.max(page),
        scanned: false,
    }
}

/// A DOCX's paragraphs (those styled `Heading…` or `Title` as headings) and tables' rows.
fn docx(bytes: &[u8]) -> Result<Extracted, Unreadable> {
    let docx = docx_rs::read_docx(bytes).map_err(|_| Unreadable::Damaged)?;
    let mut blocks = Vec::new();
    for child in &docx.document.children {
        match child {
            docx_rs::DocumentChild::Paragraph(paragraph) => docx_paragraph(paragraph, &mut blocks),
            docx_rs::DocumentChild::Table(table) => docx_table(table, &mut blocks),
            _ => {}
        }
    }
    Ok(Extracted {
        blocks,
        pages: 1,
        scanned: false,
    })
}

fn docx_paragraph(paragraph: &docx_rs::Paragraph, blocks: &mut Vec<Block>) {
    let text = paragraph.raw_text();
    if text.trim().is_empty() {
        return;
    }
    let style = paragraph.property.style.as_ref().map(|s| s.val.as_str());
    let heading = style.is_some_and(|s| s.starts_with("Heading") || s == "Title");
    let kind = if heading {
        BlockKind::Heading
    } else {
        BlockKind::Paragraph
    };
    blocks.push(Block {
        page: 1,
        kind,
        text: text.trim().to_owned(),
    });
}

fn docx_table(table: &docx_rs::Table, blocks: &mut Vec<Block>) {
    for docx_rs::TableChild::TableRow(row) in &table.rows {
        let mut cells = Vec::new();
        for docx_rs::TableRowChild::TableCell(cell) in &row.cells {
            let mut cell_text = String::new();
            for content in &cell.children {
                match content {
                    docx_rs::TableCellContent::Paragraph(paragraph) => {
                        cell_text.push_str(paragraph.raw_text().trim());
                    }
                    docx_rs::TableCellContent::Table(table) => docx_table(table, blocks),
                    _ => {}
                }
            }
            cells.push(cell_text);
        }
        if cells.iter().any(|c| !c.is_empty()) {
            let text = cells.join(" | ");
            blocks.push(Block {
                page: 1,
                kind: BlockKind::TableRow,
                text,
            });
        }
    }
}

/// An XLSX's sheets, each a page: its name a heading, each non-empty row a table row.
fn xlsx(bytes: &[u8]) -> Result<Extracted, Unreadable> {
    use calamine::Reader;
    let cursor = std::io::Cursor::new(bytes);
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(cursor).map_err(|_| Unreadable::Damaged)?;
    let mut extracted = Extracted::default();
    for (page, name) in (1..).zip(workbook.sheet_names()) {
        let range = workbook
            .worksheet_range(&name)
            .map_err(|_| Unreadable::Damaged)?;
        let heading = Block {
            page,
            kind: BlockKind::Heading,
            text: name,
        };
        extracted.blocks.push(heading);
        for row in range.rows() {
            let cells: Vec<String> = row.iter().map(ToString::to_string).collect();
            if cells.iter().any(|c| !c.trim().is_empty()) {
                let text = cells.join(" | ");
                extracted.blocks.push(Block {
                    page,
                    kind: BlockKind::TableRow,
                    text,
                });
            }
        }
        extracted.pages = page;
    }
    Ok(extracted)
}

/// HTML made Markdown-like text (headings, tables), then read as Markdown.
fn html(bytes: &[u8]) -> Result<Extracted, Unreadable> {
    let text = html2text::from_read(bytes, 10_000).map_err(|_| Unreadable::Damaged)?;
    Ok(plain(&text, 1))
}

/// An e-mail: its subject a heading, its sender a paragraph, then its text body (or its HTML
/// body's text).
fn eml(bytes: &[u8]) -> Result<Extracted, Unreadable> {
    let message = mail_parser::MessageParser::default()
        .parse(bytes)
        .ok_or(Unreadable::Damaged)?;
    let mut extracted = Extracted {
        blocks: Vec::new(),
        pages: 1,
        scanned: false,
    };
    if let Some(subject) = message.subject().filter(|s| !s.trim().is_empty()) {
        let text = subject.trim().to_owned();
        extracted.blocks.push(Block {
            page: 1,
            kind: BlockKind::Heading,
            text,
        });
    }
    let sender = message.from().and_then(|from| from.first());
    if let Some(address) = sender.and_then(|a| a.address()) {
        let text = format!("From: {address}");
        extracted.blocks.push(Block {
            page: 1,
            kind: BlockKind::Paragraph,
            text,
        });
    }
    let body = match message.body_text(0) {
        Some(text) => plain(&text, 1),
        None => match message.body_html(0) {
            Some(html_body) => html(html_body.as_bytes())?,
            None => Extracted::default(),
        },
    };
    extracted.blocks.extend(body.blocks);
    Ok(extracted)
}

mod slides;
#[cfg(test)]
mod tests;
