//! Seats: the group's pool size, each entity's reserved seats, the seats users hold and users' last
//! activity. The in-memory `seats::Seats` decides who gets a seat; this module only persists what it
//! decided, each change with its audit event in the same transaction.

use domain::seat_ledger::{Ledger, Shortage};
use domain::{AuditAction, AuditEvent, EntityId, UnixMillis, UserId, now_millis};
use sqlx::AnyConnection;

use crate::audit::{insert_audit, insert_audits};
use crate::codec::{int, opt_int, parsed};
use crate::{Backend, Store, StoreError};

/// The first half of the seats' advisory lock key (`SEAT` in ASCII); the second is the schema's
/// hash, as for the background jobs' lease.
const SEATS_LOCK_CLASS: i32 = 0x5345_4154;

/// Everything the in-memory seat state is rebuilt from at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSeats {
    /// The pool size a group administrator set; `None` when never set (the configuration's
    /// default applies), `Some(None)` when set to unlimited.
    pub pool: Option<Option<u64>>,
    pub reservations: Vec<(EntityId, u64)>,
    pub held: Vec<HeldSeat>,
    /// Users who are suspended (and so hold no seat), not deleted.
    pub suspended: Vec<UserId>,
}

/// A seat a user holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldSeat {
    pub user_id: UserId,
    pub entity_id: EntityId,
    pub assigned_at: UnixMillis,
    /// The user's last authenticated request as last flushed; `None` if never used.
    pub last_active_at: Option<UnixMillis>,
}

/// One seat assignment or release, with its audit event (whose target the store sets to the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatChange {
    pub user_id: UserId,
    pub entity_id: EntityId,
    /// `true`: the user now holds a seat; `false`: the seat is released.
    pub assigned: bool,
    pub at: UnixMillis,
    pub audit: AuditEvent,
}

/// What [`Store::claim_seat`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatClaim {
    /// The user holds a seat.
    Held,
    /// The pool or the reservations allow no seat for the user's entity.
    Refused(Shortage),
    /// The user (or their entity) is suspended or deleted: no seat, whatever the pool.
    Ineligible,
}

