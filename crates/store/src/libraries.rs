//! Knowledge libraries (migration 0029): libraries, their documents and the documents' chunks,
//! each chunk with its embedding (migration 0035: `vector`, f32 little-endian; NULL when none was
//! made), so that every replica builds its own index from the store without embedding anything
//! again. Each change is written with its audit event in one transaction; deleting a document or
//! a library deletes its chunks' rows in the same transaction (the index under the data directory
//! is the `knowledge` crate's to clear). On PostgreSQL a change to `libraries` or
//! `library_documents` sends the change notice `libraries`. Each document added or deleted is
//! logged in the same transaction (`library_changes.rs`), for replicas' syncs.

use domain::{AuditEvent, EntityId, UnixMillis};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::audit::insert_targeted;
use crate::codec::{int, opt_int, opt_parsed, opt_text, text, to_bigint, unsigned};
use crate::library_changes::{Change, log_document, log_library_deleted, take_numbering};
use crate::{Store, StoreError};

/// A library as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLibrary {
    pub id: String,
    /// `None`: the group's.
    pub entity_id: Option<EntityId>,
    pub name: String,
    pub description: String,
    pub classification: String,
    pub retention_days: Option<u32>,
    /// Reader tags (`user:<id>`, `team:<id>`, `entity:<id>`).
    pub readers: Vec<String>,
    pub editors: Vec<String>,
    pub embedding_model: Option<String>,
    pub created_by: String,
    pub created_at: UnixMillis,
}

/// A document of a library as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub id: String,
    pub library_id: String,
    pub name: String,
    pub kind: String,
    pub bytes: u64,
    pub sha256: String,
    pub pages: u32,
    pub chunks: u32,
    pub scanned: bool,
    pub personal_data: String,
    /// `None`: the library's readers.
    pub readers: Option<Vec<String>>,
    pub added_by: String,
    pub added_at: UnixMillis,
}

/// A chunk's row: its place, page, text and embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    pub ordinal: u32,
    pub page: u32,
    pub text: String,
    /// Its embedding; empty when none was made (a library without an embedding model, or a
    /// chunk stored before embeddings were kept).
    pub vector: Vec<f32>,
}

const LIBRARY_COLUMNS: &str = "id, entity_id, name, description, classification, retention_days, \
                               readers, editors, embedding_model, created_by, created_at";
pub(crate) const DOCUMENT_COLUMNS: &str = "id, library_id, name, kind, bytes, sha256, pages, chunks, scanned, \
                                personal_data, readers, added_by, added_at";

/// Tags one a line (they hold no line break: `knowledge` checks them).
fn joined(tags: &[String]) -> String {
    tags.join("\n")
}

