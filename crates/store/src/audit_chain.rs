//! The audit chain's evidence side: chaining events stored before the chain existed, reading the
//! chain back for verification and export, and the signed checkpoints.

use evidence::{
    ChainHash, ChainedEvent, Checkpoint, GENESIS, OutsideAnchors, PublicKey, Report, Scope,
    SignedCheckpoint, Verifier, chain_hash,
};
use sqlx::AnyPool;
use sqlx::any::AnyRow;

use crate::codec::{int, opt_text, text, to_bigint, unsigned};
use crate::{Store, StoreError};

/// The chain's newest link as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// The newest event's number; 0 when there is none.
    pub seq: u64,
    /// The newest event's hash (the genesis value when there is none).
    pub hash: String,
    /// Events in the chain.
    pub event_count: u64,
    /// Events up to this number were stored before the chain existed (see `evidence::Scope`).
    pub legacy_through: u64,
}

/// Which events to read back, in seq order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainSelection {
    /// Only events numbered above this.
    pub after: u64,
    /// Only events numbered up to this.
    pub through: Option<u64>,
    /// Only events of this entity (its id, `ent_…`).
    pub entity_id: Option<String>,
}

/// Which events an auditor's query selects; every field set narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events numbered below this (the previous page's last number).
    pub before: Option<u64>,
    /// Only events of this entity (its id, `ent_…`).
    pub entity_id: Option<String>,
    /// Only events of this actor (a key id, a user id, `scim:…`, `system`…).
    pub actor: Option<String>,
    /// Only events of this action (`key.create`) or family of actions (`key`); letters, digits,
    /// `_` and `.` only.
    pub action: Option<String>,
    /// Only events of this outcome (`success`, `denied`, `failure`).
    pub outcome: Option<String>,
    /// Only events at or after this instant (Unix milliseconds).
    pub from: Option<i64>,
    /// Only events before this instant (Unix milliseconds).
    pub to: Option<i64>,
}

/// Events read per query when walking the chain.
const PAGE: u32 = 1_000;

const EVENT_COLUMNS: &str =
    "seq, at, actor, action, entity_id, target, outcome, detail, prev_hash, hash";

const CHECKPOINT_COLUMNS: &str = "seq, head, at, event_count, previous, public_key, signature";

