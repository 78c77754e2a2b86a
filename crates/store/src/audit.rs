//! The audit trail: append-only, hash-chained, numbered by the chain itself. Writers that change
//! state insert their event through [`insert_audit`] inside their own transaction, so the event and
//! its link in the chain commit with the change or not at all.

use domain::{AuditAction, AuditEvent, EntityId, Outcome};
use evidence::{ChainHash, EventContent, chain_hash};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{AnyConnection, Connection};

use crate::codec::{int, opt_parsed, opt_text, text};
use crate::multi_row::{MultiRowInsert, add};
use crate::{Backend, Store, StoreError};

impl Store {
    /// Appends one event on its own (for events with no accompanying change, e.g. a denied
    /// request) and returns its sequence number.
    pub async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq = insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Appends events in order, in one transaction: all or none. The request path's access
    /// decisions arrive this way, in batches; a caller's timeout closes its connection
    /// (`Store::leased`).
    pub async fn append_audit_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.leased(async |conn| {
            let mut tx = conn.begin().await?;
            insert_audits(&mut tx, events).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
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

/// Inserts `event` on `conn`, which must be a transaction, as the chain's next link, and returns
/// its sequence number. See [`insert_audits`].
pub(crate) async fn insert_audit(
    conn: &mut AnyConnection,
    event: &AuditEvent,
) -> Result<u64, StoreError> {
    insert_audits(conn, std::slice::from_ref(event))
        .await?
        .ok_or_else(|| StoreError::Corrupt("an appended event got no number".into()))
}

/// Inserts, in the transaction of the change it records, the caller's event aimed at `target`
/// (and, when the caller left the entity empty, at `entity_id`).
pub(crate) async fn insert_targeted(
    conn: &mut AnyConnection,
    audit: &AuditEvent,
    target: String,
    entity_id: Option<EntityId>,
) -> Result<u64, StoreError> {
    insert_audit(conn, &targeted(audit, target, entity_id)).await
}

/// The caller's event with the target (and, when the caller left it empty, the entity) filled in.
pub(crate) fn targeted(
    audit: &AuditEvent,
    target: String,
    entity_id: Option<EntityId>,
) -> AuditEvent {
    AuditEvent {
        target,
        entity_id: audit.entity_id.or(entity_id),
        ..audit.clone()
    }
}

/// Inserts `events` on `conn`, which must be a transaction, as the chain's next links in order,
/// and returns the last one's sequence number (`None` for no events: nothing is written): one
/// head update for the batch, the links hashed in memory, a few multi-row INSERTs.
///
/// The first statement updates the one-row chain head: that takes the head's write lock (a row lock
/// on PostgreSQL, the database write lock on SQLite) until the transaction ends, so concurrent
/// appends queue here and each one chains from the hash its predecessor committed. The numbers come
/// from the head, not from a database sequence, so a rolled-back append leaves no gap.
pub(crate) async fn insert_audits(
    conn: &mut AnyConnection,
    events: &[AuditEvent],
) -> Result<Option<u64>, StoreError> {
    if events.is_empty() {
        return Ok(None);
    }
    let count = i64::try_from(events.len())
        .map_err(|_| StoreError::Corrupt("audit batch too large".into()))?;
    let head = sqlx::query(
        "UPDATE audit_chain_head SET seq = seq + $1, event_count = event_count + $1 \
         WHERE id = 1 RETURNING seq, hash",
    )
    .bind(count)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::Corrupt("the audit chain head row is missing".into()))?;
    let last = int(&head, "seq")?;
    let mut prev: ChainHash = opt_text(&head, "hash")?
        .ok_or_else(|| StoreError::Corrupt("the audit chain head has no hash".into()))?
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("audit chain head: {e}")))?;
    let last =
        u64::try_from(last).map_err(|_| StoreError::Corrupt(format!("audit seq = {last}")))?;
    let first = last + 1 - events.len() as u64;
    let links: Vec<Link<'_>> = events
        .iter()
        .zip(first..)
        .map(|(event, seq)| {
            let entity_id = event.entity_id.map(|id| id.to_string());
            let hash = chain_hash(&prev, &EventContent::of(seq, event, entity_id.as_deref()));
            let link = Link {
                seq,
                event,
                entity_id,
                prev_hash: prev.to_string(),
                hash: hash.to_string(),
            };
            prev = hash;
            link
        })
        .collect();
    let backend = Backend::of(conn);
    AUDIT_INSERT
        .execute(conn, backend, &links, bind_link)
        .await?;
    sqlx::query("UPDATE audit_chain_head SET hash = $1 WHERE id = 1")
        .bind(prev.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(Some(last))
}

static AUDIT_INSERT: MultiRowInsert = MultiRowInsert::new(
    "audit_events",
    &[
        "seq",
        "at",
        "actor",
        "action",
        "entity_id",
        "target",
        "outcome",
        "detail",
        "prev_hash",
        "hash",
    ],
);

/// An event with its place in the chain, as inserted.
struct Link<'a> {
    seq: u64,
    event: &'a AuditEvent,
    entity_id: Option<String>,
    prev_hash: String,
    hash: String,
}

fn bind_link<'q>(arguments: &mut AnyArguments<'q>, link: &'q Link<'_>) -> Result<(), StoreError> {
    let seq = i64::try_from(link.seq)
        .map_err(|_| StoreError::Corrupt(format!("audit seq = {}", link.seq)))?;
    add(arguments, seq)?;
    add(arguments, link.event.at)?;
    add(arguments, link.event.actor.as_str())?;
    add(arguments, link.event.action.as_str())?;
    add(arguments, link.entity_id.as_deref())?;
    add(arguments, link.event.target.as_str())?;
    add(arguments, link.event.outcome.as_str())?;
    add(arguments, link.event.detail.as_str())?;
    add(arguments, link.prev_hash.as_str())?;
    add(arguments, link.hash.as_str())
}

fn audit_row(row: &AnyRow) -> Result<(u64, AuditEvent), StoreError> {
    let seq = int(row, "seq")?;
    let outcome = text(row, "outcome")?;
    let action = text(row, "action")?;
    let event = AuditEvent {
        at: int(row, "at")?,
        actor: text(row, "actor")?,
        action: AuditAction::parse(&action)
            .ok_or_else(|| StoreError::Corrupt(format!("action = `{action}`")))?,
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
