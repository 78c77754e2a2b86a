//! The audit trail: append-only, numbered by a database sequence. Writers that change state insert
//! their event through [`insert_audit`] inside their own transaction.

use domain::{AuditEvent, Outcome};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::codec::{int, opt_parsed, text};
use crate::{Store, StoreError};

impl Store {
    /// Appends one event on its own (for events with no accompanying change, e.g. a denied
    /// request) and returns its sequence number.
    pub async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, event).await
    }

    /// Appends events in order, in one transaction: all or none. The request path's access
    /// decisions arrive this way, in batches.
    pub async fn append_audit_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for event in events {
            insert_audit(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` events, newest first, with their sequence numbers.
    pub async fn list_audit(&self, limit: u32) -> Result<Vec<(u64, AuditEvent)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, entity_id, target, outcome, detail \
             FROM audit_events ORDER BY seq DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_row).collect()
    }
}

/// Inserts `event` on `conn` (usually a transaction) and returns its sequence number.
pub(crate) async fn insert_audit(
    conn: &mut AnyConnection,
    event: &AuditEvent,
) -> Result<u64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO audit_events (at, actor, action, entity_id, target, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
    )
    .bind(event.at)
    .bind(event.actor.as_str())
    .bind(event.action.as_str())
    .bind(event.entity_id.map(|id| id.to_string()))
    .bind(event.target.as_str())
    .bind(event.outcome.as_str())
    .bind(event.detail.as_str())
    .fetch_one(&mut *conn)
    .await?;
    let seq = row.try_get::<i64, _>("seq")?;
    u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("audit seq = {seq}")))
}

fn audit_row(row: &AnyRow) -> Result<(u64, AuditEvent), StoreError> {
    let seq = int(row, "seq")?;
    let outcome = text(row, "outcome")?;
    let event = AuditEvent {
        at: int(row, "at")?,
        actor: text(row, "actor")?,
        action: text(row, "action")?,
        entity_id: opt_parsed(row, "entity_id")?,
        target: text(row, "target")?,
        outcome: parse_outcome(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("outcome = `{outcome}`")))?,
        detail: text(row, "detail")?,
    };
    let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("audit seq = {seq}")))?;
    Ok((seq, event))
}

/// The inverse of `Outcome::as_str`, kept here rather than in `domain` because only storage reads
/// outcomes back from text.
fn parse_outcome(value: &str) -> Option<Outcome> {
    [Outcome::Success, Outcome::Denied, Outcome::Failure]
        .into_iter()
        .find(|o| o.as_str() == value)
}
