//! Documents attached to use cases (migration 0032): an impact assessment's evidence, kept with
//! the registry. Each row holds the document's metadata and its bytes; listings read the metadata
//! only. Every read is narrowed to the use case named, so a document id of another use case reads
//! as absent. Adding and deleting commit with their audit event.

use std::collections::BTreeMap;

use domain::{AuditEvent, UnixMillis, UseCaseDocumentId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::insert_audit;
use crate::codec::{int, parsed, text, to_bigint, unsigned};
use crate::{Store, StoreError};

/// One document's metadata (its bytes are read apart, by [`Store::use_case_document`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUseCaseDocument {
    pub id: UseCaseDocumentId,
    /// The use case's slug.
    pub use_case: String,
    /// The name it was uploaded under.
    pub filename: String,
    /// Its media type as uploaded (`application/pdf`…).
    pub media_type: String,
    pub bytes: u64,
    /// SHA-256 of the content, in lowercase hex.
    pub sha256: String,
    /// The audit actor who uploaded it.
    pub uploaded_by: String,
    pub uploaded_at: UnixMillis,
}

const COLUMNS: &str = "id, use_case, filename, media_type, bytes, sha256, uploaded_by, uploaded_at";

impl Store {
    /// Stores a document and its bytes with its audit event; [`StoreError::NotFound`] when the
    /// use case does not exist.
    pub async fn add_use_case_document(
        &self,
        document: &StoredUseCaseDocument,
        content: &[u8],
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO use_case_documents ({COLUMNS}, content) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS \
             (SELECT 1 FROM use_cases WHERE slug = $2)"
        ))
        .bind(document.id.to_string())
        .bind(document.use_case.as_str())
        .bind(document.filename.as_str())
        .bind(document.media_type.as_str())
        .bind(to_bigint("bytes", document.bytes)?)
        .bind(document.sha256.as_str())
        .bind(document.uploaded_by.as_str())
        .bind(document.uploaded_at)
        .bind(content.to_vec())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no use case `{}`",
                document.use_case
            )));
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A use case's documents, oldest first, without their bytes.
    pub async fn use_case_documents(
        &self,
        use_case: &str,
    ) -> Result<Vec<StoredUseCaseDocument>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM use_case_documents WHERE use_case = $1 \
             ORDER BY uploaded_at, id"
        ))
        .bind(use_case)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(document_row)
        .collect()
    }

    /// The document `id` of `use_case` with its bytes; `None` when that use case has no such
    /// document.
    pub async fn use_case_document(
        &self,
        use_case: &str,
        id: UseCaseDocumentId,
    ) -> Result<Option<(StoredUseCaseDocument, Vec<u8>)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, content FROM use_case_documents WHERE id = $1 AND use_case = $2"
        ))
        .bind(id.to_string())
        .bind(use_case)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((document_row(&row)?, row.try_get::<Vec<u8>, _>("content")?)))
            .transpose()
    }

    /// Deletes the document `id` of `use_case` with its audit event; `None` when that use case
    /// has no such document.
    pub async fn delete_use_case_document(
        &self,
        use_case: &str,
        id: UseCaseDocumentId,
        audit: &AuditEvent,
    ) -> Result<Option<StoredUseCaseDocument>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "DELETE FROM use_case_documents WHERE id = $1 AND use_case = $2 RETURNING {COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(use_case)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(document) = row.as_ref().map(document_row).transpose()? else {
            return Ok(None);
        };
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Some(document))
    }

    /// The names of every use case's documents, oldest first, by slug: one query for the
    /// register, whatever the number of use cases.
    pub async fn use_case_document_names(
        &self,
    ) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let rows = sqlx::query(
            "SELECT use_case, filename FROM use_case_documents ORDER BY use_case, uploaded_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in &rows {
            names
                .entry(text(row, "use_case")?)
                .or_default()
                .push(text(row, "filename")?);
        }
        Ok(names)
    }
}

fn document_row(row: &AnyRow) -> Result<StoredUseCaseDocument, StoreError> {
    Ok(StoredUseCaseDocument {
        id: parsed(row, "id")?,
        use_case: text(row, "use_case")?,
        filename: text(row, "filename")?,
        media_type: text(row, "media_type")?,
        bytes: unsigned(row, "bytes")?,
        sha256: text(row, "sha256")?,
        uploaded_by: text(row, "uploaded_by")?,
        uploaded_at: int(row, "uploaded_at")?,
    })
}
