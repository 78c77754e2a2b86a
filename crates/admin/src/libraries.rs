//! `/v1/libraries`: knowledge libraries and their documents, searched with the caller's rights.
//!
//! A library belongs to an entity (`entity`, a slug) or to the group (no `entity`); creating one
//! is `library.create` on that entity, which its administrators hold (`manage_entity`). Every
//! other route names a library and asks Cedar about the library itself (`Library` in
//! `fabrique.cedarschema`: its entity, readers and editors, against the caller's reader tags,
//! `knowledge::Reader`): readers read and search, editors also add and delete documents, the
//! owning entity's administrators do all that and delete the library. A library the caller may
//! not read answers 404 like a missing one, and the refusal is audited.
//!
//! Documents are sent as the request body (`POST …/documents?name=report.pdf`, 10 MiB at most)
//! and read, chunked, embedded (as the caller, at `batch` priority), indexed and stored before
//! the answer (`knowledge::Libraries::add_document`); a scanned PDF is kept and flagged
//! `scanned`, with no passage. The personal data found in it goes through the data policy of
//! the uploader's entity and of the library's (`[policy]`, `[entities.policy]`), the stricter
//! action of each type, as a request would on the API: `block` refuses it (422
//! `personal_data`, naming the types), `redact` and `pseudonymize` rewrite it before anything is
//! embedded or stored; the upload's `personal_data` may only tighten that. A search ranks the passages the caller may read, permissions
//! applied inside the index's search.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use domain::{AuditAction, AuditEvent, EntityId, now_millis};
use knowledge::{Libraries, PersonalData, Reader, Upload, credentials, valid_tag};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{StoredDocument, StoredLibrary};

use crate::authorize::{audit_denied, change_event, require};
use crate::body::{check_text, json, query};
use crate::caller::Caller;
use crate::users::entity_for;
use crate::{AdminAction, AdminError, AdminState};

/// The most passages a search returns.
pub const MAX_PASSAGES: usize = 50;
/// The most reader or editor tags a library or document names.
const MAX_TAGS: usize = 1_000;

/// The body of `POST /v1/libraries`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateLibrary {
    /// A name for people (at most 200 characters).
    name: String,
    #[serde(default)]
    description: String,
    /// The owning entity's slug; absent: the group's library.
    entity: Option<String>,
    /// The library's classification (a configured level); its questions are raised to it.
    /// Default: the lowest level.
    classification: Option<String>,
    /// Days a document is kept; absent: until deleted.
    retention_days: Option<u32>,
    /// Reader tags: `user:<id>`, `team:<id>`, `entity:<id or slug>`.
    #[serde(default)]
    readers: Vec<String>,
    /// Editor tags, which may also add and delete documents.
    #[serde(default)]
    editors: Vec<String>,
    /// The embedding model (a configured model) its chunks are embedded with; absent: full-text
    /// search only.
    embedding_model: Option<String>,
}

/// The query of `POST /v1/libraries/{id}/documents`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddDocument {
    /// The file's name, whose extension says its kind (pdf, docx, xlsx, html, md, txt, eml).
    name: String,
    /// Reader tags narrowing who may read this document, comma-separated; absent: the library's
    /// readers.
    readers: Option<String>,
    /// What personal data found in it does: `flag` (default), `redact` or `refuse`; it only
    /// tightens the data policy of the uploader's entity and of the library's, which apply as on
    /// the API (a type to `block` refuses the document, `redact` and `pseudonymize` rewrite it).
    #[param(value_type = Option<String>)]
    personal_data: Option<PersonalData>,
}

/// The body of `POST /v1/libraries/{id}/search`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchLibrary {
    /// The question or words looked for (at most 2,000 characters).
    query: String,
    /// Passages wanted, 1 to 50 (default 10).
    limit: Option<usize>,
}

fn service(state: &AdminState) -> Result<&Arc<Libraries>, AdminError> {
    state
        .libraries
        .as_ref()
        .ok_or_else(|| AdminError::NotFound("knowledge libraries are not set up here".into()))
}

