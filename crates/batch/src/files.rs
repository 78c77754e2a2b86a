//! `/v1/files`: upload (`multipart/form-data` with `file` and `purpose`), list, retrieve, delete
//! and download, in OpenAI's wire format (with the fields Mistral's SDK also reads).
//!
//! A file belongs to the user or service account that uploaded it, in their entity: every read
//! is narrowed to that owner in the store's query, so another caller's file — and so any file of
//! another entity — answers 404 as if it did not exist. An upload streams to where the contents
//! are kept as it arrives (`contents`), refused past `[batches] max_file_bytes` or past the entity's quota; it is
//! stored with its audit event (`file.create`), as a deletion is (`file.delete`).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use domain::{AuditAction, AuditEvent, FileId, Outcome, now_millis};
use futures_util::StreamExt as _;
use http::{HeaderValue, header};
use identity::Principal;
use serde::Serialize;
use serde_json::json;
use store::{FileCreated, FileSelection, StoredFile};

use crate::Batches;
use crate::contents::WriteError;
use crate::error::ApiError;
use crate::extract::{Caller, ListQuery, PageSize, Paging};

/// A listing's pages: up to 10,000 files (OpenAI's bound), all of them unless told.
const PAGE_SIZE: PageSize = PageSize {
    param: "limit",
    default: 10_000,
    max: 10_000,
};
/// The longest text form field read (`purpose`).
const MAX_FIELD_BYTES: usize = 256;
/// The longest file name kept.
const MAX_FILENAME_CHARS: usize = 255;
/// Room for the multipart framing around the file's bytes.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// What a file is for. Callers upload the first six; a batch writes `batch_output` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Batch,
    BatchOutput,
    UserData,
    Assistants,
    Vision,
    FineTune,
    Evals,
}

impl Purpose {
    const UPLOADABLE: [Purpose; 6] = [
        Purpose::Batch,
        Purpose::UserData,
        Purpose::Assistants,
        Purpose::Vision,
        Purpose::FineTune,
        Purpose::Evals,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Batch => "batch",
            Purpose::BatchOutput => "batch_output",
            Purpose::UserData => "user_data",
            Purpose::Assistants => "assistants",
            Purpose::Vision => "vision",
            Purpose::FineTune => "fine-tune",
            Purpose::Evals => "evals",
        }
    }

    fn uploadable(name: &str) -> Option<Purpose> {
        Purpose::UPLOADABLE
            .into_iter()
            .find(|purpose| purpose.as_str() == name)
    }

    /// Mistral's name for what the file holds.
    fn sample_type(name: &str) -> &'static str {
        match name {
            "batch" => "batch_request",
            "batch_output" => "batch_result",
            "fine-tune" => "instruct",
            _ => "pretrain",
        }
    }
}

/// A file, as OpenAI's `file` object (and Mistral's `UploadFileOut`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FileObject {
    pub id: String,
    /// Always `file`.
    pub object: &'static str,
    pub bytes: u64,
    /// Unix seconds.
    pub created_at: i64,
    pub filename: String,
    pub purpose: String,
    /// Always `processed`: a file is stored whole before it is answered.
    pub status: &'static str,
    pub status_details: Option<String>,
    pub expires_at: Option<i64>,
    /// Mistral's kind of content: `batch_request`, `batch_result`, `instruct` or `pretrain`.
    pub sample_type: &'static str,
    /// Mistral's origin of the file: `upload`.
    pub source: &'static str,
}

impl FileObject {
    pub fn of(file: &StoredFile) -> FileObject {
        FileObject {
            id: file.id.to_string(),
            object: "file",
            bytes: file.bytes,
            created_at: file.created_at / 1000,
            filename: file.filename.clone(),
            purpose: file.purpose.clone(),
            status: "processed",
            status_details: None,
            expires_at: None,
            sample_type: Purpose::sample_type(&file.purpose),
            source: "upload",
        }
    }
}

/// A page of files.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FileList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<FileObject>,
    pub has_more: bool,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
    /// The files on this page (Mistral's field).
    pub total: usize,
}

