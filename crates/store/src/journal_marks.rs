//! The marks of the request path's spill journals (`usage::journal`): per journal (a record kind
//! in one replica's data directory, named by the caller), the number of the last journaled record
//! stored. A batch and its mark commit in one transaction, so after a
//! crash the journal's replay skips exactly what the database already holds.

use domain::{AuditEvent, UsageRecord};
use sqlx::{AnyConnection, Connection};

use crate::audit::insert_audits;
use crate::usage::USAGE_INSERT;
use crate::{Store, StoreError};

impl Store {
    /// The number of the last journaled record of `kind` stored; 0 when none was.
    pub async fn journal_mark(&self, kind: &str) -> Result<u64, StoreError> {
        let seq: Option<i64> = self
            .leased(async |conn| {
                let query = sqlx::query_scalar("SELECT seq FROM journal_marks WHERE kind = $1");
                Ok(query.bind(kind).fetch_optional(conn).await?)
            })
            .await?;
        Ok(seq.map_or(0, |seq| u64::try_from(seq).unwrap_or(0)))
    }

    /// Inserts `records`, journaled as `kind` up to number `through`, with the mark: all or none.
    /// Its caller may drop it mid-way (a timeout): its connection is then closed (`Store::leased`).
    pub async fn insert_usage_through(
        &self,
        records: &[UsageRecord],
        kind: &str,
        through: u64,
    ) -> Result<(), StoreError> {
        self.leased(async |conn| {
            let mut tx = conn.begin().await?;
            USAGE_INSERT
                .execute(&mut tx, self.backend(), records, crate::usage::bind_usage)
                .await?;
            crate::rollups::reopen_hours(&mut tx, records).await?;
            advance(&mut tx, kind, through).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Appends `events` to the chain, journaled as `kind` up to number `through`, with the mark:
    /// all or none. Its caller may drop it mid-way (a timeout): its connection is then closed (`Store::leased`).
    pub async fn append_audit_through(
        &self,
        events: &[AuditEvent],
        kind: &str,
        through: u64,
    ) -> Result<(), StoreError> {
        self.leased(async |conn| {
            let mut tx = conn.begin().await?;
            insert_audits(&mut tx, events).await?;
            advance(&mut tx, kind, through).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

/// Moves `kind`'s mark to `through`, never back.
async fn advance(conn: &mut AnyConnection, kind: &str, through: u64) -> Result<(), StoreError> {
    let through = i64::try_from(through)
        .map_err(|_| StoreError::OutOfRange(format!("journal number {through} is out of range")))?;
    sqlx::query(
        "INSERT INTO journal_marks (kind, seq) VALUES ($1, $2) \
         ON CONFLICT (kind) DO UPDATE SET seq = excluded.seq WHERE journal_marks.seq < excluded.seq",
    )
    .bind(kind)
    .bind(through)
    .execute(conn)
    .await?;
    Ok(())
}