fn check_tags(param: &'static str, tags: &[String]) -> Result<(), AdminError> {
    if tags.len() > MAX_TAGS {
        return Err(AdminError::bad_field(
            param,
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    match tags.iter().find(|t| !valid_tag(t)) {
        Some(bad) => Err(AdminError::bad_field(
            param,
            format!(
                "`{bad}` is not a tag: write `user:<id>`, `team:<id>` or `entity:<id or slug>`"
            ),
        )),
        None => Ok(()),
    }
}

/// `POST /v1/libraries` → 201 with the library.
#[utoipa::path(
    post, path = "/v1/libraries", tag = "libraries",
    request_body = CreateLibrary,
    responses((status = 201, description = "Creates a knowledge library.", body = crate::openapi::Object)),
)]
pub(crate) async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let request: CreateLibrary = json(body)?;
    check_text("name", &request.name, 200)?;
    if request.description.chars().count() > 2_000 {
        return Err(AdminError::bad_field(
            "description",
            "at most 2,000 characters",
        ));
    }
    check_tags("readers", &request.readers)?;
    check_tags("editors", &request.editors)?;
    let ladder = &state.classifications;
    let classification = match request.classification {
        Some(level) if ladder.parse(&level).is_none() => {
            return Err(AdminError::bad_field(
                "classification",
                format!("`{level}` is not a configured classification level"),
            ));
        }
        Some(level) => level,
        None => ladder.name(ladder.lowest()).to_owned(),
    };
    if let Some(model) = &request.embedding_model
        && !state.model_names.load().iter().any(|m| m == model)
    {
        return Err(AdminError::bad_field(
            "embedding_model",
            format!("`{model}` is not a configured model"),
        ));
    }
    let action = AdminAction::CreateLibrary;
    let entity = match &request.entity {
        Some(slug) => Some(entity_for(&state, &caller, action, slug).await?),
        None => {
            require(&state, &caller, action, None).await?;
            None
        }
    };
    let library = StoredLibrary {
        id: format!("lib_{}", uuid::Uuid::now_v7().simple()),
        entity_id: entity.as_ref().map(|e| e.id),
        name: request.name,
        description: request.description,
        classification,
        retention_days: request.retention_days,
        readers: request.readers,
        editors: request.editors,
        embedding_model: request.embedding_model,
        created_by: caller.actor(),
        created_at: now_millis(),
    };
    let audit = change_event(
        &caller,
        AuditAction::LibraryCreate,
        library.entity_id,
        json!({"name": library.name, "classification": library.classification}),
    );
    service(&state)?.create(&library, &audit).await?;
    let slug = entity.map(|e| e.slug);
    Ok((
        StatusCode::CREATED,
        Json(library_json(&library, slug.as_deref())),
    ))
}

/// `GET /v1/libraries` → the libraries the caller may read.
#[utoipa::path(
    get, path = "/v1/libraries", tag = "libraries",
    responses((status = 200, description = "Lists the knowledge libraries the caller may read.", body = crate::openapi::Listing)),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Value>, AdminError> {
    let reader = Reader::of(&caller.0, &state.directory);
    let slugs = crate::users::entity_slugs(&state).await?;
    let data: Vec<Value> = service(&state)?
        .all()
        .iter()
        .filter(|library| allowed(&caller, &reader, AdminAction::ReadLibrary, library))
        .map(|library| {
            let slug = library
                .entity_id
                .and_then(|id| slugs.get(&id).map(String::as_str));
            library_json(library, slug)
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// `GET /v1/libraries/{id}` → the library.
#[utoipa::path(
    get, path = "/v1/libraries/{id}", tag = "libraries",
    params(("id" = String, Path, description = "The library's id (`lib_…`)")),
    responses((status = 200, description = "Shows a knowledge library.", body = crate::openapi::Object)),
)]
pub(crate) async fn get(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let library = permitted(&state, &caller, AdminAction::ReadLibrary, &id).await?;
    let slug = entity_slug(&state, library.entity_id).await?;
    Ok(Json(library_json(&library, slug.as_deref())))
}

/// `DELETE /v1/libraries/{id}` → the library, deleted with its documents and their passages.
#[utoipa::path(
    delete, path = "/v1/libraries/{id}", tag = "libraries",
    params(("id" = String, Path, description = "The library's id (`lib_…`)")),
    responses((status = 200, description = "Deletes a knowledge library, its documents and their passages.", body = crate::openapi::Object)),
)]
pub(crate) async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let library = permitted(&state, &caller, AdminAction::DeleteLibrary, &id).await?;
    let audit = change_event(
        &caller,
        AuditAction::LibraryDelete,
        library.entity_id,
        json!({"name": library.name}),
    );
    service(&state)?.delete(&library.id, &audit).await?;
    Ok(Json(
        json!({"id": library.id, "object": "library", "deleted": true}),
    ))
}