/// A deletion's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FileDeleted {
    pub id: String,
    /// Always `file`.
    pub object: &'static str,
    pub deleted: bool,
}

/// The form of an upload.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the multipart form, for the API description"
)]
pub(crate) struct Upload {
    /// The file's bytes, with its name.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
    /// `batch`, `user_data`, `assistants`, `vision`, `fine-tune` or `evals`.
    purpose: String,
}

/// Uploads a file.
#[utoipa::path(
    post, path = "/v1/files", tag = "files",
    request_body(content = Upload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The file, stored whole", body = FileObject),
        (status = 413, description = "The file passes the size limit or the entity's quota", body = wire::ErrorBody),
    ),
)]
pub(crate) async fn upload(
    State(batches): State<Arc<Batches>>,
    Caller(principal): Caller,
    request: Request,
) -> Result<Json<FileObject>, ApiError> {
    let file = upload_file(&batches, &principal, request).await?;
    Ok(Json(FileObject::of(&file)))
}

/// Lists the caller's files, newest first.
#[utoipa::path(
    get, path = "/v1/files", tag = "files",
    params(
        ("purpose" = Option<String>, Query, description = "Only files of this purpose"),
        ("limit" = Option<u32>, Query, description = "At most this many, 1 to 10,000 (default)"),
        ("after" = Option<String>, Query, description = "Only files after this id, in the listing's order"),
        ("order" = Option<String>, Query, description = "`desc` (newest first, the default) or `asc`"),
    ),
    responses((status = 200, description = "The caller's files", body = FileList)),
)]
pub(crate) async fn list(
    State(batches): State<Arc<Batches>>,
    Caller(principal): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<FileList>, ApiError> {
    list_files(&batches, &principal, &query).await.map(Json)
}

/// One of the caller's files.
#[utoipa::path(
    get, path = "/v1/files/{file_id}", tag = "files",
    params(("file_id" = String, Path, description = "The file's id")),
    responses((status = 200, description = "The file", body = FileObject)),
)]
pub(crate) async fn retrieve(
    State(batches): State<Arc<Batches>>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<FileObject>, ApiError> {
    let file = owned(&batches, &principal, &id).await?;
    Ok(Json(FileObject::of(&file)))
}

/// Deletes one of the caller's files.
#[utoipa::path(
    delete, path = "/v1/files/{file_id}", tag = "files",
    params(("file_id" = String, Path, description = "The file's id")),
    responses((status = 200, description = "Deleted", body = FileDeleted)),
)]
pub(crate) async fn delete(
    State(batches): State<Arc<Batches>>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<FileDeleted>, ApiError> {
    delete_file(&batches, &principal, &id).await.map(Json)
}

/// The bytes of one of the caller's files.
#[utoipa::path(
    get, path = "/v1/files/{file_id}/content", tag = "files",
    params(("file_id" = String, Path, description = "The file's id")),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = Vec<u8>)),
)]
pub(crate) async fn content(
    State(batches): State<Arc<Batches>>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let file = owned(&batches, &principal, &id).await?;
    Ok(download(&batches, &file))
}

/// The file `id` when `principal`'s owner owns it; 404 otherwise, however the id is wrong.
pub(crate) async fn owned(
    batches: &Batches,
    principal: &Principal,
    id: &str,
) -> Result<StoredFile, ApiError> {
    let not_found = || ApiError::NotFound {
        what: "file",
        id: id.to_owned(),
    };
    let id: FileId = id.parse().map_err(|_| not_found())?;
    batches
        .store
        .file(id, principal.owner)
        .await?
        .ok_or_else(not_found)
}

