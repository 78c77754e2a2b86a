//! Documents attached to a question: PDF, DOCX, plain text and Markdown, read on the server by
//! well-kept readers (`lopdf` for PDF, `docx-rs` for DOCX), their text handed
//! back to the page, which adds it to the question. The text then goes with the question through
//! the gateway's whole pipeline, so the data policy inspects it like any text the person types.
//!
//! Nothing of a document is stored here: the upload is read in memory and dropped once its text
//! is out. The text is kept only as part of the question, in a kept conversation, for the
//! conversation's retention, and erased with it; so an attachment is reached through its
//! conversation's one ownership check.
//!
//! Limits: 10 MiB a document; text longer than the chosen model's context (estimated at four
//! characters a token, as the chat estimates a cut answer) is refused with a message that says
//! both sizes. Reading runs on the blocking pool, and a reader that fails on a damaged file,
//! whatever way it fails, gives a plain refusal.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::Web;
use crate::text::Text;
use crate::visitor::Visitor;

/// The largest document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;
/// The most characters of text a document may give.
const MAX_TEXT_CHARS: usize = 2_000_000;
/// Characters a token holds, on average, for the context estimate.
const CHARS_PER_TOKEN: usize = 4;

/// The kinds of documents read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Docx,
    /// Plain text and Markdown: UTF-8 as it is.
    Text,
}

impl Kind {
    /// The kind of a file, by its name's extension.
    pub fn of_name(name: &str) -> Option<Kind> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match extension.as_str() {
            "pdf" => Kind::Pdf,
            "docx" => Kind::Docx,
            "txt" | "text" | "md" | "markdown" => Kind::Text,
            _ => return None,
        })
    }
}

/// Why a document's text could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// Not a PDF, a DOCX, a text or a Markdown file.
    Kind,
    /// Larger than [`MAX_DOCUMENT_BYTES`], or more text than [`MAX_TEXT_CHARS`].
    Size,
    /// The reader could not read it (damaged, encrypted, not what its name says).
    Damaged,
    /// It holds no text (a scanned PDF, an empty file).
    Empty,
}

impl Unreadable {
    fn text(self) -> Text {
        match self {
            Unreadable::Kind => Text::AttachmentKind,
            Unreadable::Size => Text::AttachmentSize,
            Unreadable::Damaged => Text::AttachmentDamaged,
            Unreadable::Empty => Text::AttachmentEmpty,
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Unreadable::Kind => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Unreadable::Size => StatusCode::PAYLOAD_TOO_LARGE,
            Unreadable::Damaged | Unreadable::Empty => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// The text of a document of `kind`.
pub fn extract(kind: Kind, bytes: &[u8]) -> Result<String, Unreadable> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(Unreadable::Size);
    }
    let text = match kind {
        Kind::Pdf => pdf_text(bytes)?,
        Kind::Docx => docx_text(bytes)?,
        Kind::Text => String::from_utf8(bytes.to_vec()).map_err(|_| Unreadable::Damaged)?,
    };
    let text = text.trim();
    match text.chars().count() {
        0 => Err(Unreadable::Empty),
        n if n > MAX_TEXT_CHARS => Err(Unreadable::Size),
        _ => Ok(text.to_owned()),
    }
}

/// A PDF's text, page after page.
fn pdf_text(bytes: &[u8]) -> Result<String, Unreadable> {
    let pdf = lopdf::Document::load_mem(bytes).map_err(|_| Unreadable::Damaged)?;
    let pages: Vec<u32> = pdf.get_pages().into_keys().collect();
    pdf.extract_text(&pages).map_err(|_| Unreadable::Damaged)
}

/// A DOCX's text: its paragraphs, and its tables' cells, in order, one per line.
fn docx_text(bytes: &[u8]) -> Result<String, Unreadable> {
    let docx = docx_rs::read_docx(bytes).map_err(|_| Unreadable::Damaged)?;
    let mut text = String::new();
    for child in &docx.document.children {
        match child {
            docx_rs::DocumentChild::Paragraph(paragraph) => paragraph_text(paragraph, &mut text),
            docx_rs::DocumentChild::Table(table) => table_text(table, &mut text),
            _ => {}
        }
    }
    Ok(text)
}

fn paragraph_text(paragraph: &docx_rs::Paragraph, text: &mut String) {
    text.push_str(&paragraph.raw_text());
    text.push('\n');
}

fn table_text(table: &docx_rs::Table, text: &mut String) {
    for docx_rs::TableChild::TableRow(row) in &table.rows {
        for docx_rs::TableRowChild::TableCell(cell) in &row.cells {
            for content in &cell.children {
                match content {
                    docx_rs::TableCellContent::Paragraph(paragraph) => {
                        paragraph_text(paragraph, text)
                    }
                    docx_rs::TableCellContent::Table(table) => table_text(table, text),
                    _ => {}
                }
            }
        }
    }
}

/// The tokens a text is estimated to take.
pub fn estimated_tokens(text: &str) -> u64 {
    let tokens = text.chars().count().div_ceil(CHARS_PER_TOKEN);
    u64::try_from(tokens).unwrap_or(u64::MAX)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Attached {
    /// The file's name, whose extension says its kind.
    name: String,
    /// The model the question will go to, whose context the text must fit.
    #[serde(default)]
    model: Option<String>,
}

/// `POST /chat/attach?name=…&model=…`, the document as the body, with the page's token: its text
/// (`{"name", "text", "tokens"}`), or a refusal saying why in the person's language.
pub(crate) async fn attach(
    State(web): State<Arc<Web>>,
    Query(attached): Query<Attached>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let visitor = Visitor::of(&web, &headers).await;
    if let Some(refused) =
        crate::chat::refusal_unless_signed_in_and_unforged(&web, &visitor, &headers)
    {
        return refused;
    }
    let lang = visitor.lang;
    let refuse = |unreadable: Unreadable| {
        let message = unreadable.text().in_(lang).to_owned();
        (unreadable.status(), message).into_response()
    };
    let Some(kind) = Kind::of_name(&attached.name) else {
        return visitor.respond(&web, refuse(Unreadable::Kind));
    };
    let read = tokio::task::spawn_blocking(move || extract(kind, &body)).await;
    let text = match read {
        Ok(Ok(text)) => text,
        Ok(Err(unreadable)) => return visitor.respond(&web, refuse(unreadable)),
        // The reader gave up in a way of its own on a damaged file: the task ended, nothing else.
        Err(_) => return visitor.respond(&web, refuse(Unreadable::Damaged)),
    };
    let tokens = estimated_tokens(&text);
    let context = match &attached.model {
        Some(model) => web
            .inference
            .chat_models(&headers)
            .await
            .into_iter()
            .find(|card| &card.id == model)
            .and_then(|card| card.max_context_length),
        None => None,
    };
    if let Some(context) = context.filter(|&c| tokens > u64::from(c)) {
        let message = Text::AttachmentTooLong
            .in_(lang)
            .replace("{tokens}", &crate::usage::whole(lang, tokens))
            .replace("{context}", &crate::usage::whole(lang, u64::from(context)));
        return visitor.respond(&web, (StatusCode::PAYLOAD_TOO_LARGE, message));
    }
    let answer = json!({"name": attached.name, "text": text, "tokens": tokens});
    visitor.respond(&web, axum::Json(answer))
}

#[cfg(test)]
mod tests;