impl Store {
    /// The pool, the reservations, the held seats (with last activity) and the suspended users.
    pub async fn load_seats(&self) -> Result<StoredSeats, StoreError> {
        let pool = sqlx::query("SELECT size FROM seat_pool WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|row| opt_int(&row, "size"))
            .transpose()?
            .map(|size| size.map(|s| u64::try_from(s).unwrap_or(0)));
        let reservations = sqlx::query("SELECT entity_id, reserved FROM seat_reservations")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    parsed(row, "entity_id")?,
                    u64::try_from(int(row, "reserved")?).unwrap_or(0),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let held = sqlx::query(
            "SELECT s.user_id, s.entity_id, s.assigned_at, u.last_active_at \
             FROM seats s JOIN users u ON u.id = s.user_id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(HeldSeat {
                user_id: parsed(row, "user_id")?,
                entity_id: parsed(row, "entity_id")?,
                assigned_at: int(row, "assigned_at")?,
                last_active_at: opt_int(row, "last_active_at")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let suspended: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM users WHERE status = 'suspended' AND deleted_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        let suspended = suspended
            .iter()
            .map(|id| crate::codec::parse("id", id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StoredSeats {
            pool,
            reservations,
            held,
            suspended,
        })
    }

    /// Sets the pool size (`None`: unlimited).
    pub async fn set_seat_pool(
        &self,
        size: Option<u64>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO seat_pool (id, size, updated_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET size = excluded.size, updated_at = excluded.updated_at",
        )
        .bind(size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)))
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets the seats reserved for `entity`.
    pub async fn set_seat_reservation(
        &self,
        entity: EntityId,
        reserved: u64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO seat_reservations (entity_id, reserved, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (entity_id) DO UPDATE SET reserved = excluded.reserved, \
             updated_at = excluded.updated_at",
        )
        .bind(entity.to_string())
        .bind(i64::try_from(reserved).unwrap_or(i64::MAX))
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes seat assignments and releases in order, each with its audit event, all in one
    /// transaction. A change that changes nothing writes no event: assigning a seat already held,
    /// releasing one not held, or assigning to a user suspended or deleted, or of an entity
    /// suspended, since the decision (the suspension won the race; the seat stays free).
    ///
    /// Assignments are decided again here, by the pool's rule (`domain::seat_ledger`) on what
    /// the database holds, under a lock every replica's seat transaction takes: two replicas
    /// assigning at once are served one after the other, and an assignment the pool or the
    /// reservations no longer allow is not written. `default_pool` is the pool size while no
    /// administrator has set one (the configuration's). Returns the users refused so.
    pub async fn record_seat_changes(
        &self,
        changes: &[SeatChange],
        default_pool: Option<u64>,
    ) -> Result<Vec<UserId>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut ledger = match changes.iter().any(|c| c.assigned) {
            true => Some(self.locked_ledger(&mut tx, default_pool).await?),
            false => None,
        };
        let (mut events, mut refused) = (Vec::new(), Vec::new());
        for change in changes {
            let changed = match (change.assigned, ledger.as_mut()) {
                (true, Some(ledger)) => {
                    if ledger.try_assign(change.entity_id).is_err() {
                        refused.push(change.user_id);
                        continue;
                    }
                    let inserted = insert_seat(&mut tx, change).await?;
                    if !inserted {
                        ledger.release(change.entity_id);
                    }
                    inserted
                }
                _ => {
                    let deleted = delete_seat(&mut tx, change.user_id).await?;
                    if let (true, Some(ledger)) = (deleted, ledger.as_mut()) {
                        ledger.release(change.entity_id);
                    }
                    deleted
                }
            };
            if changed {
                events.push(AuditEvent {
                    target: change.user_id.to_string(),
                    entity_id: Some(change.entity_id),
                    ..change.audit.clone()
                });
            }
        }
        insert_audits(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(refused)
    }

    /// Gives `change.user_id` a seat at once, decided by the pool's rule on what the database
    /// holds under the seats' lock (see [`Store::record_seat_changes`]), with its audit event: the
    /// first use of a user on a replica, whose answer waits for this. [`SeatClaim::Held`] when the
    /// user holds a seat once it returns (given now, or held already: another replica gave it).
    pub async fn claim_seat(
        &self,
        change: &SeatChange,
        default_pool: Option<u64>,
    ) -> Result<SeatClaim, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut ledger = self.locked_ledger(&mut tx, default_pool).await?;
        let held = sqlx::query("SELECT 1 FROM seats WHERE user_id = $1")
            .bind(change.user_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let unchanged = if held.is_some() {
            SeatClaim::Held
        } else if let Err(shortage) = ledger.try_assign(change.entity_id) {
            SeatClaim::Refused(shortage)
        } else if !insert_seat(&mut tx, change).await? {
            SeatClaim::Ineligible
        } else {
            let event = AuditEvent {
                target: change.user_id.to_string(),
                entity_id: Some(change.entity_id),
                ..change.audit.clone()
            };
            insert_audit(&mut tx, &event).await?;
            tx.commit().await?;
            return Ok(SeatClaim::Held);
        };
        // Ended at once, so that the seats' lock is not held until the connection's next use.
        tx.rollback().await?;
        Ok(unchanged)
    }

    /// Takes the seats' lock for the rest of `tx` (PostgreSQL: a transaction-scoped advisory
    /// lock; SQLite has one writer at a time already) and reads the pool as the database holds
    /// it: size, reservations, seats held by entity.
    async fn locked_ledger(
        &self,
        tx: &mut AnyConnection,
        default_pool: Option<u64>,
    ) -> Result<Ledger, StoreError> {
        // The lock first. On SQLite that is the database's write lock, taken by a write: a
        // transaction that read first would fail at its first write if another writer had
        // committed meanwhile, where one that writes first waits for the lock.
        let lock = match self.backend {
            Backend::Postgres => {
                sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))")
                    .bind(SEATS_LOCK_CLASS)
            }
            Backend::Sqlite => sqlx::query("UPDATE seat_pool SET id = id WHERE id = 1"),
        };
        lock.execute(&mut *tx).await?;
        let size = sqlx::query("SELECT size FROM seat_pool WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| opt_int(&row, "size"))
            .transpose()?
            .map_or(default_pool, |size| {
                size.map(|s| u64::try_from(s).unwrap_or(0))
            });
        let mut ledger = Ledger::new(size);
        let reservations = sqlx::query("SELECT entity_id, reserved FROM seat_reservations")
            .fetch_all(&mut *tx)
            .await?;
        for row in &reservations {
            let reserved = u64::try_from(int(row, "reserved")?).unwrap_or(0);
            ledger.reserve(parsed(row, "entity_id")?, reserved);
        }
        let held = sqlx::query("SELECT entity_id, COUNT(*) AS held FROM seats GROUP BY entity_id")
            .fetch_all(&mut *tx)
            .await?;
        for row in &held {
            let seats = u64::try_from(int(row, "held")?).unwrap_or(0);
            ledger.hold(parsed(row, "entity_id")?, seats);
        }
        Ok(ledger)
    }

    /// Records users' last authenticated requests (never moving one backwards), in one transaction.
    pub async fn record_activity(
        &self,
        activity: &[(UserId, UnixMillis)],
    ) -> Result<(), StoreError> {
        let rows: Vec<(String, i64)> = activity
            .iter()
            .map(|(user, at)| (user.to_string(), *at))
            .collect();
        crate::last_seen::record(self, "users", "last_active_at", &rows).await
    }
}

/// Releases `user`'s seat inside a provisioning transaction and, when there was one, writes the
/// release's audit event (the provisioning event's actor, action `seat.release`, `cause`).
pub(crate) async fn release_in(
    conn: &mut AnyConnection,
    user: UserId,
    entity: EntityId,
    provisioning: &AuditEvent,
    cause: &str,
) -> Result<bool, StoreError> {
    if !delete_seat(conn, user).await? {
        return Ok(false);
    }
    insert_audit(
        conn,
        &release_event(user.to_string(), entity, provisioning, cause),
    )
    .await?;
    Ok(true)
}

/// The `seat.release` event of `user`'s seat, acted by the change that released it.
fn release_event(user: String, entity: EntityId, change: &AuditEvent, cause: &str) -> AuditEvent {
    AuditEvent {
        action: AuditAction::SeatRelease,
        target: user,
        entity_id: Some(entity),
        detail: serde_json::json!({ "cause": cause }).to_string(),
        ..change.clone()
    }
}

/// Releases every seat held in `entity` inside the transaction of its suspension, each with its
/// `seat.release` event (`cause`), and returns how many.
pub(crate) async fn release_entity_in(
    conn: &mut AnyConnection,
    entity: EntityId,
    suspension: &AuditEvent,
    cause: &str,
) -> Result<usize, StoreError> {
    let holders: Vec<String> =
        sqlx::query_scalar("DELETE FROM seats WHERE entity_id = $1 RETURNING user_id")
            .bind(entity.to_string())
            .fetch_all(&mut *conn)
            .await?;
    let events: Vec<AuditEvent> = holders
        .into_iter()
        .map(|user| release_event(user, entity, suspension, cause))
        .collect();
    insert_audits(conn, &events).await?;
    Ok(events.len())
}

/// Inserts the seat `change` assigns, unless the user holds one already or is no longer active
/// (nor their entity); whether it was inserted.
async fn insert_seat(conn: &mut AnyConnection, change: &SeatChange) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO seats (user_id, entity_id, assigned_at) \
         SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users u \
         JOIN entities e ON e.id = u.entity_id WHERE u.id = $1 \
         AND u.status = 'active' AND u.deleted_at IS NULL AND e.status = 'active') \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(change.user_id.to_string())
    .bind(change.entity_id.to_string())
    .bind(change.at)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() > 0)
}

async fn delete_seat(conn: &mut AnyConnection, user: UserId) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM seats WHERE user_id = $1")
        .bind(user.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(deleted.rows_affected() > 0)
}