impl Store {
    /// The chain head.
    pub async fn audit_chain_head(&self) -> Result<ChainHead, StoreError> {
        let row = sqlx::query(
            "SELECT seq, hash, event_count, legacy_through FROM audit_chain_head WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the audit chain head row is missing".into()))?;
        Ok(ChainHead {
            seq: unsigned(&row, "seq")?,
            hash: opt_text(&row, "hash")?.unwrap_or_else(|| GENESIS.to_string()),
            event_count: unsigned(&row, "event_count")?,
            legacy_through: unsigned(&row, "legacy_through")?,
        })
    }

    /// Up to `limit` events of `selection`, in seq order, every column as stored. Page through a
    /// long chain by moving `selection.after` to the last number read.
    pub async fn read_audit_chain(
        &self,
        selection: &ChainSelection,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>, StoreError> {
        let through = selection
            .through
            .map_or(Ok(i64::MAX), |t| to_bigint("through", t))?;
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events \
             WHERE seq > $1 AND seq <= $2 AND ($3 IS NULL OR entity_id = $3) \
             ORDER BY seq LIMIT $4"
        ))
        .bind(to_bigint("after", selection.after)?)
        .bind(through)
        .bind(selection.entity_id.as_deref())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(chained_row).collect()
    }

    /// Verifies the whole stored chain against the signed checkpoints, the `trusted` keys and what
    /// the auditor holds outside the store (`anchors`).
    ///
    /// Reads the checkpoints first, then the head, then the events up to the head: each checkpoint
    /// read was signed at or before a head that the head read next reaches, so appends running
    /// meanwhile cause no false alarm, while a chain cut back below a signed checkpoint is caught.
    /// Events numbered beyond the head, which no append writes, are reported too.
    pub async fn verify_audit_chain(
        &self,
        trusted: Vec<PublicKey>,
        anchors: OutsideAnchors,
    ) -> Result<Report, StoreError> {
        let checkpoints = self.list_audit_checkpoints(0, None).await?;
        let head = self.audit_chain_head().await?;
        let mut verifier = Verifier::new(
            Scope::Whole {
                legacy_through: head.legacy_through,
            },
            trusted,
            checkpoints,
        );
        verifier.anchor_all(anchors);
        verifier.expect_head(head.seq, head.hash);
        let mut selection = ChainSelection {
            through: Some(head.seq),
            ..ChainSelection::default()
        };
        loop {
            let page = self.read_audit_chain(&selection, PAGE).await?;
            let Some(last) = page.last() else { break };
            selection.after = last.seq;
            for event in &page {
                verifier.push(event);
            }
        }
        // One statement, so one snapshot: an append commits its event and the head together, and
        // cannot make this look wrong.
        let beyond = sqlx::query(
            "SELECT MIN(seq) AS seq FROM audit_events \
             WHERE seq > (SELECT seq FROM audit_chain_head WHERE id = 1)",
        )
        .fetch_one(&self.pool)
        .await?;
        if let Some(seq) = crate::codec::opt_int(&beyond, "seq")? {
            verifier.event_beyond_head(u64::try_from(seq).unwrap_or(0));
        }
        Ok(verifier.finish())
    }

    /// The newest `limit` events, newest first, with their links.
    pub async fn list_audit_chain(&self, limit: u32) -> Result<Vec<ChainedEvent>, StoreError> {
        self.query_audit(&AuditFilter::default(), limit).await
    }

    /// The newest `limit` events that `filter` selects, newest first, with their links. Page back
    /// through a long answer by setting `filter.before` to the last number read.
    pub async fn query_audit(
        &self,
        filter: &AuditFilter,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>, StoreError> {
        let before = filter
            .before
            .map_or(Ok(i64::MAX), |b| to_bigint("before", b))?;
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events \
             WHERE seq < $1 \
               AND ($2 IS NULL OR entity_id = $2) \
               AND ($3 IS NULL OR actor = $3) \
               AND ($4 IS NULL OR action = $4 OR action LIKE $5) \
               AND ($6 IS NULL OR outcome = $6) \
               AND at >= $7 AND at < $8 \
             ORDER BY seq DESC LIMIT $9"
        ))
        .bind(before)
        .bind(filter.entity_id.as_deref())
        .bind(filter.actor.as_deref())
        .bind(filter.action.as_deref())
        // `key` also selects `key.create`, `key.revoke`…: the dotted name's family. Callers pass
        // names of `[a-z0-9_.]` only, where LIKE's `_` can match nothing but a real `_` or a
        // letter no action name has in that place.
        .bind(filter.action.as_deref().map(|a| format!("{a}.%")))
        .bind(filter.outcome.as_deref())
        .bind(filter.from.unwrap_or(i64::MIN))
        .bind(filter.to.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(chained_row).collect()
    }

    /// The newest `limit` successful events of `actions` whose target is `slug` or one of its
    /// versions (`slug@n`), newest first: a use case's transitions, with their reasons, as the
    /// chain recorded them. `actions` are audit actions' names (never input: they are quoted
    /// inline, which lets the `(action, seq)` index serve the query).
    pub async fn target_history(
        &self,
        slug: &str,
        actions: &[&str],
        limit: u32,
    ) -> Result<Vec<ChainedEvent>, StoreError> {
        let actions = actions
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "")))
            .collect::<Vec<_>>()
            .join(", ");
        let versions = format!("{slug}@");
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events \
             WHERE action IN ({actions}) AND outcome = 'success' \
               AND (target = $1 OR substr(target, 1, CAST($2 AS INTEGER)) = $3) \
             ORDER BY seq DESC LIMIT $4"
        ))
        .bind(slug)
        .bind(versions.chars().count() as i64)
        .bind(versions.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(chained_row).collect()
    }

    /// The newest `limit` events about `entity`, newest first, with their links (which chain to
    /// events of other entities, so an entity's reader can show but not verify them alone).
    pub async fn list_entity_audit_chain(
        &self,
        entity: domain::EntityId,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE entity_id = $1 ORDER BY seq DESC LIMIT $2"
        ))
        .bind(entity.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(chained_row).collect()
    }

    /// Stores a signed checkpoint if it names the newest stored checkpoint as the one before it (or
    /// the genesis value when there is none). `false` when it does not: another replica signed in
    /// the meantime, and the caller signs again from the new newest one.
    ///
    /// Under the chain head's lock, as appends, so replicas signing at once store one line of
    /// checkpoints, never a fork.
    pub async fn insert_audit_checkpoint(
        &self,
        checkpoint: &SignedCheckpoint,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE audit_chain_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let newest = sqlx::query(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
        ))
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(checkpoint_row)
        .transpose()?;
        let names_newest = Checkpoint::previous_of(newest.as_ref()).map(|d| d.to_string());
        if checkpoint.previous.is_none() || checkpoint.previous != names_newest {
            return Ok(false);
        }
        let done = sqlx::query(&format!(
            "INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (seq) DO NOTHING"
        ))
        .bind(to_bigint("checkpoint seq", checkpoint.seq)?)
        .bind(checkpoint.head.as_str())
        .bind(checkpoint.at)
        .bind(to_bigint("checkpoint event count", checkpoint.event_count)?)
        .bind(checkpoint.previous.as_deref())
        .bind(checkpoint.public_key.as_str())
        .bind(checkpoint.signature.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Checkpoints numbered `from..=through`, oldest first.
    pub async fn list_audit_checkpoints(
        &self,
        from: u64,
        through: Option<u64>,
    ) -> Result<Vec<SignedCheckpoint>, StoreError> {
        let through = through.map_or(Ok(i64::MAX), |t| to_bigint("through", t))?;
        let rows = sqlx::query(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints \
             WHERE seq >= $1 AND seq <= $2 ORDER BY seq"
        ))
        .bind(to_bigint("from", from)?)
        .bind(through)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(checkpoint_row).collect()
    }

    /// Up to `limit` checkpoints numbered from `from`, oldest first.
    pub async fn audit_checkpoints_page(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<SignedCheckpoint>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints \
             WHERE seq >= $1 ORDER BY seq LIMIT $2"
        ))
        .bind(to_bigint("from", from)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(checkpoint_row).collect()
    }

    /// The newest checkpoint, if any.
    pub async fn latest_audit_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(checkpoint_row).transpose()
    }
}

