//! `/admin/v1/use-cases/{slug}/documents…`: the documents attached to a use case — its impact
//! assessment, a DPIA, a model card — kept in the store with the registry.
//!
//! A document is sent as the request body (`POST …/documents?filename=dpia.pdf`, its media type
//! in `Content-Type`, [`MAX_USE_CASE_DOCUMENT_BYTES`] at most: past it a 413
//! `document_too_large`); listed without its bytes; downloaded as an attachment (its media type,
//! `Content-Disposition` with its name, `nosniff` and a sandboxing CSP, so a browser never runs
//! it); deleted. Cedar decides each on the use case's owning entity, with whether the caller is
//! among the owners the use case names (`use_case.document.*`, see `policies/default.cedar`):
//! owners and factory engineers add and delete, they and risk or compliance officers and
//! auditors read. A use case of another entity answers 404, as a missing one, and a document id
//! of another use case as a missing document. Every action is an audit event, reads included.
//!
//! A high-risk use case is approved only once its impact assessment is `completed` and at least
//! one document is attached (`factory::lifecycle::impact_ready`, asked by the approval).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{AuditAction, UseCaseDocumentId, now_millis};
use factory::MAX_USE_CASE_DOCUMENT_BYTES;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use store::StoredUseCaseDocument;

use crate::body::{check_text, query};
use crate::caller::Caller;
use crate::use_cases::{Loaded, use_case_event, use_case_for};
use crate::{AdminAction, AdminError, AdminState};

/// The media type of a document sent without `Content-Type`.
const DEFAULT_MEDIA_TYPE: &str = "application/octet-stream";

/// The query of `POST /admin/v1/use-cases/{slug}/documents`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddDocument {
    /// The document's file name (at most 255 characters, no path).
    filename: String,
}

/// `POST /admin/v1/use-cases/{slug}/documents?filename=…` → 201 with the document's metadata.
#[utoipa::path(
    post, path = "/admin/v1/use-cases/{slug}/documents", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug"), AddDocument),
    request_body(content = Vec<u8>, description = "The document's bytes; its media type in `Content-Type`.", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Attaches a document to a use case.", body = crate::openapi::Object),
        (status = 413, description = "The document is larger than 20 MiB (`document_too_large`)."),
    ),
)]
pub(crate) async fn add(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
    added: Result<Query<AddDocument>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let added = query(added)?;
    check_filename(&added.filename)?;
    let media_type = media_type(&headers)?;
    let loaded = use_case_for(&state, &caller, AdminAction::AddUseCaseDocument, &slug).await?;
    let content = match body {
        Ok(content) => content,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(too_large());
        }
        Err(rejection) => {
            return Err(AdminError::bad_request(format!(
                "cannot read the document: {rejection}"
            )));
        }
    };
    if content.len() > MAX_USE_CASE_DOCUMENT_BYTES {
        return Err(too_large());
    }
    if content.is_empty() {
        return Err(AdminError::bad_request(
            "the document is empty: send its bytes as the request body",
        ));
    }
    let document = StoredUseCaseDocument {
        id: UseCaseDocumentId::generate(),
        use_case: slug.clone(),
        filename: added.filename,
        media_type,
        bytes: content.len() as u64,
        sha256: hex::encode(Sha256::digest(&content)),
        uploaded_by: caller.actor(),
        uploaded_at: now_millis(),
    };
    let audit = document_event(&caller, AuditAction::UseCaseDocumentAdd, &loaded, &document);
    state
        .store
        .add_use_case_document(&document, &content, &audit)
        .await?;
    Ok((StatusCode::CREATED, Json(document_json(&document))))
}

/// `GET /admin/v1/use-cases/{slug}/documents` → the documents' metadata, oldest first.
#[utoipa::path(
    get, path = "/admin/v1/use-cases/{slug}/documents", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug")),
    responses(
        (status = 200, description = "Lists a use case's documents (names, sizes, digests, who uploaded them and when).", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let loaded = use_case_for(&state, &caller, AdminAction::ReadUseCaseDocuments, &slug).await?;
    let documents = state.store.use_case_documents(&slug).await?;
    let audit = use_case_event(
        &caller,
        AuditAction::UseCaseDocumentRead,
        &loaded.use_case,
        loaded.owner.as_ref(),
        json!({"listed": documents.len()}),
    );
    state.store.append_audit(&audit).await?;
    let data: Vec<Value> = documents.iter().map(document_json).collect();
    Ok(Json(json!({
        "use_case": slug, "max_bytes": MAX_USE_CASE_DOCUMENT_BYTES, "data": data,
    })))
}

/// `GET /admin/v1/use-cases/{slug}/documents/{id}` → the document's bytes, as an attachment.
#[utoipa::path(
    get, path = "/admin/v1/use-cases/{slug}/documents/{id}", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug"), ("id" = String, Path, description = "The document's id (`ucd_…`)")),
    responses(
        (status = 200, description = "Downloads a use case's document, with its media type and name.", content_type = "application/octet-stream", body = Vec<u8>),
    ),
)]
pub(crate) async fn download(
    State(state): State<AdminState>,
    caller: Caller,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let loaded = use_case_for(&state, &caller, AdminAction::ReadUseCaseDocuments, &slug).await?;
    let id = document_id(&slug, &id)?;
    let (document, content) = state
        .store
        .use_case_document(&slug, id)
        .await?
        .ok_or_else(|| missing_document(&slug, &id.to_string()))?;
    let audit = document_event(
        &caller,
        AuditAction::UseCaseDocumentRead,
        &loaded,
        &document,
    );
    state.store.append_audit(&audit).await?;
    let media_type = HeaderValue::from_str(&document.media_type)
        .unwrap_or(HeaderValue::from_static(DEFAULT_MEDIA_TYPE));
    let disposition = HeaderValue::from_str(&content_disposition(&document.filename))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, media_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            ),
        ],
        content,
    )
        .into_response())
}