/// `POST /v1/libraries/{id}/documents?name=…` with the document as the body → 201 with the
/// document (its pages, passages, whether it is a scan, what the personal-data rule did).
#[utoipa::path(
    post, path = "/v1/libraries/{id}/documents", tag = "libraries",
    params(("id" = String, Path, description = "The library's id (`lib_…`)"), AddDocument),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, description = "Adds a document: read, chunked, embedded and indexed before the answer.", body = crate::openapi::Object)),
)]
pub(crate) async fn add_document(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    added: Result<Query<AddDocument>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let added = query(added)?;
    check_text("name", &added.name, 255)?;
    let readers = match &added.readers {
        Some(readers) => {
            let tags: Vec<String> = readers.split(',').map(|t| t.trim().to_owned()).collect();
            check_tags("readers", &tags)?;
            Some(tags)
        }
        None => None,
    };
    let body =
        body.map_err(|e| AdminError::bad_request(format!("cannot read the document: {e}")))?;
    let library = permitted(&state, &caller, AdminAction::AddLibraryDocument, &id).await?;
    // The data policy as the API applies it, to the uploader's and to the library's entity.
    let library_entity = entity_slug(&state, library.entity_id).await?;
    let policies = state.data_policies.load_full();
    let uploader = &policies.of(caller.0.entity_slug.as_deref()).actions;
    let upload = Upload {
        name: added.name,
        bytes: body,
        readers,
        personal_data: added.personal_data.unwrap_or_default(),
        policy: uploader.stricter(&policies.of(library_entity.as_deref()).actions),
    };
    let audit = change_event(
        &caller,
        AuditAction::LibraryDocumentAdd,
        library.entity_id,
        json!({"library": library.id, "name": upload.name}),
    );
    let document = service(&state)?
        .add_document(&library, upload, &credentials(&headers), &audit)
        .await?;
    Ok((StatusCode::CREATED, Json(document_json(&document))))
}

/// `GET /v1/libraries/{id}/documents` → the library's documents.
#[utoipa::path(
    get, path = "/v1/libraries/{id}/documents", tag = "libraries",
    params(("id" = String, Path, description = "The library's id (`lib_…`)")),
    responses((status = 200, description = "Lists a knowledge library's documents.", body = crate::openapi::Listing)),
)]
pub(crate) async fn list_documents(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let library = permitted(&state, &caller, AdminAction::ReadLibrary, &id).await?;
    let reader = Reader::of(&caller.0, &state.directory);
    let documents = service(&state)?
        .store()
        .library_documents(&library.id)
        .await?;
    let editor = allowed(&caller, &reader, AdminAction::AddLibraryDocument, &library);
    // A document with readers of its own is listed only to them and the library's editors.
    let data: Vec<Value> = documents
        .iter()
        .filter(|d| editor || d.readers.as_ref().is_none_or(|r| reader.is_among(r)))
        .map(document_json)
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// `DELETE /v1/libraries/{id}/documents/{document}` → the document, deleted with its passages.
#[utoipa::path(
    delete, path = "/v1/libraries/{id}/documents/{document}", tag = "libraries",
    params(
        ("id" = String, Path, description = "The library's id (`lib_…`)"),
        ("document" = String, Path, description = "The document's id (`doc_…`)"),
    ),
    responses((status = 200, description = "Deletes a document and its passages, from the store and the index files.", body = crate::openapi::Object)),
)]
pub(crate) async fn delete_document(
    State(state): State<AdminState>,
    caller: Caller,
    Path((id, document)): Path<(String, String)>,
) -> Result<Json<Value>, AdminError> {
    let library = permitted(&state, &caller, AdminAction::DeleteLibraryDocument, &id).await?;
    let audit = AuditEvent {
        target: document.clone(),
        ..change_event(
            &caller,
            AuditAction::LibraryDocumentDelete,
            library.entity_id,
            json!({"library": library.id}),
        )
    };
    if !service(&state)?
        .delete_document(&library, &document, &audit)
        .await?
    {
        return Err(AdminError::NotFound(format!(
            "no document `{document}` in this library"
        )));
    }
    Ok(Json(
        json!({"id": document, "object": "library.document", "deleted": true}),
    ))
}

