//! Uploaded files' metadata (migration 0026): who owns each, its name, purpose, size and digest.
//! The bytes are the `batch` crate's to keep: on disk, or in `file_chunks` (`file_chunks.rs`),
//! whose rows of a file are deleted in the transaction that deletes the file. A file is created with its
//! audit event in one transaction, within its entity's quota, counted in that transaction after
//! the insert, under a lock of the entity's files on PostgreSQL (SQLite has one writer at a time
//! already), so two uploads at once, even on two replicas, cannot both pass it. Every read is
//! narrowed to the owner: another owner's file reads as absent.

use domain::{AuditEvent, EntityId, FileId, KeyOwner, UnixMillis};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::audit::insert_targeted;
use crate::codec::{int, opt_parsed, owner, owner_columns, parsed, text, to_bigint, unsigned};
use crate::{Backend, Store, StoreError};

/// One file's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub id: FileId,
    /// `None`: a group-level service account's file.
    pub entity_id: Option<EntityId>,
    pub owner: KeyOwner,
    pub filename: String,
    /// The purpose named at upload (`batch`, `user_data`…), or `batch_output` for a batch's.
    pub purpose: String,
    pub bytes: u64,
    /// SHA-256 of the content, in lowercase hex.
    pub sha256: String,
    pub created_at: UnixMillis,
}

/// What [`Store::create_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCreated {
    Created,
    /// The entity's files already hold `used` bytes: this one would pass the quota.
    OverQuota {
        used: u64,
    },
}

/// Which files of one owner a listing returns, newest first unless `oldest_first`.
#[derive(Debug, Clone, Default)]
pub struct FileSelection<'a> {
    pub purpose: Option<&'a str>,
    /// Only files after this one, in the listing's order.
    pub after: Option<FileId>,
    pub limit: u32,
    pub oldest_first: bool,
}

const COLUMNS: &str =
    "id, entity_id, owner_kind, owner_id, filename, purpose, bytes, sha256, created_at";

impl Store {
    /// Stores a file's metadata with its audit event, unless the bytes of the entity's files and
    /// this one's would pass `quota` (group-level files count as one entity's).
    pub async fn create_file(
        &self,
        file: &StoredFile,
        quota: u64,
        audit: &AuditEvent,
    ) -> Result<FileCreated, StoreError> {
        let mut tx = self.pool.begin().await?;
        let entity = file.entity_id.map(|e| e.to_string()).unwrap_or_default();
        if self.backend == Backend::Postgres {
            // Two uploads of one entity (on two replicas, say) would each count its files without
            // the other's under READ COMMITTED: this lock makes them count one after the other.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext($1))")
                .bind(format!("files:{entity}"))
                .execute(&mut *tx)
                .await?;
        }
        // The insert comes first: on SQLite a transaction whose first statement writes waits for
        // the lock, where one that reads first fails if another writer committed meanwhile.
        insert_file(&mut tx, file).await?;
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS used FROM files \
             WHERE COALESCE(entity_id, '') = $1",
        )
        .bind(entity)
        .fetch_one(&mut *tx)
        .await?;
        let used = unsigned::<u64>(&row, "used")?.saturating_sub(file.bytes);
        if used.saturating_add(file.bytes) > quota {
            tx.rollback().await?;
            return Ok(FileCreated::OverQuota { used });
        }
        insert_targeted(&mut tx, audit, file.id.to_string(), file.entity_id).await?;
        tx.commit().await?;
        Ok(FileCreated::Created)
    }

    /// The file `id` when `owner` owns it.
    pub async fn file(
        &self,
        id: FileId,
        owner: KeyOwner,
    ) -> Result<Option<StoredFile>, StoreError> {
        let (owner_kind, owner_id) = owner_columns(owner);
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM files WHERE id = $1 AND owner_kind = $2 AND owner_id = $3"
        ))
        .bind(id.to_string())
        .bind(owner_kind)
        .bind(owner_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(file_row).transpose()
    }

    /// The file `id`, whoever owns it: for moving files' contents between their places, never
    /// for a caller's read.
    pub async fn stored_file(&self, id: FileId) -> Result<Option<StoredFile>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM files WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(file_row).transpose()
    }

    /// `owner`'s files, as `selection` says.
    pub async fn files(
        &self,
        owner: KeyOwner,
        selection: &FileSelection<'_>,
    ) -> Result<Vec<StoredFile>, StoreError> {
        let (owner_kind, owner_id) = owner_columns(owner);
        let (before_or_after, order) = match selection.oldest_first {
            true => (">", "ASC"),
            false => ("<", "DESC"),
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM files WHERE owner_kind = $1 AND owner_id = $2 \
             AND ($3 = '' OR purpose = $3) AND ($4 = '' OR id {before_or_after} $4) \
             ORDER BY id {order} LIMIT $5"
        ))
        .bind(owner_kind)
        .bind(owner_id)
        .bind(selection.purpose.unwrap_or_default())
        .bind(selection.after.map(|id| id.to_string()).unwrap_or_default())
        .bind(i64::from(selection.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(file_row).collect()
    }

    /// Deletes the file `id` of `owner`, with its audit event and its contents' rows in the
    /// database; `None` when they own no such file. The caller removes bytes kept on disk after.
    pub async fn delete_file(
        &self,
        id: FileId,
        owner: KeyOwner,
        audit: &AuditEvent,
    ) -> Result<Option<StoredFile>, StoreError> {
        let (owner_kind, owner_id) = owner_columns(owner);
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "DELETE FROM files WHERE id = $1 AND owner_kind = $2 AND owner_id = $3 \
             RETURNING {COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(owner_kind)
        .bind(owner_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(file) = row.as_ref().map(file_row).transpose()? else {
            return Ok(None);
        };
        // Its contents, when kept in the database, go with it.
        sqlx::query("DELETE FROM file_chunks WHERE file_id = $1")
            .bind(file.id.to_string())
            .execute(&mut *tx)
            .await?;
        insert_targeted(&mut tx, audit, file.id.to_string(), file.entity_id).await?;
        tx.commit().await?;
        Ok(Some(file))
    }
}

/// Inserts `file`'s row (in the caller's transaction).
pub(crate) async fn insert_file(
    conn: &mut AnyConnection,
    file: &StoredFile,
) -> Result<(), StoreError> {
    let (owner_kind, owner_id) = owner_columns(file.owner);
    sqlx::query(&format!(
        "INSERT INTO files ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(file.id.to_string())
    .bind(file.entity_id.map(|e| e.to_string()))
    .bind(owner_kind)
    .bind(owner_id)
    .bind(file.filename.as_str())
    .bind(file.purpose.as_str())
    .bind(to_bigint("bytes", file.bytes)?)
    .bind(file.sha256.as_str())
    .bind(file.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

fn file_row(row: &AnyRow) -> Result<StoredFile, StoreError> {
    Ok(StoredFile {
        id: parsed(row, "id")?,
        entity_id: opt_parsed(row, "entity_id")?,
        owner: owner(&text(row, "owner_kind")?, &text(row, "owner_id")?)?,
        filename: text(row, "filename")?,
        purpose: text(row, "purpose")?,
        bytes: unsigned(row, "bytes")?,
        sha256: text(row, "sha256")?,
        created_at: int(row, "created_at")?,
    })
}
