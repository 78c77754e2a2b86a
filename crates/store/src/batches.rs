//! Batches (migration 0028): their lifecycle, their counts, and the runner's committed progress —
//! the first line not yet done and the committed lengths of the two spool files the results are
//! appended to — so a restart resumes where the last commit left off. Reads by callers are
//! narrowed to the owner; the runner's reads are not (it runs every owner's batches).

use domain::{AuditEvent, BatchId, EntityId, FileId, KeyId, KeyOwner, UnixMillis};
use sqlx::any::AnyRow;

use crate::audit::insert_targeted;
use crate::codec::{
    int, opt_int, opt_parsed, opt_text, owner, owner_columns, parsed, text, to_bigint, unsigned,
};
use crate::files::StoredFile;
use crate::{Store, StoreError};

/// Where a batch is in its life (OpenAI's statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchStatus {
    Validating,
    InProgress,
    Finalizing,
    Completed,
    Failed,
    Expired,
    Cancelling,
    Cancelled,
}

impl BatchStatus {
    pub const ALL: [BatchStatus; 8] = [
        BatchStatus::Validating,
        BatchStatus::InProgress,
        BatchStatus::Finalizing,
        BatchStatus::Completed,
        BatchStatus::Failed,
        BatchStatus::Expired,
        BatchStatus::Cancelling,
        BatchStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Validating => "validating",
            BatchStatus::InProgress => "in_progress",
            BatchStatus::Finalizing => "finalizing",
            BatchStatus::Completed => "completed",
            BatchStatus::Failed => "failed",
            BatchStatus::Expired => "expired",
            BatchStatus::Cancelling => "cancelling",
            BatchStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(name: &str) -> Option<BatchStatus> {
        BatchStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the batch has ended, for good.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            BatchStatus::Completed
                | BatchStatus::Failed
                | BatchStatus::Expired
                | BatchStatus::Cancelled
        )
    }
}

/// One batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    pub id: BatchId,
    pub entity_id: Option<EntityId>,
    pub owner: KeyOwner,
    /// The key it was submitted with; `None` for a signed-in user.
    pub key_id: Option<KeyId>,
    /// `openai` or `mistral`.
    pub shape: String,
    /// `/v1/chat/completions`, `/v1/embeddings` or `/v1/fim/completions`.
    pub endpoint: String,
    /// The model every line uses (Mistral's jobs), else each line's own.
    pub model: Option<String>,
    pub input_file_id: FileId,
    pub completion_window: String,
    pub status: BatchStatus,
    /// The use case and classification label the submission named, sent with every line.
    pub use_case: Option<String>,
    pub label: Option<String>,
    /// The caller's metadata, a JSON object as text.
    pub metadata: Option<String>,
    /// Why it failed, OpenAI's `errors` object as text.
    pub errors: Option<String>,
    pub progress: Progress,
    pub output_file_id: Option<FileId>,
    pub error_file_id: Option<FileId>,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub in_progress_at: Option<UnixMillis>,
    pub finalizing_at: Option<UnixMillis>,
    pub completed_at: Option<UnixMillis>,
    pub failed_at: Option<UnixMillis>,
    pub expired_at: Option<UnixMillis>,
    pub cancelling_at: Option<UnixMillis>,
    pub cancelled_at: Option<UnixMillis>,
}

/// What is done of a batch, as last committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The input's requests (its non-blank lines), once counted.
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
    /// The first input line (counted from 0) whose result is not committed.
    pub next_line: u64,
    /// The committed lengths of the output and error spools.
    pub output_bytes: u64,
    pub error_bytes: u64,
}

const COLUMNS: &str = "id, entity_id, owner_kind, owner_id, key_id, shape, endpoint, model, \
     input_file_id, completion_window, status, use_case, label, metadata, errors, total, \
     completed, failed, next_line, output_bytes, error_bytes, output_file_id, error_file_id, \
     created_at, expires_at, in_progress_at, finalizing_at, completed_at, failed_at, expired_at, \
     cancelling_at, cancelled_at";

/// The statuses the runner works on.
const RUNNABLE: &str = "('validating', 'in_progress', 'finalizing', 'cancelling')";

