//! Seat licensing, decided in memory: the group's pool, each entity's reserved seats, who holds a
//! seat and when they last used it.
//!
//! [`Seats`] is loaded from the store at start. The request path's question — may this user go on?
//! — is [`Seats::check`]: for a user who holds a seat, one map lookup under a read lock and one
//! atomic store of the time (their last activity). A user without one gets a seat there and then if
//! the pool and their entity's allocation allow it: the decision is taken under one mutex in
//! memory, and the store write (the seat row and its `seat.assign` audit event) goes through the
//! [`SeatWriter`]'s channel, off the request path. Last activity reaches the store the same way, in
//! batches. Provisioning (SCIM, admin API) assigns at once and awaits its write, since it is not on
//! the request path; suspension and deletion release the seat in the store's own provisioning
//! transaction and then here. [`Seats::reclaim`] takes back the seats of users idle longer than
//! the configured period.
//!
//! Invariants: no lock is held across an `.await`; lock order is the ledger's mutex, then the
//! holders' map; the request path never waits on I/O. With several replicas each one decides with
//! its own memory, brought in line with the store by [`Seats::refresh`] on every change notice
//! (within a second); the store decides every assignment again when it writes it, under a lock
//! all replicas share (`Store::record_seat_changes`), so the database never holds more seats than
//! the pool and the reservations allow. A seat two replicas gave away at once beyond the pool is
//! refused there and taken back here: its user's requests until then (at most one writer
//! interval, [`CHANGE_FLUSH_INTERVAL`]) were served, none after.
//!
//! # The ledger and the calls
//!
//! Seat licensing in memory. `Ledger` (`domain::seat_ledger`, no I/O, no clock, no lock) is the pool's
//! arithmetic: pool size (or unlimited), per-entity reserved and assigned seats, and the rule that
//! entity `e` may take a seat when the pool has a free one and either `e` is below its reservation or
//! `Σ max(assigned, reserved)` over entities is below the pool — so an entity uses its reservation
//! first, then overflow, and never overflow that would leave another entity short of its reservation.
//! `Seats` wraps it in one mutex, beside the holders' map (user → entity, assignment time, last
//! activity as an atomic) under a read-write lock, and the suspended users. `Seats::check` is the
//! request path's call; `assign_at_provisioning` (admin API, SCIM), `suspended`/`reactivated`/`deleted`
//! (SCIM, after the store released the seat in its transaction), `entity_suspended` (admin API,
//! likewise, for every seat of the entity), `set_pool`/`set_reservation`
//! (admin API; applied in memory first so a lowered pool holds at once, reverted if the store
//! refuses), `report`, and `reclaim(now)` (idle seats back to the pool; the binary's hourly job, tests
//! with an injected time). `SeatWriter` (`writer.rs`) stores first-use assignments and reclaims every
//! 200 ms and last activity every 60 s, in batches, on demand (`Seats::flush`) and at shutdown.

mod writer;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use domain::{AuditAction, AuditEvent, EntityId, UnixMillis, UserId, now_millis};
use parking_lot::{Mutex, RwLock};
use store::{SeatChange, Store, StoreError};
use tokio::sync::mpsc;

pub use domain::seat_ledger::{Allocation, Ledger, LedgerError, Shortage};
pub use writer::{ACTIVITY_FLUSH_INTERVAL, CHANGE_FLUSH_INTERVAL, SeatWriter};

use crate::writer::Message;

const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// How long after assigning a seat this process's writer has surely stored it (it writes every
/// [`CHANGE_FLUSH_INTERVAL`]): past that, a seat the store does not hold was released elsewhere.
pub const SETTLED: Duration = Duration::from_secs(10);

/// What the configuration says about seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeatSettings {
    /// The pool size until a group administrator sets one (`None`: unlimited).
    pub pool: Option<u64>,
    /// Seats of users idle this long are reclaimed; `None`: never.
    pub reclaim_after: Option<Duration>,
}

/// Why a user may not use generative AI: they hold no seat and none can be assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeatRequired {
    #[error(
        "seat required (pool exhausted): all {size} seats of the group's pool are assigned; an administrator must raise the pool or release seats"
    )]
    PoolExhausted { size: u64 },
    #[error(
        "seat required (entity allocation exhausted): your entity holds all {reserved} of its reserved seats and the free seats left in the pool are reserved for other entities; an administrator must raise the entity's reservation or release seats"
    )]
    EntityAllocationExhausted { reserved: u64 },
    #[error("seat required (user suspended): this user is suspended and holds no seat")]
    UserSuspended,
}