async fn upload_file(
    batches: &Batches,
    principal: &Principal,
    request: Request,
) -> Result<StoredFile, ApiError> {
    let (parts, body) = request.into_parts();
    let boundary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| multer::parse_boundary(value).ok())
        .ok_or_else(|| {
            ApiError::invalid(
                "file",
                "send the file as `multipart/form-data` with the fields `file` and `purpose`",
            )
        })?;
    let limit = batches.settings.max_file_bytes;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new().whole_stream(limit.saturating_add(MULTIPART_OVERHEAD)),
    );
    let stream = body.into_data_stream();
    let mut form = multer::Multipart::with_constraints(stream, boundary, constraints);
    let id = FileId::generate();
    let (mut purpose, mut received) = (None, None);
    while let Some(mut field) = form.next_field().await.map_err(malformed)? {
        match field.name() {
            Some("purpose") => purpose = Some(small_field(&mut field).await?),
            Some("file") if received.is_none() => {
                let filename = file_name(field.file_name());
                let writer = batches.contents.writer(id, limit);
                let written = receive(&mut field, writer).await?;
                received = Some((filename, written));
            }
            Some("file") => return Err(ApiError::invalid("file", "send one `file` per upload")),
            // Other fields (`expires_after[…]`) are read past and ignored.
            _ => while field.chunk().await.map_err(malformed)?.is_some() {},
        }
    }
    let Some((filename, written)) = received else {
        return Err(ApiError::invalid("file", "the form has no `file` field"));
    };
    let stored = purpose
        .as_deref()
        .ok_or_else(|| ApiError::invalid("purpose", "the form has no `purpose` field"))
        .and_then(|name| {
            Purpose::uploadable(name).ok_or_else(|| {
                ApiError::invalid(
                    "purpose",
                    format!(
                        "`{name}` is not a purpose: use `batch`, `user_data`, `assistants`, \
                         `vision`, `fine-tune` or `evals`"
                    ),
                )
            })
        })
        .map(|purpose| StoredFile {
            id,
            entity_id: principal.entity_id,
            owner: principal.owner,
            filename,
            purpose: purpose.as_str().to_owned(),
            bytes: written.bytes,
            sha256: written.sha256,
            created_at: now_millis(),
        });
    match stored {
        Ok(file) => match batches.keep(principal, &file).await {
            Ok(()) => Ok(file),
            Err(error) => {
                let _ = batches.contents.remove(id).await;
                Err(error)
            }
        },
        Err(error) => {
            let _ = batches.contents.remove(id).await;
            Err(error)
        }
    }
}

impl Batches {
    /// Stores `file`'s metadata with its `file.create` event, within its entity's quota.
    pub(crate) async fn keep(
        &self,
        principal: &Principal,
        file: &StoredFile,
    ) -> Result<(), ApiError> {
        let audit = AuditEvent {
            at: file.created_at,
            actor: principal.actor(),
            action: AuditAction::FileCreate,
            entity_id: file.entity_id,
            target: String::new(),
            outcome: Outcome::Success,
            detail: json!({"purpose": file.purpose, "bytes": file.bytes, "sha256": file.sha256})
                .to_string(),
        };
        let quota = self.settings.entity_quota_bytes;
        match self.store.create_file(file, quota, &audit).await? {
            FileCreated::Created => Ok(()),
            FileCreated::OverQuota { used } => Err(ApiError::QuotaExceeded {
                used,
                bytes: file.bytes,
                quota,
            }),
        }
    }
}

async fn list_files(
    batches: &Batches,
    principal: &Principal,
    query: &ListQuery,
) -> Result<FileList, ApiError> {
    let paging: Paging<FileId> = Paging::read(query, PAGE_SIZE, "a file")?;
    let oldest_first = match query.get("order").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(ApiError::invalid("order", "`order` is `asc` or `desc`")),
    };
    let selection = FileSelection {
        purpose: query.get("purpose").map(String::as_str),
        after: paging.after,
        limit: paging.rows(),
        oldest_first,
    };
    let rows = batches.store.files(principal.owner, &selection).await?;
    let (files, has_more) = paging.cut(rows);
    let data: Vec<FileObject> = files.iter().map(FileObject::of).collect();
    Ok(FileList {
        object: "list",
        first_id: data.first().map(|f| f.id.clone()),
        last_id: data.last().map(|f| f.id.clone()),
        total: data.len(),
        has_more,
        data,
    })
}

