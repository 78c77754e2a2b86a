//! The documents attached to a use case, on its page: listed (name, size, who uploaded it, when)
//! with a link that downloads each (`GET /console/use-cases/{slug}/documents/{id}`, the admin
//! API's answer passed on with its media type and name), a form that attaches one
//! (`multipart/form-data`, since a page without script sends a file no other way; its CSRF token
//! is a field of the form) and one that deletes each, both shown to those whose roles allow it.
//! Every call is the admin API's own route, as the person: Cedar decides, the API audits, reads
//! included.

use std::sync::Arc;

use axum::Form;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use browser::{TOKEN_FIELD, Visitor};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::Console;
use crate::admin_api::{Answer, uri};
use crate::pages::{self, Section, cell};
use crate::reach::Reach;
use crate::text::Text;
use crate::views::directory::encode;
use crate::views::{Call, SignedIn, posted, refused, submit_then};

/// The form's field that holds the file.
const FILE_FIELD: &str = "document";

/// The most a form's body may hold: the largest document, and room for the rest of the form.
const MAX_FORM_BYTES: u64 = factory::MAX_USE_CASE_DOCUMENT_BYTES as u64 + 64 * 1024;

/// The documents' section of a use case's page, from the admin API's listing.
pub(crate) fn section(
    console: &Console,
    visitor: &Visitor,
    reach: &Reach,
    slug: &str,
    documents: &Answer,
) -> Markup {
    let lang = visitor.lang;
    let t = |text: Text| text.in_(lang);
    let base = format!("/console/use-cases/{}/documents", encode(slug));
    let detach = reach.may("use_case.document.delete");
    html! {
        section aria-labelledby="documents-title" {
            h2 #documents-title { (t(Text::Documents)) }
            @if !documents.ok() {
                (pages::problem(lang, documents))
            } @else if documents.rows().is_empty() {
                p.muted { (t(Text::Nothing)) }
            } @else {
                table #documents {
                    thead { tr {
                        th scope="col" { (t(Text::Document)) }
                        th.number scope="col" { (t(Text::FileSize)) }
                        th scope="col" { (t(Text::UploadedBy)) }
                        th scope="col" { (t(Text::When)) }
                        @if detach { th scope="col" { (t(Text::Moves)) } }
                    } }
                    tbody {
                        @for row in documents.rows() {
                            @let href = format!("{base}/{}", encode(&cell(&row["id"])));
                            tr {
                                th scope="row" {
                                    a href=(href) download=(cell(&row["filename"])) { (cell(&row["filename"])) }
                                }
                                td.number { (size(&row["bytes"])) }
                                td { code { (cell(&row["uploaded_by"])) } }
                                td { (pages::time(&console.zone, &row["uploaded_at"])) }
                                @if detach {
                                    td {
                                        form.inline method="post" action=(format!("{href}/delete")) {
                                            (pages::csrf(visitor))
                                            button type="submit" aria-label=(format!("{} {}", t(Text::Detach), cell(&row["filename"]))) {
                                                (t(Text::Detach))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if reach.may("use_case.document.add") {
                form.inline #attach method="post" enctype="multipart/form-data" action=(base) {
                    (pages::csrf(visitor))
                    label { (t(Text::AttachDocument)) input type="file" name=(FILE_FIELD) required; }
                    button type="submit" { (t(Text::Attach)) }
                }
            }
        }
    }
}

/// `GET /console/use-cases/{slug}/documents/{id}`: the document, as the admin API sends it (its
/// media type and `Content-Disposition`), or the page saying why it may not be read.
pub(crate) async fn download(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
    Path((slug, id)): Path<(String, String)>,
) -> Response {
    let path = format!(
        "/admin/v1/use-cases/{}/documents/{}",
        encode(&slug),
        encode(&id)
    );
    let answer = console
        .admin
        .raw(&person.principal, Method::GET, &path, None)
        .await;
    let response = match answer {
        Ok((status, sent, bytes)) if status.is_success() => {
            let mut response = bytes.into_response();
            for name in [header::CONTENT_TYPE, header::CONTENT_DISPOSITION] {
                if let Some(value) = sent.get(&name) {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Ok((status, _, bytes)) => {
            let answer = Answer {
                status,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            return refused(&console, &visitor, &person, Section::UseCases, &answer).await;
        }
        Err(status) => status.into_response(),
    };
    visitor.respond(&console, response)
}

/// What the attach form sent.
struct Attached {
    csrf: Option<String>,
    filename: String,
    media_type: Option<String>,
    bytes: Bytes,
}

/// `POST /console/use-cases/{slug}/documents`: the form's file, once the form is checked, sent
/// to the admin API with its name and media type; back to the use case's page.
pub(crate) async fn attach(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: Body,
) -> Response {
    let attached = read_form(&headers, body).await;
    let token = attached.as_ref().ok().and_then(|a| a.csrf.as_deref());
    let (visitor, person) = match posted(&console, &headers, token).await {
        Ok(signed_in) => signed_in,
        Err(page) => return page,
    };
    let attached = match attached {
        Ok(attached) => attached,
        Err(answer) => {
            return refused(&console, &visitor, &person, Section::UseCases, &answer).await;
        }
    };
    let path = uri(
        &format!("/admin/v1/use-cases/{}/documents", encode(&slug)),
        &[("filename", &attached.filename)],
    );
    let media_type = attached
        .media_type
        .and_then(|m| HeaderValue::try_from(m).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let answer = console
        .admin
        .upload(&person.principal, &path, media_type, attached.bytes)
        .await;
    if !answer.ok() {
        return refused(&console, &visitor, &person, Section::UseCases, &answer).await;
    }
    let page = format!("/console/use-cases/{}", encode(&slug));
    visitor.respond(
        &console,
        axum::response::Redirect::to(&page).into_response(),
    )
}

/// The attach form's fields, read as a stream within [`MAX_FORM_BYTES`]; what is wrong with it
/// as the answer a refused call would give (400, or 413 past the size).
async fn read_form(headers: &HeaderMap, body: Body) -> Result<Attached, Answer> {
    let problem = |status: StatusCode, message: String| Answer {
        status,
        body: serde_json::json!({"error": {"message": message}}),
    };
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| {
            problem(
                StatusCode::BAD_REQUEST,
                "the form must be sent as multipart/form-data".to_owned(),
            )
        })?;
    let failed = |error: multer::Error| match error {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "a use case's document is at most {} bytes (20 MiB)",
                    factory::MAX_USE_CASE_DOCUMENT_BYTES
                ),
            )
        }
        other => problem(StatusCode::BAD_REQUEST, format!("unreadable form: {other}")),
    };
    let limits = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(MAX_FORM_BYTES));
    let mut form = multer::Multipart::with_constraints(body.into_data_stream(), boundary, limits);
    let mut attached = Attached {
        csrf: None,
        filename: String::new(),
        media_type: None,
        bytes: Bytes::new(),
    };
    while let Some(field) = form.next_field().await.map_err(failed)? {
        let name = field.name().map(str::to_owned);
        match name.as_deref() {
            Some(TOKEN_FIELD) => attached.csrf = Some(field.text().await.map_err(failed)?),
            Some(FILE_FIELD) => {
                attached.filename = field.file_name().unwrap_or_default().to_owned();
                attached.media_type = field.content_type().map(ToString::to_string);
                attached.bytes = field.bytes().await.map_err(failed)?;
            }
            _ => {}
        }
    }
    Ok(attached)
}

#[derive(Debug, Deserialize)]
pub(crate) struct DetachForm {
    csrf: Option<String>,
}

/// `POST /console/use-cases/{slug}/documents/{id}/delete`: deletes the document; back to the
/// use case's page.
pub(crate) async fn detach(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<DetachForm>,
) -> Response {
    let page = format!("/console/use-cases/{}", encode(&slug));
    let path = format!(
        "/admin/v1/use-cases/{}/documents/{}",
        encode(&slug),
        encode(&id)
    );
    let call = Call::new(Method::DELETE, path, None);
    submit_then(
        &console,
        &headers,
        form.csrf.as_deref(),
        Section::UseCases,
        call,
        &page,
    )
    .await
}

/// A size in bytes, in the unit that reads best: `812 B`, `34 KiB`, `1.2 MiB`.
fn size(value: &Value) -> String {
    let Some(bytes) = value.as_u64() else {
        return String::new();
    };
    match bytes {
        0..1_024 => format!("{bytes} B"),
        1_024..1_048_576 => format!("{} KiB", bytes.div_ceil(1_024)),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}