impl SeatRequired {
    /// The reason in one word, for logs and audit details.
    pub fn reason(&self) -> &'static str {
        match self {
            SeatRequired::PoolExhausted { .. } => "pool_exhausted",
            SeatRequired::EntityAllocationExhausted { .. } => "entity_allocation_exhausted",
            SeatRequired::UserSuspended => "user_suspended",
        }
    }
}

impl From<Shortage> for SeatRequired {
    fn from(shortage: Shortage) -> Self {
        match shortage {
            Shortage::PoolExhausted { size } => SeatRequired::PoolExhausted { size },
            Shortage::EntityAllocationExhausted { reserved, .. } => {
                SeatRequired::EntityAllocationExhausted { reserved }
            }
        }
    }
}

/// Why an administrator's change to the pool or a reservation failed.
#[derive(Debug, thiserror::Error)]
pub enum SeatsError {
    #[error(transparent)]
    Refused(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One entity's figures in the seat report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntitySeats {
    pub reserved: u64,
    pub assigned: u64,
    /// Seat holders whose last authenticated request is at most 7 (30) days old.
    pub active_7_days: u64,
    pub active_30_days: u64,
    /// Seats the reclaim job would take back now.
    pub reclaimable: u64,
}

/// The seat report: the pool and, per entity that reserved or holds seats, its figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatReport {
    pub pool: Option<u64>,
    pub assigned: u64,
    pub reserved: u64,
    pub reclaim_after_days: Option<u64>,
    pub entities: HashMap<EntityId, EntitySeats>,
}

/// The live seat state. `Send + Sync`; share it as `Arc<Seats>`.
pub struct Seats {
    ledger: Mutex<Ledger>,
    holders: RwLock<HashMap<UserId, Holder>>,
    suspended: RwLock<HashSet<UserId>>,
    reclaim_after: Option<Duration>,
    /// The configuration's pool size, in force until an administrator sets one: the store
    /// decides assignments by it too.
    default_pool: Option<u64>,
    writer: mpsc::UnboundedSender<Message>,
    /// Serializes administrators' changes, whose store write comes between checking and keeping.
    admin: tokio::sync::Mutex<()>,
}

/// A held seat.
struct Holder {
    entity: EntityId,
    assigned_at: UnixMillis,
    /// Last authenticated request (0: none yet), and the value last written to the store.
    last_active: AtomicI64,
    flushed: AtomicI64,
}

impl Holder {
    fn new(entity: EntityId, assigned_at: UnixMillis, last_active: UnixMillis) -> Holder {
        Holder {
            entity,
            assigned_at,
            last_active: AtomicI64::new(last_active),
            flushed: AtomicI64::new(last_active),
        }
    }

    /// A load first, so that a user's requests within one millisecond write nothing.
    fn touch(&self, now: UnixMillis) {
        if self.last_active.load(Ordering::Relaxed) < now {
            self.last_active.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// Since when the seat has been unused: its last activity, or its assignment if later.
    fn idle_since(&self) -> UnixMillis {
        self.last_active
            .load(Ordering::Relaxed)
            .max(self.assigned_at)
    }
}

impl std::fmt::Debug for Seats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ledger = self.ledger.lock();
        f.debug_struct("Seats")
            .field("pool", &ledger.size())
            .field("assigned", &ledger.assigned())
            .finish_non_exhaustive()
    }
}