async fn delete_file(
    batches: &Batches,
    principal: &Principal,
    id: &str,
) -> Result<FileDeleted, ApiError> {
    let file = owned(batches, principal, id).await?;
    let audit = AuditEvent {
        at: now_millis(),
        actor: principal.actor(),
        action: AuditAction::FileDelete,
        entity_id: file.entity_id,
        target: String::new(),
        outcome: Outcome::Success,
        detail: json!({"purpose": file.purpose, "bytes": file.bytes}).to_string(),
    };
    let deleted = batches
        .store
        .delete_file(file.id, principal.owner, &audit)
        .await?;
    if deleted.is_some() {
        batches
            .contents
            .remove(file.id)
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(FileDeleted {
        id: file.id.to_string(),
        object: "file",
        deleted: deleted.is_some(),
    })
}

/// The file's bytes as the answer's body, streamed from where they are kept.
fn download(batches: &Batches, file: &StoredFile) -> Response {
    let chunks = batches.contents.read(file.id, file.bytes);
    let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    });
    let mut response = Body::from_stream(stream.boxed()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(length) = HeaderValue::from_str(&file.bytes.to_string()) {
        headers.insert(header::CONTENT_LENGTH, length);
    }
    response
}

/// The file field's bytes, streamed to where they are kept; nothing is left there when they fail.
async fn receive(
    field: &mut multer::Field<'static>,
    mut writer: crate::contents::Writer,
) -> Result<crate::Written, ApiError> {
    loop {
        let failed = match field.chunk().await {
            Ok(Some(chunk)) => match writer.write(chunk).await {
                Ok(()) => continue,
                Err(error) => write_error(error),
            },
            Ok(None) => return writer.finish().await.map_err(write_error),
            Err(error) => malformed(error),
        };
        writer.abort().await;
        return Err(failed);
    }
}

/// A text field of the form, bounded.
async fn small_field(field: &mut multer::Field<'static>) -> Result<String, ApiError> {
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(malformed)? {
        text.extend_from_slice(&chunk);
        if text.len() > MAX_FIELD_BYTES {
            return Err(ApiError::invalid("purpose", "`purpose` is too long"));
        }
    }
    String::from_utf8(text).map_err(|_| ApiError::invalid("purpose", "`purpose` is not UTF-8"))
}

/// The name to keep: the client's, without any directory part, bounded; `upload` when none.
fn file_name(given: Option<&str>) -> String {
    let base = given
        .and_then(|name| name.rsplit(['/', '\\']).next())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or("upload");
    base.chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME_CHARS)
        .collect()
}

fn malformed(error: multer::Error) -> ApiError {
    match error {
        multer::Error::StreamSizeExceeded { limit } => ApiError::FileTooLarge {
            limit: limit.saturating_sub(MULTIPART_OVERHEAD),
        },
        other => ApiError::invalid("file", format!("the multipart form is malformed: {other}")),
    }
}

fn write_error(error: WriteError) -> ApiError {
    match error {
        WriteError::TooLarge { limit } => ApiError::FileTooLarge { limit },
        WriteError::Io(error) => ApiError::internal(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_keeps_its_last_part_without_control_characters() {
        assert_eq!(file_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(file_name(Some("C:\\data\\lines.jsonl")), "lines.jsonl");
        assert_eq!(file_name(Some("a\nb.jsonl")), "ab.jsonl");
        assert_eq!(file_name(None), "upload");
        assert_eq!(file_name(Some("  ")), "upload");
    }

    #[test]
    fn only_the_callers_purposes_can_be_uploaded() {
        assert_eq!(Purpose::uploadable("batch"), Some(Purpose::Batch));
        assert_eq!(Purpose::uploadable("fine-tune"), Some(Purpose::FineTune));
        assert_eq!(Purpose::uploadable("batch_output"), None);
        assert_eq!(Purpose::uploadable("Batch"), None);
    }
}
