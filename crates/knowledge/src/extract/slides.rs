//! PPTX: a presentation is a zip of XML parts (`zip`); each slide's text is read from its XML
//! (`quick-xml`), slide after slide, a slide a page. Only the text is read: a paragraph
//! (`a:p`) is its runs (`a:t`) joined, a title placeholder's paragraph is a heading, a table row
//! (`a:tr`) its cells joined by ` | `. Notes, layouts and masters are not read.

use std::io::{Cursor, Read as _};

use quick_xml::events::Event;

use super::{Block, BlockKind, Extracted, MAX_DOCUMENT_BYTES, Unreadable};

/// The most slides read.
const MAX_SLIDES: u32 = 10_000;

/// The text of a PPTX presentation, slide after slide.
pub(crate) fn pptx(bytes: &[u8]) -> Result<Extracted, Unreadable> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| Unreadable::Damaged)?;
    let mut slides: Vec<(u32, String)> = archive
        .file_names()
        .filter_map(|name| slide_number(name).map(|n| (n, name.to_owned())))
        .collect();
    slides.sort_unstable();
    let mut extracted = Extracted::default();
    // A zip's parts can inflate far past the file: what is read in all is bounded.
    let mut room = (MAX_DOCUMENT_BYTES * 4) as u64;
    for (number, name) in slides.into_iter().filter(|(n, _)| *n <= MAX_SLIDES) {
        let part = archive.by_name(&name).map_err(|_| Unreadable::Damaged)?;
        let mut xml = String::new();
        part.take(room)
            .read_to_string(&mut xml)
            .map_err(|_| Unreadable::Damaged)?;
        room = room.saturating_sub(xml.len() as u64);
        if room == 0 {
            return Err(Unreadable::Size);
        }
        extracted.blocks.extend(slide(&xml, number)?);
        extracted.pages = extracted.pages.max(number);
    }
    if extracted.pages == 0 {
        return Err(Unreadable::Damaged);
    }
    Ok(extracted)
}

/// `ppt/slides/slide12.xml` → 12.
fn slide_number(name: &str) -> Option<u32> {
    name.strip_prefix("ppt/slides/slide")?
        .strip_suffix(".xml")?
        .parse()
        .ok()
}

/// Where the reader is in a slide's XML.
#[derive(Default)]
struct Place {
    /// In a shape whose placeholder is a title.
    title: bool,
    /// The paragraph being read.
    paragraph: String,
    /// In a text run (`a:t`).
    in_text: bool,
    /// The cells of the table row being read, when in one.
    row: Option<Vec<String>>,
    /// The cell being read.
    cell: String,
}

/// The blocks of one slide's XML.
fn slide(xml: &str, page: u32) -> Result<Vec<Block>, Unreadable> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut blocks, mut at) = (Vec::new(), Place::default());
    let block = |kind, text: String| Block { page, kind, text };
    loop {
        match reader.read_event().map_err(|_| Unreadable::Damaged)? {
            Event::Eof => return Ok(blocks),
            Event::Start(e) => match e.name().as_ref() {
                b"p:sp" => at.title = false,
                b"a:t" => at.in_text = true,
                b"a:tr" => at.row = Some(Vec::new()),
                _ => {}
            },
            Event::Empty(e) if e.name().as_ref() == b"p:ph" => {
                let kind = e.try_get_attribute("type").ok().flatten();
                at.title = kind.is_some_and(|k| matches!(&*k.value, b"title" | b"ctrTitle"));
            }
            Event::Text(text) if at.in_text => {
                let text = text.decode().map_err(|_| Unreadable::Damaged)?;
                at.paragraph.push_str(&text);
            }
            Event::GeneralRef(entity) if at.in_text => {
                let name = entity.decode().map_err(|_| Unreadable::Damaged)?;
                match entity.resolve_char_ref().map_err(|_| Unreadable::Damaged)? {
                    Some(c) => at.paragraph.push(c),
                    None => at.paragraph.push_str(
                        quick_xml::escape::resolve_predefined_entity(&name).unwrap_or(""),
                    ),
                }
            }
            Event::End(e) => match e.name().as_ref() {
                b"a:t" => at.in_text = false,
                b"a:p" => {
                    let text = std::mem::take(&mut at.paragraph).trim().to_owned();
                    match (&at.row, text.is_empty()) {
                        (Some(_), false) => push_line(&mut at.cell, &text),
                        (None, false) if at.title => blocks.push(block(BlockKind::Heading, text)),
                        (None, false) => blocks.push(block(BlockKind::Paragraph, text)),
                        (_, true) => {}
                    }
                }
                b"a:tc" => {
                    let cell = std::mem::take(&mut at.cell);
                    if let Some(row) = at.row.as_mut() {
                        row.push(cell);
                    }
                }
                b"a:tr" => {
                    let cells = at.row.take().unwrap_or_default();
                    if cells.iter().any(|c| !c.is_empty()) {
                        blocks.push(block(BlockKind::TableRow, cells.join(" | ")));
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
}

/// A cell's paragraphs, a space between.
fn push_line(cell: &mut String, text: &str) {
    if !cell.is_empty() {
        cell.push(' ');
    }
    cell.push_str(text);
}