impl Store {
    /// Stores a new batch with its audit event (and the ids its result files will have).
    pub async fn create_batch(
        &self,
        batch: &StoredBatch,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let (owner_kind, owner_id) = owner_columns(batch.owner);
        let p = &batch.progress;
        sqlx::query(&format!(
            "INSERT INTO batches ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, NULL, $15, 0, 0, 0, 0, 0, $16, $17, $18, $19, NULL, NULL, \
             NULL, NULL, NULL, NULL, NULL)"
        ))
        .bind(batch.id.to_string())
        .bind(batch.entity_id.map(|e| e.to_string()))
        .bind(owner_kind)
        .bind(owner_id)
        .bind(batch.key_id.map(|k| k.to_string()))
        .bind(batch.shape.as_str())
        .bind(batch.endpoint.as_str())
        .bind(batch.model.as_deref())
        .bind(batch.input_file_id.to_string())
        .bind(batch.completion_window.as_str())
        .bind(batch.status.as_str())
        .bind(batch.use_case.as_deref())
        .bind(batch.label.as_deref())
        .bind(batch.metadata.as_deref())
        .bind(to_bigint("total", p.total)?)
        .bind(batch.output_file_id.map(|id| id.to_string()))
        .bind(batch.error_file_id.map(|id| id.to_string()))
        .bind(batch.created_at)
        .bind(batch.expires_at)
        .execute(&mut *tx)
        .await?;
        insert_targeted(&mut tx, audit, batch.id.to_string(), batch.entity_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The batch `id` when `owner` owns it.
    pub async fn batch(
        &self,
        id: BatchId,
        owner: KeyOwner,
    ) -> Result<Option<StoredBatch>, StoreError> {
        let (owner_kind, owner_id) = owner_columns(owner);
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM batches WHERE id = $1 AND owner_kind = $2 AND owner_id = $3"
        ))
        .bind(id.to_string())
        .bind(owner_kind)
        .bind(owner_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(batch_row).transpose()
    }

    /// `owner`'s batches of `shape`, newest first, after `after` (an id), at most `limit`.
    pub async fn batches(
        &self,
        owner: KeyOwner,
        shape: &str,
        after: Option<BatchId>,
        limit: u32,
    ) -> Result<Vec<StoredBatch>, StoreError> {
        let (owner_kind, owner_id) = owner_columns(owner);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM batches WHERE owner_kind = $1 AND owner_id = $2 \
             AND shape = $3 AND ($4 = '' OR id < $4) ORDER BY id DESC LIMIT $5"
        ))
        .bind(owner_kind)
        .bind(owner_id)
        .bind(shape)
        .bind(after.map(|id| id.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(batch_row).collect()
    }

    /// Asks the batch `id` of `owner` to stop, with the audit event, when it still runs; the
    /// batch as it then is, `None` when they own no such batch.
    pub async fn cancel_batch(
        &self,
        id: BatchId,
        owner: KeyOwner,
        audit: &AuditEvent,
    ) -> Result<Option<StoredBatch>, StoreError> {
        let (owner_kind, owner_id) = owner_columns(owner);
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE batches SET status = 'cancelling', cancelling_at = $1 WHERE id = $2 \
             AND owner_kind = $3 AND owner_id = $4 AND status IN ('validating', 'in_progress') \
             RETURNING {COLUMNS}"
        ))
        .bind(audit.at)
        .bind(id.to_string())
        .bind(owner_kind)
        .bind(owner_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(batch) = row.as_ref().map(batch_row).transpose()? else {
            drop(tx);
            return self.batch(id, owner).await;
        };
        insert_targeted(&mut tx, audit, batch.id.to_string(), batch.entity_id).await?;
        tx.commit().await?;
        Ok(Some(batch))
    }