impl Seats {
    /// Loads the seat state and starts its writer. The stored pool size wins over `settings.pool`
    /// once a group administrator has set one.
    pub async fn load(
        store: &Store,
        settings: SeatSettings,
    ) -> Result<(Arc<Seats>, SeatWriter), StoreError> {
        let stored = store.load_seats().await?;
        let mut ledger = Ledger::new(stored.pool.unwrap_or(settings.pool));
        let mut holders = HashMap::with_capacity(stored.held.len());
        for held in &stored.held {
            ledger.assign(held.entity_id);
            holders.insert(
                held.user_id,
                Holder::new(
                    held.entity_id,
                    held.assigned_at,
                    held.last_active_at.unwrap_or(0),
                ),
            );
        }
        for &(entity, reserved) in &stored.reservations {
            ledger.reserve(entity, reserved);
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        let seats = Arc::new(Seats {
            ledger: Mutex::new(ledger),
            holders: RwLock::new(holders),
            suspended: RwLock::new(stored.suspended.iter().copied().collect()),
            reclaim_after: settings.reclaim_after,
            default_pool: settings.pool,
            writer: sender,
            admin: tokio::sync::Mutex::new(()),
        });
        tracing::info!(
            pool = ?seats.ledger.lock().size(),
            assigned = stored.held.len(),
            "seats loaded"
        );
        let writer = SeatWriter::spawn(store.clone(), Arc::clone(&seats), receiver);
        Ok((seats, writer))
    }

    /// The request path's license check for `user` of `entity` at `now`: holds a seat (their
    /// activity is noted), or gets one now, or is refused with the reason.
    pub fn check(
        &self,
        user: UserId,
        entity: EntityId,
        now: UnixMillis,
    ) -> Result<(), SeatRequired> {
        if let Some(holder) = self.holders.read().get(&user) {
            holder.touch(now);
            return Ok(());
        }
        self.assign_on_first_use(user, entity, now)
    }

    /// The rare path of [`Seats::check`]: decided under the ledger's lock, written by the writer.
    fn assign_on_first_use(
        &self,
        user: UserId,
        entity: EntityId,
        now: UnixMillis,
    ) -> Result<(), SeatRequired> {
        if self.suspended.read().contains(&user) {
            return Err(SeatRequired::UserSuspended);
        }
        let mut ledger = self.ledger.lock();
        // Another request of the same user may have won the lock first.
        if let Some(holder) = self.holders.read().get(&user) {
            holder.touch(now);
            return Ok(());
        }
        ledger.try_assign(entity)?;
        self.holders
            .write()
            .insert(user, Holder::new(entity, now, now));
        drop(ledger);
        let audit = system_event(
            AuditAction::SeatAssign,
            serde_json::json!({"cause": "first_use"}),
        );
        self.send(SeatChange {
            user_id: user,
            entity_id: entity,
            assigned: true,
            at: now,
            audit,
        });
        Ok(())
    }

    /// Assigns a seat to a user just provisioned, if one is free, and writes it (with its audit
    /// event, `actor` acting) before returning. `Ok(false)` when none is free: the user is
    /// created without one and may get one at first use.
    pub async fn assign_at_provisioning(
        &self,
        store: &Store,
        user: UserId,
        entity: EntityId,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        {
            let mut ledger = self.ledger.lock();
            if self.holders.read().contains_key(&user) || ledger.try_assign(entity).is_err() {
                return Ok(false);
            }
            self.holders
                .write()
                .insert(user, Holder::new(entity, now, 0));
        }
        let audit = AuditEvent {
            actor: actor.to_owned(),
            ..system_event(
                AuditAction::SeatAssign,
                serde_json::json!({"cause": "provisioning"}),
            )
        };
        let change = SeatChange {
            user_id: user,
            entity_id: entity,
            assigned: true,
            at: now,
            audit,
        };
        match store
            .record_seat_changes(&[change], self.default_pool)
            .await
        {
            Ok(refused) if refused.is_empty() => Ok(true),
            // Another replica took the last seat meanwhile: the store is the judge.
            Ok(_) => {
                self.forget(user);
                Ok(false)
            }
            Err(error) => {
                self.forget(user);
                Err(error)
            }
        }
    }

    /// The user's seat was released in the store (suspension): forget it, and refuse them with
    /// the reason until they are reactivated.
    pub fn suspended(&self, user: UserId) {
        self.forget(user);
        self.suspended.write().insert(user);
    }

    /// The user was reactivated: they get a seat again at first use, if one is free.
    pub fn reactivated(&self, user: UserId) {
        self.suspended.write().remove(&user);
    }

    /// The entity was suspended (its seats released in the store): forget every seat held in it.
    /// Its users cannot authenticate meanwhile; once it is reactivated they get a seat again at
    /// first use, if one is free. Returns how many seats were freed.
    pub fn entity_suspended(&self, entity: EntityId) -> usize {
        let mut ledger = self.ledger.lock();
        let mut holders = self.holders.write();
        let before = holders.len();
        holders.retain(|_, holder| {
            let keep = holder.entity != entity;
            if !keep {
                ledger.release(entity);
            }
            keep
        });
        before - holders.len()
    }

    /// The user was deleted (their seat released in the store).
    pub fn deleted(&self, user: UserId) {
        self.forget(user);
        self.suspended.write().remove(&user);
    }

    /// Whether `user` holds a seat.
    pub fn holds(&self, user: UserId) -> bool {
        self.holders.read().contains_key(&user)
    }

    /// The store refused the seats these users were given here on first use (other replicas
    /// took the last ones meanwhile): they no longer hold one, and their next request is refused
    /// or given a seat again as the pool then allows.
    pub(crate) fn refused_by_store(&self, users: &[UserId]) {
        for &user in users {
            self.forget(user);
        }
    }

    /// Releases, in memory only, the seat `user` holds.
    fn forget(&self, user: UserId) {
        let mut ledger = self.ledger.lock();
        if let Some(holder) = self.holders.write().remove(&user) {
            ledger.release(holder.entity);
        }
    }

    /// Takes back the seats of users idle longer than the reclaim period at `now`, and waits until
    /// the releases (each a `seat.reclaim` audit event) are stored. Returns how many. The
    /// background job calls this periodically; tests call it with the time they want.
    pub async fn reclaim(&self, now: UnixMillis) -> usize {
        let Some(after) = self.reclaim_after else {
            return 0;
        };
        let cutoff = now - i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        // Candidates under the read lock; each is checked again under the write lock, as the user
        // may have come back in between.
        let candidates: Vec<UserId> = self
            .holders
            .read()
            .iter()
            .filter(|(_, holder)| holder.idle_since() < cutoff)
            .map(|(user, _)| *user)
            .collect();
        let mut reclaimed = Vec::new();
        {
            let mut ledger = self.ledger.lock();
            let mut holders = self.holders.write();
            for user in candidates {
                let idle = holders
                    .get(&user)
                    .filter(|holder| holder.idle_since() < cutoff)
                    .map(|holder| (holder.entity, holder.idle_since()));
                if let Some((entity, idle_since)) = idle {
                    holders.remove(&user);
                    ledger.release(entity);
                    reclaimed.push((user, entity, idle_since));
                }
            }
        }
        let days = after.as_secs() / 86_400;
        for &(user, entity, idle_since) in &reclaimed {
            self.send(SeatChange {
                user_id: user,
                entity_id: entity,
                assigned: false,
                at: now,
                audit: system_event(
                    AuditAction::SeatReclaim,
                    serde_json::json!({"idle_since": idle_since, "reclaim_after_days": days}),
                ),
            });
        }
        self.flush().await;
        reclaimed.len()
    }

    /// Waits until every seat change and activity noted so far is in the store.
    pub async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.writer.send(Message::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }

    /// Sets the pool size (`None`: unlimited), never below the seats assigned or reserved, and
    /// stores it with its audit event (`audit`'s actor; the detail is filled in here). Returns the
    /// previous size.
    pub async fn set_pool(
        &self,
        store: &Store,
        size: Option<u64>,
        audit: AuditEvent,
    ) -> Result<Option<u64>, SeatsError> {
        let _serial = self.admin.lock().await;
        // Applied first, so that no seat is assigned beyond a lowered pool while the store writes.
        let previous = self.ledger.lock().set_size(size)?;
        let audit = AuditEvent {
            action: AuditAction::SeatPoolSet,
            target: "group".to_owned(),
            detail: serde_json::json!({"size": size, "previous": previous}).to_string(),
            ..audit
        };
        if let Err(error) = store.set_seat_pool(size, &audit).await {
            self.ledger.lock().set_size(previous).ok();
            return Err(error.into());
        }
        Ok(previous)
    }

    /// Sets the seats reserved for `entity` (all reservations stay within the pool) and stores it
    /// with its audit event. Returns the previous reservation.
    pub async fn set_reservation(
        &self,
        store: &Store,
        entity: EntityId,
        reserved: u64,
        audit: AuditEvent,
    ) -> Result<u64, SeatsError> {
        let _serial = self.admin.lock().await;
        let previous = self.ledger.lock().set_reserved(entity, reserved)?;
        let audit = AuditEvent {
            action: AuditAction::SeatReservationSet,
            target: entity.to_string(),
            entity_id: Some(entity),
            detail: serde_json::json!({"reserved": reserved, "previous": previous}).to_string(),
            ..audit
        };
        if let Err(error) = store.set_seat_reservation(entity, reserved, &audit).await {
            self.ledger.lock().set_reserved(entity, previous).ok();
            return Err(error.into());
        }
        Ok(previous)
    }

    /// Brings the seats in line with the store, for changes other replicas made: the pool size,
    /// reservations, suspended users, seats they assigned, released or reclaimed. A seat held
    /// here but absent from the store is dropped only once it is older than [`SETTLED`], by when
    /// this process's writer has stored it; the ledger is then counted again from the holders.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let _serial = self.admin.lock().await;
        let read_at = now_millis();
        let stored = store.load_seats().await?;
        let settled = read_at - i64::try_from(SETTLED.as_millis()).unwrap_or(i64::MAX);
        let in_store: HashSet<UserId> = stored.held.iter().map(|held| held.user_id).collect();
        let mut ledger = self.ledger.lock();
        let mut holders = self.holders.write();
        holders.retain(|user, holder| in_store.contains(user) || holder.assigned_at > settled);
        for held in &stored.held {
            holders.entry(held.user_id).or_insert_with(|| {
                Holder::new(
                    held.entity_id,
                    held.assigned_at,
                    held.last_active_at.unwrap_or(0),
                )
            });
        }
        let mut counted = Ledger::new(stored.pool.unwrap_or(ledger.size()));
        for holder in holders.values() {
            counted.assign(holder.entity);
        }
        for &(entity, reserved) in &stored.reservations {
            counted.reserve(entity, reserved);
        }
        *ledger = counted;
        *self.suspended.write() = stored.suspended.iter().copied().collect();
        Ok(())
    }