/// `POST /v1/libraries/{id}/search` → the passages the caller may read, best first.
#[utoipa::path(
    post, path = "/v1/libraries/{id}/search", tag = "libraries",
    params(("id" = String, Path, description = "The library's id (`lib_…`)")),
    request_body = SearchLibrary,
    responses((status = 200, description = "Searches a knowledge library (full text and vectors, fused); only passages of documents the caller may read.", body = crate::openapi::Listing)),
)]
pub(crate) async fn search(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    let request: SearchLibrary = json(body)?;
    check_text("query", &request.query, 2_000)?;
    let limit = request.limit.unwrap_or(10);
    if !(1..=MAX_PASSAGES).contains(&limit) {
        return Err(AdminError::bad_field(
            "limit",
            format!("`limit` must be 1 to {MAX_PASSAGES}"),
        ));
    }
    let library = permitted(&state, &caller, AdminAction::ReadLibrary, &id).await?;
    let reader = Reader::of(&caller.0, &state.directory);
    let hits = service(&state)?
        .search(
            std::slice::from_ref(&library),
            &reader,
            &credentials(&headers),
            &request.query,
            limit,
        )
        .await?;
    let audit = AuditEvent {
        target: library.id.clone(),
        ..change_event(
            &caller,
            AuditAction::LibraryRead,
            library.entity_id,
            json!({"search": true, "passages": hits.len()}),
        )
    };
    state.store.append_audit(&audit).await?;
    let data: Vec<Value> = hits
        .iter()
        .map(|hit| {
            json!({
                "document": hit.document, "name": hit.title, "page": hit.page,
                "text": hit.text, "score": hit.score,
            })
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// The library `id`, if the caller may do `action` on it; else 404 as for a missing one, the
/// refusal audited.
pub(crate) async fn permitted(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    id: &str,
) -> Result<StoredLibrary, AdminError> {
    let missing = || AdminError::NotFound(format!("no library with id `{id}`"));
    let library = service(state)?.library(id).ok_or_else(missing)?;
    let reader = Reader::of(&caller.0, &state.directory);
    if allowed(caller, &reader, action, &library) {
        return Ok(library);
    }
    audit_denied(state, caller, action, library.entity_id, library.id.clone()).await;
    // Who may read it learns that they may not change it; others learn nothing.
    if action != AdminAction::ReadLibrary
        && allowed(caller, &reader, AdminAction::ReadLibrary, &library)
    {
        return Err(AdminError::Forbidden { action });
    }
    Err(missing())
}

fn allowed(caller: &Caller, reader: &Reader, action: AdminAction, library: &StoredLibrary) -> bool {
    crate::policies::engine()
        .is_some_and(|engine| engine.allows_on_library(&caller.0, &reader.tags, action, library))
}

/// Whether `principal` may read `library` (the chat's library extension asks this).
pub fn may_read_library(
    principal: &identity::Principal,
    directory: &identity::Directory,
    library: &StoredLibrary,
) -> bool {
    let reader = Reader::of(principal, directory);
    crate::policies::engine().is_some_and(|engine| {
        engine.allows_on_library(principal, &reader.tags, AdminAction::ReadLibrary, library)
    })
}

async fn entity_slug(
    state: &AdminState,
    entity: Option<EntityId>,
) -> Result<Option<String>, AdminError> {
    Ok(match entity {
        Some(id) => state.store.entity(id).await?.map(|e| e.slug),
        None => None,
    })
}

fn library_json(library: &StoredLibrary, entity_slug: Option<&str>) -> Value {
    json!({
        "id": library.id,
        "object": "library",
        "name": library.name,
        "description": library.description,
        "entity": entity_slug,
        "classification": library.classification,
        "retention_days": library.retention_days,
        "readers": library.readers,
        "editors": library.editors,
        "embedding_model": library.embedding_model,
        "created_by": library.created_by,
        "created_at": library.created_at,
    })
}

fn document_json(document: &StoredDocument) -> Value {
    json!({
        "id": document.id,
        "object": "library.document",
        "library": document.library_id,
        "name": document.name,
        "kind": document.kind,
        "bytes": document.bytes,
        "sha256": document.sha256,
        "pages": document.pages,
        "chunks": document.chunks,
        "scanned": document.scanned,
        "personal_data": document.personal_data,
        "readers": document.readers,
        "added_by": document.added_by,
        "added_at": document.added_at,
    })
}