    /// The batches the runner has work on, oldest first.
    pub async fn runnable_batches(&self) -> Result<Vec<StoredBatch>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM batches WHERE status IN {RUNNABLE} ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(batch_row).collect()
    }

    /// The status of the batch `id` (the runner looks between chunks for a cancellation).
    pub async fn batch_status(&self, id: BatchId) -> Result<Option<BatchStatus>, StoreError> {
        let row = sqlx::query("SELECT status FROM batches WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| status_of(&row)).transpose()
    }

    /// A validated batch starts: `total` requests to run.
    pub async fn start_batch(
        &self,
        id: BatchId,
        total: u64,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE batches SET status = 'in_progress', total = $1, in_progress_at = $2 \
             WHERE id = $3 AND status = 'validating'",
        )
        .bind(to_bigint("total", total)?)
        .bind(at)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Commits the runner's progress; never moves it backwards.
    pub async fn commit_batch_progress(
        &self,
        id: BatchId,
        progress: &Progress,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE batches SET completed = $1, failed = $2, next_line = $3, output_bytes = $4, \
             error_bytes = $5 WHERE id = $6 AND next_line <= $3",
        )
        .bind(to_bigint("completed", progress.completed)?)
        .bind(to_bigint("failed", progress.failed)?)
        .bind(to_bigint("next_line", progress.next_line)?)
        .bind(to_bigint("output_bytes", progress.output_bytes)?)
        .bind(to_bigint("error_bytes", progress.error_bytes)?)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends the batch `id` in `status` at `at`, with its output and error files (stored with
    /// their audit events), and why it failed.
    pub async fn finish_batch(&self, id: BatchId, ending: &Ending<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (file, audit) in [&ending.output, &ending.error].into_iter().flatten() {
            crate::files::insert_file(&mut tx, file).await?;
            insert_targeted(&mut tx, audit, file.id.to_string(), file.entity_id).await?;
        }
        let at_column = match ending.status {
            BatchStatus::Completed => "completed_at",
            BatchStatus::Expired => "expired_at",
            BatchStatus::Cancelled => "cancelled_at",
            _ => "failed_at",
        };
        sqlx::query(&format!(
            "UPDATE batches SET status = $1, {at_column} = $2, finalizing_at = $2, \
             output_file_id = $3, error_file_id = $4, errors = $5 WHERE id = $6"
        ))
        .bind(ending.status.as_str())
        .bind(ending.at)
        .bind(ending.output.as_ref().map(|(f, _)| f.id.to_string()))
        .bind(ending.error.as_ref().map(|(f, _)| f.id.to_string()))
        .bind(ending.errors.as_deref())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// How a batch ends.
#[derive(Debug)]
pub struct Ending<'a> {
    pub status: BatchStatus,
    pub at: UnixMillis,
    /// The output and error files, each with its `file.create` event.
    pub output: Option<(StoredFile, &'a AuditEvent)>,
    pub error: Option<(StoredFile, &'a AuditEvent)>,
    pub errors: Option<String>,
}

fn status_of(row: &AnyRow) -> Result<BatchStatus, StoreError> {
    let name = text(row, "status")?;
    BatchStatus::parse(&name).ok_or_else(|| StoreError::Corrupt(format!("status = `{name}`")))
}

fn batch_row(row: &AnyRow) -> Result<StoredBatch, StoreError> {
    Ok(StoredBatch {
        id: parsed(row, "id")?,
        entity_id: opt_parsed(row, "entity_id")?,
        owner: owner(&text(row, "owner_kind")?, &text(row, "owner_id")?)?,
        key_id: opt_parsed(row, "key_id")?,
        shape: text(row, "shape")?,
        endpoint: text(row, "endpoint")?,
        model: opt_text(row, "model")?,
        input_file_id: parsed(row, "input_file_id")?,
        completion_window: text(row, "completion_window")?,
        status: status_of(row)?,
        use_case: opt_text(row, "use_case")?,
        label: opt_text(row, "label")?,
        metadata: opt_text(row, "metadata")?,
        errors: opt_text(row, "errors")?,
        progress: Progress {
            total: unsigned(row, "total")?,
            completed: unsigned(row, "completed")?,
            failed: unsigned(row, "failed")?,
            next_line: unsigned(row, "next_line")?,
            output_bytes: unsigned(row, "output_bytes")?,
            error_bytes: unsigned(row, "error_bytes")?,
        },
        output_file_id: opt_parsed(row, "output_file_id")?,
        error_file_id: opt_parsed(row, "error_file_id")?,
        created_at: int(row, "created_at")?,
        expires_at: int(row, "expires_at")?,
        in_progress_at: opt_int(row, "in_progress_at")?,
        finalizing_at: opt_int(row, "finalizing_at")?,
        completed_at: opt_int(row, "completed_at")?,
        failed_at: opt_int(row, "failed_at")?,
        expired_at: opt_int(row, "expired_at")?,
        cancelling_at: opt_int(row, "cancelling_at")?,
        cancelled_at: opt_int(row, "cancelled_at")?,
    })
}