/// `DELETE /admin/v1/use-cases/{slug}/documents/{id}` → the document, deleted.
#[utoipa::path(
    delete, path = "/admin/v1/use-cases/{slug}/documents/{id}", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug"), ("id" = String, Path, description = "The document's id (`ucd_…`)")),
    responses(
        (status = 200, description = "Deletes a use case's document.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Json<Value>, AdminError> {
    let loaded = use_case_for(&state, &caller, AdminAction::DeleteUseCaseDocument, &slug).await?;
    let document_id = document_id(&slug, &id)?;
    let mut audit = use_case_event(
        &caller,
        AuditAction::UseCaseDocumentDelete,
        &loaded.use_case,
        loaded.owner.as_ref(),
        json!({}),
    );
    audit.target = format!("{slug}/{document_id}");
    let deleted = state
        .store
        .delete_use_case_document(&slug, document_id, &audit)
        .await?
        .ok_or_else(|| missing_document(&slug, &id))?;
    let mut body = document_json(&deleted);
    body["deleted"] = json!(true);
    Ok(Json(body))
}

/// The JSON of a document's metadata, as every route answers it.
pub(crate) fn document_json(document: &StoredUseCaseDocument) -> Value {
    json!({
        "id": document.id,
        "object": "use_case.document",
        "use_case": document.use_case,
        "filename": document.filename,
        "media_type": document.media_type,
        "bytes": document.bytes,
        "sha256": document.sha256,
        "uploaded_by": document.uploaded_by,
        "uploaded_at": document.uploaded_at,
    })
}

/// The audit event of an action on one document, aimed at `slug/id`, with what identifies its
/// content (never the content).
fn document_event(
    caller: &Caller,
    action: AuditAction,
    loaded: &Loaded,
    document: &StoredUseCaseDocument,
) -> domain::AuditEvent {
    let mut event = use_case_event(
        caller,
        action,
        &loaded.use_case,
        loaded.owner.as_ref(),
        json!({
            "filename": document.filename, "media_type": document.media_type,
            "bytes": document.bytes, "sha256": document.sha256,
        }),
    );
    event.target = format!("{}/{}", document.use_case, document.id);
    event
}

fn too_large() -> AdminError {
    AdminError::TooLarge(format!(
        "a use case's document is at most {MAX_USE_CASE_DOCUMENT_BYTES} bytes (20 MiB)"
    ))
}

fn missing_document(slug: &str, id: &str) -> AdminError {
    AdminError::NotFound(format!("use case `{slug}` has no document `{id}`"))
}

/// A document id from the path; one that does not parse names no document.
fn document_id(slug: &str, id: &str) -> Result<UseCaseDocumentId, AdminError> {
    id.parse().map_err(|_| missing_document(slug, id))
}

/// A file name: text of at most 255 characters, without a path.
fn check_filename(filename: &str) -> Result<(), AdminError> {
    check_text("filename", filename, 255)?;
    if filename.contains(['/', '\\']) || filename == "." || filename == ".." {
        return Err(AdminError::bad_field(
            "filename",
            "`filename` is a file's name, without a path",
        ));
    }
    Ok(())
}

/// The document's media type: the request's `Content-Type` (`type/subtype`, parameters kept), or
/// `application/octet-stream` without one.
fn media_type(headers: &HeaderMap) -> Result<String, AdminError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(DEFAULT_MEDIA_TYPE.to_owned());
    };
    let plausible = value.to_str().ok().filter(|text| {
        let essence = text.split(';').next().unwrap_or_default().trim();
        text.len() <= 255
            && essence
                .split_once('/')
                .is_some_and(|(kind, sub)| !kind.is_empty() && !sub.is_empty())
    });
    plausible.map(str::to_owned).ok_or_else(|| {
        AdminError::bad_field(
            "Content-Type",
            "`Content-Type` must be a media type such as `application/pdf`",
        )
    })
}

/// `attachment` with the name twice: an ASCII fallback (`filename`) and the exact name, UTF-8
/// percent-encoded (`filename*`, RFC 6266).
fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(filename.len() * 3);
    for byte in filename.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(char::from(byte));
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disposition_names_the_file_safely_and_exactly() {
        assert_eq!(
            content_disposition("dpia.pdf"),
            "attachment; filename=\"dpia.pdf\"; filename*=UTF-8''dpia.pdf"
        );
        assert_eq!(
            content_disposition("étude \"v2\".pdf"),
            "attachment; filename=\"_tude _v2_.pdf\"; filename*=UTF-8''%C3%A9tude%20%22v2%22.pdf"
        );
    }

    #[test]
    fn a_file_name_has_no_path() {
        for refused in ["../etc/passwd", "a\\b", "..", " ", "a\nb"] {
            assert!(check_filename(refused).is_err(), "{refused:?}");
        }
        assert!(check_filename("Analyse d'impact (v2).pdf").is_ok());
    }
}
