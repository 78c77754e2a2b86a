//! Stored prompt and completion content (migration 0011): the wrapped keys of the hierarchy and
//! the sealed records. The store never sees a key or a text in clear; `retention` and `vault`
//! seal and open.

use domain::{AuditEvent, EntityId, KeyOwner, Operation, UnixMillis};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Connection, Row};

use crate::audit::insert_audit;
use crate::codec::{OWNER_USER, int, owner, owner_columns, parsed, text};
use crate::{Backend, Store, StoreError};

/// One request's content, sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRecord {
    /// The record's own id (`cnt_…`), bound into the sealing.
    pub id: String,
    pub request_id: String,
    pub created_at: UnixMillis,
    pub entity_id: EntityId,
    pub owner: KeyOwner,
    pub operation: Operation,
    pub model: String,
    pub sealed: Vec<u8>,
}

/// What a purge did: the records it deleted, and those past their retention that legal holds
/// kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    pub deleted: u64,
    pub held: u64,
}

/// What an erasure removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Erased {
    pub content_keys: u64,
    pub records: u64,
}

const RECORD_COLUMNS: &str =
    "id, request_id, created_at, entity_id, owner_kind, owner_id, operation, model, sealed";

impl Store {
    /// The entity's wrapped data key, if it has one. Read by the content writer: its connection is
    /// leased (`Store::leased`), like those of the writes below.
    pub async fn entity_data_key(&self, entity: EntityId) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .leased(async |conn| {
                let query =
                    sqlx::query("SELECT wrapped FROM entity_data_keys WHERE entity_id = $1");
                Ok(query.bind(entity.to_string()).fetch_optional(conn).await?)
            })
            .await?;
        row.map(|row| blob(&row, "wrapped")).transpose()
    }

    /// Stores `wrapped` as the entity's data key unless it has one already, and returns the one
    /// stored: replicas racing to create it all end up with the same key.
    pub async fn create_entity_data_key(
        &self,
        entity: EntityId,
        wrapped: &[u8],
        at: UnixMillis,
    ) -> Result<Vec<u8>, StoreError> {
        self.leased(async |conn| {
            sqlx::query(
                "INSERT INTO entity_data_keys (entity_id, wrapped, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (entity_id) DO NOTHING",
            )
            .bind(entity.to_string())
            .bind(wrapped.to_vec())
            .bind(at)
            .execute(conn)
            .await?;
            Ok(())
        })
        .await?;
        self.entity_data_key(entity).await?.ok_or_else(|| {
            StoreError::Corrupt("an entity data key vanished after its insert".into())
        })
    }

    /// The owner's wrapped content key and the entity whose data key wraps it.
    pub async fn content_key(
        &self,
        key_owner: KeyOwner,
    ) -> Result<Option<(EntityId, Vec<u8>)>, StoreError> {
        let (kind, id) = owner_columns(key_owner);
        let row = self
            .leased(async |conn| {
                let query = sqlx::query(
                    "SELECT entity_id, wrapped FROM content_keys \
                     WHERE owner_kind = $1 AND owner_id = $2",
                );
                Ok(query
                    .bind(kind)
                    .bind(id.as_str())
                    .fetch_optional(conn)
                    .await?)
            })
            .await?;
        row.map(|row| Ok((parsed(&row, "entity_id")?, blob(&row, "wrapped")?)))
            .transpose()
    }

    /// Stores `wrapped` as the owner's content key unless they have one, and returns the one
    /// stored (see [`Store::create_entity_data_key`]).
    pub async fn create_content_key(
        &self,
        key_owner: KeyOwner,
        entity: EntityId,
        wrapped: &[u8],
        at: UnixMillis,
    ) -> Result<(EntityId, Vec<u8>), StoreError> {
        let (kind, id) = owner_columns(key_owner);
        self.leased(async |conn| {
            sqlx::query(
                "INSERT INTO content_keys (owner_kind, owner_id, entity_id, wrapped, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner_kind, owner_id) DO NOTHING",
            )
            .bind(kind)
            .bind(id.as_str())
            .bind(entity.to_string())
            .bind(wrapped.to_vec())
            .bind(at)
            .execute(conn)
            .await?;
            Ok(())
        })
        .await?;
        self.content_key(key_owner)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a content key vanished after its insert".into()))
    }

    /// Every content key kept in the database, as `(owner, entity, wrapped, created_at)`: what a
    /// key custody outside the database takes over at start.
    pub async fn content_keys(
        &self,
    ) -> Result<Vec<(KeyOwner, EntityId, Vec<u8>, UnixMillis)>, StoreError> {
        let rows = sqlx::query(
            "SELECT owner_kind, owner_id, entity_id, wrapped, created_at FROM content_keys \
             ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    owner(&text(row, "owner_kind")?, &text(row, "owner_id")?)?,
                    parsed(row, "entity_id")?,
                    blob(row, "wrapped")?,
                    int(row, "created_at")?,
                ))
            })
            .collect()
    }

    /// Deletes the owner's content key; whether there was one.
    pub async fn delete_content_key(&self, key_owner: KeyOwner) -> Result<bool, StoreError> {
        let (kind, id) = owner_columns(key_owner);
        let deleted =
            sqlx::query("DELETE FROM content_keys WHERE owner_kind = $1 AND owner_id = $2")
                .bind(kind)
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(deleted > 0)
    }

    /// When the owner's content was last erased, if ever.
    pub async fn content_erased_at(
        &self,
        key_owner: KeyOwner,
    ) -> Result<Option<UnixMillis>, StoreError> {
        let (kind, id) = owner_columns(key_owner);
        self.leased(async |conn| {
            let query = sqlx::query_scalar(
                "SELECT erased_at FROM content_erasures WHERE owner_kind = $1 AND owner_id = $2",
            );
            Ok(query
                .bind(kind)
                .bind(id.as_str())
                .fetch_optional(conn)
                .await?)
        })
        .await
    }

    /// Inserts sealed records atomically: all or none, but for records captured at or before
    /// their owner's erasure, which are left out, and records stored already (by id), which are
    /// left as they are: a batch tried again after its commit's answer was lost stores nothing
    /// twice. Its caller may drop it mid-way (a timeout): its connection is then closed
    /// (`Store::leased`).
    pub async fn insert_content(&self, records: &[ContentRecord]) -> Result<(), StoreError> {
        self.leased(async |conn| {
            let mut tx = conn.begin().await?;
            if self.backend == Backend::Postgres {
                lock_owners_shared(&mut tx, records).await?;
            }
            for record in records {
                insert_record(&mut tx, record).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// The owner's records created in `[from, to)`, oldest first, at most `limit`.
    pub async fn content_of(
        &self,
        key_owner: KeyOwner,
        from: UnixMillis,
        to: UnixMillis,
        limit: u32,
    ) -> Result<Vec<ContentRecord>, StoreError> {
        let (kind, id) = owner_columns(key_owner);
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM content_records \
             WHERE owner_kind = $1 AND owner_id = $2 AND created_at >= $3 AND created_at < $4 \
             ORDER BY created_at, id LIMIT $5"
        ))
        .bind(kind)
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_row).collect()
    }

    /// Deletes, for each `(entity, before)`, the entity's records created before `before`, but
    /// for those an active legal hold covers (on their user, or on the entity: migration 0025),
    /// in one transaction with `audit` (its detail replaced by the counts) — written always, or
    /// only when something was deleted (`always` false: the periodic job, which would otherwise
    /// add an event every hour).
    pub async fn purge_content(
        &self,
        cutoffs: &[(EntityId, UnixMillis)],
        audit: &AuditEvent,
        always: bool,
    ) -> Result<Purged, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut purged = Purged::default();
        for (entity, before) in cutoffs {
            let entity = entity.to_string();
            purged.deleted += sqlx::query(
                "DELETE FROM content_records WHERE entity_id = $1 AND created_at < $2 \
                 AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.lifted_at IS NULL \
                 AND h.entity_id = $1 AND (h.user_id IS NULL \
                 OR (content_records.owner_kind = $3 AND h.user_id = content_records.owner_id)))",
            )
            .bind(entity.as_str())
            .bind(*before)
            .bind(OWNER_USER)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // What is left past its retention is what the holds keep.
            let held: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM content_records WHERE entity_id = $1 AND created_at < $2",
            )
            .bind(entity.as_str())
            .bind(*before)
            .fetch_one(&mut *tx)
            .await?;
            purged.held += u64::try_from(held).unwrap_or(0);
        }
        if always || purged.deleted > 0 {
            let event = AuditEvent {
                detail: serde_json::json!({
                    "content_records_deleted": purged.deleted,
                    "content_records_held": purged.held,
                })
                .to_string(),
                ..audit.clone()
            };
            insert_audit(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(purged)
    }

    /// Erases an owner's content: destroys their content key and deletes their records (and a
    /// user's conversations, migration 0023), and records the erasure's instant (`audit.at`) as
    /// their tombstone, with `audit` in the same transaction; its detail is replaced by the counts. Content captured up to that
    /// instant is never written afterwards ([`Store::insert_content`]). Erasing again finds nothing and
    /// succeeds.
    ///
    /// `keys_destroyed_outside` counts a key kept outside the database (`retention::KeyCustody`)
    /// that the caller destroyed just before, so that the event tells the whole erasure.
    pub async fn erase_content(
        &self,
        key_owner: KeyOwner,
        keys_destroyed_outside: u64,
        audit: &AuditEvent,
    ) -> Result<Erased, StoreError> {
        let (kind, id) = owner_columns(key_owner);
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Waits for the owner's inserts in progress (`insert_content`), whose records the
            // deletes below then see; later inserts wait for this erasure and see its tombstone.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(owner_lock(key_owner))
                .execute(&mut *tx)
                .await?;
        }
        let keys = sqlx::query("DELETE FROM content_keys WHERE owner_kind = $1 AND owner_id = $2")
            .bind(kind)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let records =
            sqlx::query("DELETE FROM content_records WHERE owner_kind = $1 AND owner_id = $2")
                .bind(kind)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query(
            "INSERT INTO content_erasures (owner_kind, owner_id, erased_at) VALUES ($1, $2, $3) \
             ON CONFLICT (owner_kind, owner_id) DO UPDATE SET erased_at = excluded.erased_at",
        )
        .bind(kind)
        .bind(id.as_str())
        .bind(audit.at)
        .execute(&mut *tx)
        .await?;
        // The chat's conversations go with the key that sealed them (migration 0023).
        if let KeyOwner::User(user) = key_owner {
            let user = user.to_string();
            sqlx::query(
                "DELETE FROM conversation_messages WHERE conversation_id IN \
                 (SELECT id FROM conversations WHERE owner_id = $1)",
            )
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM conversations WHERE owner_id = $1")
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let erased = Erased {
            content_keys: keys + keys_destroyed_outside,
            records,
        };
        let event = AuditEvent {
            detail: serde_json::json!({
                "content_keys_destroyed": erased.content_keys,
                "content_records_deleted": erased.records,
            })
            .to_string(),
            ..audit.clone()
        };
        insert_audit(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(erased)
    }
}

/// On PostgreSQL a statement reads what was committed when it began: an erasure committing after
/// an insert's statement but before its commit would miss the new row. Inserts and erasures of one
/// owner therefore take the owner's lock (shared here, exclusive there), so one waits for the
/// other. SQLite runs one writer at a time already.
async fn lock_owners_shared(
    conn: &mut AnyConnection,
    records: &[ContentRecord],
) -> Result<(), StoreError> {
    let mut owners: Vec<KeyOwner> = records.iter().map(|record| record.owner).collect();
    owners.sort_unstable_by_key(|owner| owner_lock(*owner));
    owners.dedup();
    for owner in owners {
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind(owner_lock(owner))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Inserts `record` unless its id is stored already, or it was captured at or before its owner's
/// erasure: the tombstone is read in the insert's own statement, so such a record is not written
/// whenever it arrives.
async fn insert_record(conn: &mut AnyConnection, record: &ContentRecord) -> Result<(), StoreError> {
    let (kind, id) = owner_columns(record.owner);
    sqlx::query(&format!(
        "INSERT INTO content_records ({RECORD_COLUMNS}) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE NOT EXISTS ( \
         SELECT 1 FROM content_erasures \
         WHERE owner_kind = $5 AND owner_id = $6 AND erased_at >= $3) \
         ON CONFLICT (id) DO NOTHING"
    ))
    .bind(record.id.as_str())
    .bind(record.request_id.as_str())
    .bind(record.created_at)
    .bind(record.entity_id.to_string())
    .bind(kind)
    .bind(id)
    .bind(record.operation.as_str())
    .bind(record.model.as_str())
    .bind(record.sealed.clone())
    .execute(conn)
    .await?;
    Ok(())
}

/// The PostgreSQL advisory lock of an owner's content: the last 64 bits of their id (a UUIDv7's
/// random bits), so two owners almost never share one, and sharing would only make one wait.
fn owner_lock(key_owner: KeyOwner) -> i64 {
    let id = match key_owner {
        KeyOwner::User(id) => id.0,
        KeyOwner::ServiceAccount(id) => id.0,
    };
    let bytes = id.as_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..]);
    i64::from_be_bytes(low)
}

fn blob(row: &AnyRow, column: &str) -> Result<Vec<u8>, StoreError> {
    Ok(row.try_get::<Vec<u8>, _>(column)?)
}

fn record_row(row: &AnyRow) -> Result<ContentRecord, StoreError> {
    let operation = text(row, "operation")?;
    Ok(ContentRecord {
        id: text(row, "id")?,
        request_id: text(row, "request_id")?,
        created_at: int(row, "created_at")?,
        entity_id: parsed(row, "entity_id")?,
        owner: owner(&text(row, "owner_kind")?, &text(row, "owner_id")?)?,
        operation: Operation::parse(&operation)
            .ok_or_else(|| StoreError::Corrupt(format!("operation = `{operation}`")))?,
        model: text(row, "model")?,
        sealed: blob(row, "sealed")?,
    })
}
