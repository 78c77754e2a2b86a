//! Files' contents in the database (migration 0035), for `[batches] file_contents = "database"`:
//! each file's bytes in rows keyed by the file and the position of their first byte, so a file is
//! written by appending rows and read by walking them in order, one row at a time, never whole.
//! The `batch` crate cuts the bytes into rows (at most 1 MiB each) and checks that what it reads
//! adds up to the file's size; [`Store::delete_file`] deletes a file's rows with its metadata.

use domain::{FileId, UnixMillis, now_millis};

use crate::batches::BatchStatus;
use crate::codec::{parsed, to_bigint, unsigned};
use crate::{Store, StoreError};

impl Store {
    /// Stores `bytes` as the row of file `file` starting at byte `first_byte`. A row already
    /// there is an error: two writers of one file (two replicas running one batch) never both
    /// succeed.
    pub async fn append_file_chunk(
        &self,
        file: FileId,
        first_byte: u64,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO file_chunks (file_id, first_byte, bytes, written_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(file.to_string())
        .bind(to_bigint("first_byte", first_byte)?)
        .bind(bytes)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The first row of file `file` starting at byte `from` or after: where it starts, and its
    /// bytes; `None` past the last.
    pub async fn next_file_chunk(
        &self,
        file: FileId,
        from: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "SELECT first_byte, bytes FROM file_chunks WHERE file_id = $1 AND first_byte >= $2 \
             ORDER BY first_byte LIMIT 1",
        )
        .bind(file.to_string())
        .bind(to_bigint("from", from)?)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let first_byte = unsigned(&row, "first_byte")?;
        Ok(Some((first_byte, sqlx::Row::try_get(&row, "bytes")?)))
    }

    /// Deletes the rows of file `file` that start at byte `len` or after (what a run appended
    /// past its last commit), and says how many bytes the file's rows hold then.
    pub async fn cut_file_chunks(&self, file: FileId, len: u64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM file_chunks WHERE file_id = $1 AND first_byte >= $2")
            .bind(file.to_string())
            .bind(to_bigint("len", len)?)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(LENGTH(bytes)), 0) AS BIGINT) AS held FROM file_chunks \
             WHERE file_id = $1",
        )
        .bind(file.to_string())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        unsigned(&row, "held")
    }

    /// The files (with metadata) that have rows here, by id: those to move out when the contents
    /// are kept on disk.
    pub async fn files_with_chunks(&self) -> Result<Vec<FileId>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT file_id FROM file_chunks WHERE file_id IN (SELECT id FROM files) \
             ORDER BY file_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| parsed(row, "file_id")).collect()
    }

    /// Deletes every row of file `file` (an upload given up, a batch's spool dropped).
    pub async fn delete_file_chunks(&self, file: FileId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM file_chunks WHERE file_id = $1")
            .bind(file.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the rows written before `before` of files that have no metadata and are no
    /// unfinished batch's output or error file: uploads a crash cut short, the spools of batches
    /// that failed. How many rows went.
    pub async fn purge_orphan_file_chunks(&self, before: UnixMillis) -> Result<u64, StoreError> {
        let ended = BatchStatus::ALL.into_iter().filter(|s| s.is_final());
        let ended: Vec<String> = ended.map(|s| format!("'{}'", s.as_str())).collect();
        let running = format!("status NOT IN ({})", ended.join(", "));
        let purged = sqlx::query(&format!(
            "DELETE FROM file_chunks WHERE written_at < $1 \
             AND file_id NOT IN (SELECT id FROM files) \
             AND file_id NOT IN (SELECT output_file_id FROM batches \
                 WHERE output_file_id IS NOT NULL AND {running}) \
             AND file_id NOT IN (SELECT error_file_id FROM batches \
                 WHERE error_file_id IS NOT NULL AND {running})"
        ))
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(purged.rows_affected())
    }
}