/// Chains the events stored before the chain existed, once, at start. Under the head's lock, so
/// replicas starting together do it once; a head that has its hash means there is nothing to do.
/// Never changes a hash already stored.
///
/// Only a trail that was never chained is chained here: events all numbered up to
/// `legacy_through` (the last event when the chain was introduced), none with a hash, and no
/// checkpoint. Anything else without a head hash was tampered with — hashes stripped so that a
/// restart re-chains, and so launders, an edited history — and stays as it is: appends fail, and
/// `fabrique audit verify` reports it.
pub(crate) async fn chain_legacy_events(pool: &AnyPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let head = sqlx::query(
        "UPDATE audit_chain_head SET seq = seq WHERE id = 1 RETURNING hash, legacy_through",
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Corrupt("the audit chain head row is missing".into()))?;
    if opt_text(&head, "hash")?.is_some() {
        return Ok(());
    }
    let legacy_through = int(&head, "legacy_through")?;
    let tampered = sqlx::query(
        "SELECT 1 AS found FROM audit_events WHERE hash IS NOT NULL OR seq > $1 \
         UNION ALL SELECT 1 AS found FROM audit_checkpoints LIMIT 1",
    )
    .bind(legacy_through)
    .fetch_optional(&mut *tx)
    .await?;
    if tampered.is_some() {
        tracing::error!(
            "the audit chain head has lost its hash, but the trail was chained before: it was tampered with and is not chained again; run `fabrique audit verify`"
        );
        return Ok(());
    }
    let mut prev: ChainHash = GENESIS;
    let mut after = 0i64;
    let mut chained = 0u64;
    loop {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(i64::from(PAGE))
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else { break };
        after = int(last, "seq")?;
        for row in &rows {
            let event = chained_row(row)?;
            let hash = chain_hash(&prev, &event.content());
            sqlx::query("UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3")
                .bind(prev.to_string())
                .bind(hash.to_string())
                .bind(to_bigint("seq", event.seq)?)
                .execute(&mut *tx)
                .await?;
            prev = hash;
            chained += 1;
        }
    }
    sqlx::query("UPDATE audit_chain_head SET hash = $1 WHERE id = 1")
        .bind(prev.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if chained > 0 {
        tracing::info!(
            chained,
            "audit events stored before the hash chain are now chained"
        );
    }
    Ok(())
}

fn chained_row(row: &AnyRow) -> Result<ChainedEvent, StoreError> {
    Ok(ChainedEvent {
        seq: unsigned(row, "seq")?,
        at: int(row, "at")?,
        actor: text(row, "actor")?,
        action: text(row, "action")?,
        entity_id: opt_text(row, "entity_id")?,
        target: text(row, "target")?,
        outcome: text(row, "outcome")?,
        detail: text(row, "detail")?,
        prev_hash: opt_text(row, "prev_hash")?,
        hash: opt_text(row, "hash")?,
    })
}

fn checkpoint_row(row: &AnyRow) -> Result<SignedCheckpoint, StoreError> {
    Ok(SignedCheckpoint {
        seq: unsigned(row, "seq")?,
        head: text(row, "head")?,
        at: int(row, "at")?,
        event_count: unsigned(row, "event_count")?,
        previous: opt_text(row, "previous")?,
        public_key: text(row, "public_key")?,
        signature: text(row, "signature")?,
    })
}
