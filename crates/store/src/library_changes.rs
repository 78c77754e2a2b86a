//! The knowledge libraries' change log (migration 0037): one row per document added or deleted,
//! written in the transaction that adds or deletes it, so that a replica brings its index in line
//! by reading what changed after its cursor rather than every stored document.
//!
//! Numbers follow commit order: on PostgreSQL a writer takes an advisory lock before its row is
//! numbered and keeps it until commit, so no number below one a replica has read can commit after
//! it (SQLite has one writer at a time already). Rows older than a day are pruned
//! ([`Store::prune_library_changes`]); a cursor older than the highest number pruned reads
//! `None`, and that replica compares in full.

use domain::{UnixMillis, now_millis};
use sqlx::AnyConnection;

use crate::codec::{int, parsed, text};
use crate::libraries::{DOCUMENT_COLUMNS, document_row};
use crate::{Backend, Store, StoreError, StoredDocument};

/// What happened to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Added,
    Deleted,
}

impl std::str::FromStr for Change {
    type Err = ();

    fn from_str(stored: &str) -> Result<Self, ()> {
        match stored {
            "added" => Ok(Change::Added),
            "deleted" => Ok(Change::Deleted),
            _ => Err(()),
        }
    }
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Deleted => "deleted",
        }
    }
}

/// What changed in the libraries after a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibraryChanges {
    /// The cursor to read from next time: the highest number read.
    pub through: i64,
    /// Documents added and still stored, in the order they were added.
    pub added: Vec<StoredDocument>,
    /// Documents deleted, each as `(library, document)`.
    pub deleted: Vec<(String, String)>,
}

/// Numbers are taken one writer at a time, each until its commit (PostgreSQL): the first thing
/// a transaction that logs does, so that it waits for no row lock while holding this one.
pub(crate) async fn take_numbering(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext('library_changes'))",
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Logs `change` of document `document` of `library`, in the caller's transaction.
pub(crate) async fn log_document(
    conn: &mut AnyConnection,
    change: Change,
    (library, document): (&str, &str),
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO library_changes (document_id, library_id, change, at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(document)
    .bind(library)
    .bind(change.as_str())
    .bind(now_millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Logs the deletion of every document of `library`, in the caller's transaction, before they go.
pub(crate) async fn log_library_deleted(
    conn: &mut AnyConnection,
    library: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO library_changes (document_id, library_id, change, at) \
         SELECT id, library_id, $2, $3 FROM library_documents WHERE library_id = $1 \
         ORDER BY added_at, id",
    )
    .bind(library)
    .bind(Change::Deleted.as_str())
    .bind(now_millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// The highest number in the change log (0 when none was ever written): the cursor of a
    /// replica about to compare its index with every stored document, read before it lists them.
    pub async fn library_change_cursor(&self) -> Result<i64, StoreError> {
        let row =
            sqlx::query("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS seq FROM library_changes")
                .fetch_one(&self.pool)
                .await?;
        let logged = int(&row, "seq")?;
        // An empty log pruned whole still counts what it held.
        Ok(logged.max(self.pruned_through().await?))
    }

    /// What changed after `cursor`; `None` when changes after it were pruned (the caller then
    /// compares in full).
    pub async fn library_changes_since(
        &self,
        cursor: i64,
    ) -> Result<Option<LibraryChanges>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, document_id, library_id, change FROM library_changes \
             WHERE seq > $1 ORDER BY seq",
        )
        .bind(cursor)
        .fetch_all(&self.pool)
        .await?;
        // Read after the rows: a prune between the two reads is seen.
        if self.pruned_through().await? > cursor {
            return Ok(None);
        }
        let mut changes = LibraryChanges {
            through: cursor,
            ..LibraryChanges::default()
        };
        let mut any_added = false;
        for row in &rows {
            changes.through = changes.through.max(int(row, "seq")?);
            match parsed(row, "change")? {
                Change::Deleted => changes
                    .deleted
                    .push((text(row, "library_id")?, text(row, "document_id")?)),
                Change::Added => any_added = true,
            }
        }
        if any_added {
            changes.added = self.documents_added(cursor, changes.through).await?;
        }
        Ok(Some(changes))
    }

    /// The documents whose addition is numbered in `(after, through]` and still stored.
    async fn documents_added(
        &self,
        after: i64,
        through: i64,
    ) -> Result<Vec<StoredDocument>, StoreError> {
        let columns = DOCUMENT_COLUMNS
            .split(", ")
            .map(|column| format!("d.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM library_changes c JOIN library_documents d \
             ON d.id = c.document_id WHERE c.seq > $1 AND c.seq <= $2 AND c.change = $3 \
             ORDER BY c.seq"
        ))
        .bind(after)
        .bind(through)
        .bind(Change::Added.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(document_row).collect()
    }

    async fn pruned_through(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT pruned_through FROM library_changes_pruned")
            .fetch_one(&self.pool)
            .await?;
        int(&row, "pruned_through")
    }

    /// Deletes the change log's rows written before `before`, noting the highest number pruned;
    /// how many went.
    pub async fn prune_library_changes(&self, before: UnixMillis) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The update comes first: on SQLite a transaction that writes first waits for the lock.
        sqlx::query(
            "UPDATE library_changes_pruned SET pruned_through = \
             (SELECT COALESCE(MAX(seq), 0) FROM library_changes WHERE at < $1) \
             WHERE pruned_through < (SELECT COALESCE(MAX(seq), 0) FROM library_changes \
             WHERE at < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let pruned = sqlx::query(
            "DELETE FROM library_changes \
             WHERE seq <= (SELECT pruned_through FROM library_changes_pruned)",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(pruned)
    }
}
