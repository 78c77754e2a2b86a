//! Documents attached to a question: PDF, DOCX, XLSX, PPTX, HTML, e-mail, plain text and Markdown,
//! read on the server by the readers knowledge libraries use (`knowledge::extract`), their text
//! handed back to the page, which adds it to the question. The text then goes with the question through
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
use crate::prompt::estimated_tokens;
use crate::text::Text;
use crate::visitor::Visitor;

pub use knowledge::extract::{Kind, MAX_DOCUMENT_BYTES, Unreadable};

/// The person's sentence for why a document could not be read.
fn unreadable_text(unreadable: Unreadable) -> Text {
    match unreadable {
        Unreadable::Kind => Text::AttachmentKind,
        Unreadable::Size => Text::AttachmentSize,
        Unreadable::Damaged => Text::AttachmentDamaged,
        Unreadable::Empty => Text::AttachmentEmpty,
    }
}

fn unreadable_status(unreadable: Unreadable) -> StatusCode {
    match unreadable {
        Unreadable::Kind => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Unreadable::Size => StatusCode::PAYLOAD_TOO_LARGE,
        Unreadable::Damaged | Unreadable::Empty => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The text of a document of `kind` (`knowledge::extract`, which libraries read documents
/// with too): a scan, which has no text, is refused as empty.
pub fn extract(kind: Kind, bytes: &[u8]) -> Result<String, Unreadable> {
    knowledge::extract::text(kind, bytes)
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
        let message = unreadable_text(unreadable).in_(lang).to_owned();
        (unreadable_status(unreadable), message).into_response()
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
        Some(model) => web.inference.context_of(&headers, model).await,
        None => None,
    };
    if let Some(context) = context.map(u64::from).filter(|&c| tokens > c) {
        let too_long = crate::prompt::TooLong { tokens, context };
        let refused = too_long.refusal(Text::AttachmentTooLong, lang);
        return visitor.respond(&web, refused);
    }
    let answer = json!({"name": attached.name, "text": text, "tokens": tokens});
    visitor.respond(&web, axum::Json(answer))
}

#[cfg(test)]
mod tests;