fn split(joined: &str) -> Vec<String> {
    joined
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Store {
    /// Stores a new library with its audit event (target: the library).
    pub async fn create_library(
        &self,
        library: &StoredLibrary,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO libraries ({LIBRARY_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(library.id.as_str())
        .bind(library.entity_id.map(|id| id.to_string()))
        .bind(library.name.as_str())
        .bind(library.description.as_str())
        .bind(library.classification.as_str())
        .bind(library.retention_days.map(i64::from))
        .bind(joined(&library.readers))
        .bind(joined(&library.editors))
        .bind(library.embedding_model.as_deref())
        .bind(library.created_by.as_str())
        .bind(library.created_at)
        .execute(&mut *tx)
        .await?;
        insert_targeted(&mut tx, audit, library.id.clone(), library.entity_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every library, oldest first (callers narrow them to what their caller may read).
    pub async fn libraries(&self) -> Result<Vec<StoredLibrary>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LIBRARY_COLUMNS} FROM libraries ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(library_row).collect()
    }

    /// The library `id`.
    pub async fn library(&self, id: &str) -> Result<Option<StoredLibrary>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {LIBRARY_COLUMNS} FROM libraries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(library_row).transpose()
    }

    /// Deletes the library `id`, its documents and their chunks, with its audit event; `false`
    /// when there was no such library.
    pub async fn delete_library(&self, id: &str, audit: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        take_numbering(&mut tx, self.backend).await?;
        // The log's rows are the first write (on SQLite a transaction that writes first waits
        // for the lock); the deletion rolls them back with it when there is no such library.
        log_library_deleted(&mut tx, id).await?;
        sqlx::query(
            "DELETE FROM library_chunks WHERE document_id IN \
             (SELECT id FROM library_documents WHERE library_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM library_documents WHERE library_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM libraries WHERE id = $1 RETURNING entity_id")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = deleted else {
            return Ok(false);
        };
        let entity: Option<EntityId> = opt_parsed(&row, "entity_id")?;
        insert_targeted(&mut tx, audit, id.to_owned(), entity).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a document and its chunks with its audit event (target: the document).
    pub async fn add_library_document(
        &self,
        document: &StoredDocument,
        chunks: &[StoredChunk],
        entity: Option<EntityId>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        take_numbering(&mut tx, self.backend).await?;
        sqlx::query(&format!(
            "INSERT INTO library_documents ({DOCUMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(document.id.as_str())
        .bind(document.library_id.as_str())
        .bind(document.name.as_str())
        .bind(document.kind.as_str())
        .bind(to_bigint("bytes", document.bytes)?)
        .bind(document.sha256.as_str())
        .bind(i64::from(document.pages))
        .bind(i64::from(document.chunks))
        .bind(i64::from(document.scanned))
        .bind(document.personal_data.as_str())
        .bind(document.readers.as_deref().map(joined))
        .bind(document.added_by.as_str())
        .bind(document.added_at)
        .execute(&mut *tx)
        .await?;
        for chunk in chunks {
            sqlx::query(
                "INSERT INTO library_chunks (document_id, ordinal, page, text, vector) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(document.id.as_str())
            .bind(i64::from(chunk.ordinal))
            .bind(i64::from(chunk.page))
            .bind(chunk.text.as_str())
            .bind((!chunk.vector.is_empty()).then(|| vector_bytes(&chunk.vector)))
            .execute(&mut *tx)
            .await?;
        }
        let logged = (document.library_id.as_str(), document.id.as_str());
        log_document(&mut tx, Change::Added, logged).await?;
        insert_targeted(&mut tx, audit, document.id.clone(), entity).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The documents of library `library`, oldest first.
    pub async fn library_documents(
        &self,
        library: &str,
    ) -> Result<Vec<StoredDocument>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM library_documents WHERE library_id = $1 \
             ORDER BY added_at, id"
        ))
        .bind(library)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(document_row).collect()
    }

    /// The chunks of document `document`, in order, with their embeddings.
    pub async fn library_chunks(&self, document: &str) -> Result<Vec<StoredChunk>, StoreError> {
        let rows = sqlx::query(
            "SELECT ordinal, page, text, vector FROM library_chunks WHERE document_id = $1 \
             ORDER BY ordinal",
        )
        .bind(document)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let vector: Option<Vec<u8>> = row.try_get("vector")?;
                Ok(StoredChunk {
                    ordinal: unsigned(row, "ordinal")?,
                    page: unsigned(row, "page")?,
                    text: text(row, "text")?,
                    vector: vector.as_deref().map(vector_of).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Every document of every library, oldest first: what a replica's index is brought in
    /// line with.
    pub async fn all_library_documents(&self) -> Result<Vec<StoredDocument>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM library_documents ORDER BY added_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(document_row).collect()
    }

    /// The documents of libraries with an embedding model whose chunks are stored without
    /// embeddings (stored before embeddings were kept), so a replica whose index has them can
    /// write them.
    pub async fn documents_without_vectors(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT c.document_id FROM library_chunks c \
             JOIN library_documents d ON d.id = c.document_id \
             JOIN libraries l ON l.id = d.library_id \
             WHERE c.vector IS NULL AND l.embedding_model IS NOT NULL ORDER BY c.document_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| text(row, "document_id")).collect()
    }

    /// Writes the embeddings of document `document`'s chunks, by ordinal, where none is stored.
    pub async fn fill_chunk_vectors(
        &self,
        document: &str,
        vectors: &[(u32, Vec<f32>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (ordinal, vector) in vectors.iter().filter(|(_, v)| !v.is_empty()) {
            sqlx::query(
                "UPDATE library_chunks SET vector = $1 \
                 WHERE document_id = $2 AND ordinal = $3 AND vector IS NULL",
            )
            .bind(vector_bytes(vector))
            .bind(document)
            .bind(i64::from(*ordinal))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes document `id` of library `library` and its chunks, with its audit event; `false`
    /// when the library holds no such document.
    pub async fn delete_library_document(
        &self,
        library: &str,
        id: &str,
        entity: Option<EntityId>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        take_numbering(&mut tx, self.backend).await?;
        // The chunks first: they refer to the document.
        sqlx::query(
            "DELETE FROM library_chunks WHERE document_id IN \
             (SELECT id FROM library_documents WHERE id = $1 AND library_id = $2)",
        )
        .bind(id)
        .bind(library)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query(
            "DELETE FROM library_documents WHERE id = $1 AND library_id = $2 RETURNING id",
        )
        .bind(id)
        .bind(library)
        .fetch_optional(&mut *tx)
        .await?;
        if deleted.is_none() {
            return Ok(false);
        }
        log_document(&mut tx, Change::Deleted, (library, id)).await?;
        insert_targeted(&mut tx, audit, id.to_owned(), entity).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// An embedding as stored: each number's four bytes, little-endian (here and in the knowledge
/// index's files alike).
pub fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The embedding [`vector_bytes`] stored; a trailing part of a number is ignored.
pub fn vector_of(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn library_row(row: &AnyRow) -> Result<StoredLibrary, StoreError> {
    let retention: Option<i64> = opt_int(row, "retention_days")?;
    Ok(StoredLibrary {
        id: text(row, "id")?,
        entity_id: opt_parsed(row, "entity_id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        classification: text(row, "classification")?,
        retention_days: retention.and_then(|days| u32::try_from(days).ok()),
        readers: split(&text(row, "readers")?),
        editors: split(&text(row, "editors")?),
        embedding_model: opt_text(row, "embedding_model")?,
        created_by: text(row, "created_by")?,
        created_at: int(row, "created_at")?,
    })
}

pub(crate) fn document_row(row: &AnyRow) -> Result<StoredDocument, StoreError> {
    Ok(StoredDocument {
        id: text(row, "id")?,
        library_id: text(row, "library_id")?,
        name: text(row, "name")?,
        kind: text(row, "kind")?,
        bytes: unsigned(row, "bytes")?,
        sha256: text(row, "sha256")?,
        pages: unsigned(row, "pages")?,
        chunks: unsigned(row, "chunks")?,
        scanned: int(row, "scanned")? != 0,
        personal_data: text(row, "personal_data")?,
        readers: opt_text(row, "readers")?.map(|r| split(&r)),
        added_by: text(row, "added_by")?,
        added_at: int(row, "added_at")?,
    })
}