    /// The pool and every entity's figures at `now`, from memory.
    pub fn report(&self, now: UnixMillis) -> SeatReport {
        let ledger = self.ledger.lock().clone();
        let reclaim_cutoff = self
            .reclaim_after
            .map(|after| now - i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
        let mut entities: HashMap<EntityId, EntitySeats> = HashMap::new();
        for (_, holder) in self.holders.read().iter() {
            let figures = entities.entry(holder.entity).or_default();
            let last = holder.last_active.load(Ordering::Relaxed);
            figures.active_7_days += u64::from(last >= now - 7 * DAY_MILLIS);
            figures.active_30_days += u64::from(last >= now - 30 * DAY_MILLIS);
            figures.reclaimable +=
                u64::from(reclaim_cutoff.is_some_and(|cutoff| holder.idle_since() < cutoff));
        }
        let mut report = SeatReport {
            pool: ledger.size(),
            assigned: ledger.assigned(),
            reserved: ledger.reserved(),
            reclaim_after_days: self.reclaim_after.map(|after| after.as_secs() / 86_400),
            entities,
        };
        for (entity, figures) in report.entities.iter_mut() {
            let allocation = ledger.allocation(*entity);
            figures.reserved = allocation.reserved;
            figures.assigned = allocation.assigned;
        }
        report
    }

    /// `entity`'s figures in `report`, zeros when it neither reserved nor holds seats.
    pub fn figures(&self, report: &SeatReport, entity: EntityId) -> EntitySeats {
        report.entities.get(&entity).copied().unwrap_or_else(|| {
            let allocation = self.ledger.lock().allocation(entity);
            EntitySeats {
                reserved: allocation.reserved,
                assigned: allocation.assigned,
                ..EntitySeats::default()
            }
        })
    }

    fn send(&self, change: SeatChange) {
        if self.writer.send(Message::Change(change)).is_err() {
            tracing::error!("the seat writer has stopped; a seat change will not be stored");
        }
    }

    /// The activity noted since the last flush: `(user, last activity)` of every holder whose
    /// activity moved on.
    fn unflushed_activity(&self) -> Vec<(UserId, UnixMillis)> {
        self.holders
            .read()
            .iter()
            .filter_map(|(user, holder)| {
                let last = holder.last_active.load(Ordering::Relaxed);
                (last > holder.flushed.load(Ordering::Relaxed)).then_some((*user, last))
            })
            .collect()
    }

    /// Marks activity as stored, once the store has it.
    fn mark_flushed(&self, activity: &[(UserId, UnixMillis)]) {
        let holders = self.holders.read();
        for (user, at) in activity {
            if let Some(holder) = holders.get(user) {
                holder.flushed.fetch_max(*at, Ordering::Relaxed);
            }
        }
    }
}

/// An event of Fabrique's own seat decisions; the store fills in target and entity.
fn system_event(action: AuditAction, detail: serde_json::Value) -> AuditEvent {
    AuditEvent::system(action, detail.to_string())
}

#[cfg(test)]
mod tests;
