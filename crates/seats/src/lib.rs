//! Seat licensing: the group's pool, each entity's reserved seats, who holds a seat and when they
//! last used it — held in memory, granted by the database.
//!
//! [`Seats`] is loaded from the store at start. The request path's question — may this user go on?
//! — is [`Seats::check`]: for a user who holds a seat, one map lookup under a read lock and one
//! atomic store of the time (their last activity), nothing awaited and no database access. Last
//! activity reaches the store through the [`SeatWriter`]'s channel, in batches, off the request
//! path. Provisioning (SCIM, admin API) assigns at once and awaits its write, since it is not on
//! the request path; suspension and deletion release the seat in the store's own provisioning
//! transaction and then here. [`Seats::reclaim`] takes back the seats of users idle longer than
//! the configured period.
//!
//! **The invariant: no answer is ever served on a seat the database did not grant.** How a user
//! without a seat here gets one depends on the store:
//!
//! - **PostgreSQL (replicas).** The seat is claimed from the store, and the request waits for its
//!   decision: one store call (`Store::claim_seat`), on the user's first request on this replica
//!   only. The store decides under a lock every replica's seat transaction takes, by the pool's
//!   rule on what the database holds, so replicas racing for the last seats are served one after
//!   the other and those left over are refused with the pool's reason, as a single process
//!   would. A user the database already seated (through another replica) is let through. The
//!   ledger here decides first, counting the claims in flight: what it refuses is refused without
//!   asking the store (a replica learns of seats freed elsewhere within a second), and what it
//!   allows the store may still refuse. The user's other requests meanwhile wait for the same
//!   claim, so a user never claims twice; the claim runs in its own task, so a request given up
//!   meanwhile leaves it settled all the same. A store that cannot be reached refuses the seat
//!   (`store_unreachable`): fail closed. Each replica's memory is brought in line with the store by
//!   [`Seats::refresh`] on every change notice (within a second).
//! - **SQLite (one process, the default).** This process is the database's only writer: its ledger
//!   holds exactly what the database holds, so the seat is decided in memory there and then, and
//!   the store write (the seat row and its `seat.assign` audit event) goes through the writer,
//!   within [`CHANGE_FLUSH_INTERVAL`]. The store decides the assignment again as it writes it and
//!   a seat it refuses is forgotten here; with one writer, it refuses none.
//!
//! Invariants: no lock is held across an `.await`; lock order is the ledger's mutex, then the
//! holders' map, then the claims in flight, then the suspended users; a seated user's request
//! never waits on I/O.
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
//! with an injected time). `SeatWriter` (`writer.rs`) stores reclaims (and, on SQLite, first-use
//! assignments) every 200 ms and last activity every 60 s, in batches, on demand (`Seats::flush`)
//! and at shutdown.

mod writer;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use domain::{AuditAction, AuditEvent, EntityId, UnixMillis, UserId, now_millis};
use parking_lot::{Mutex, RwLock};
use store::{Backend, SeatChange, SeatClaim, Store, StoreError};
use tokio::sync::{mpsc, watch};

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
    #[error(
        "seat required (seat store unreachable): this user's first seat could not be confirmed by the database; retry shortly"
    )]
    StoreUnreachable,
}

impl SeatRequired {
    /// The reason in one word, for logs and audit details.
    pub fn reason(&self) -> &'static str {
        match self {
            SeatRequired::PoolExhausted { .. } => "pool_exhausted",
            SeatRequired::EntityAllocationExhausted { .. } => "entity_allocation_exhausted",
            SeatRequired::UserSuspended => "user_suspended",
            SeatRequired::StoreUnreachable => "store_unreachable",
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
    /// On a shared store (PostgreSQL, replicas), the store that grants first seats; `None` on
    /// SQLite, where this process decides alone.
    granter: Option<Store>,
    /// First seats the granter is deciding, each counted in the ledger until it answers (unless
    /// its user meanwhile holds a seat, counted as such). Lock order: after the holders' map.
    claims: Mutex<HashMap<UserId, Claim>>,
}

/// A first seat the store is deciding: every request of the user waits for the one answer.
struct Claim {
    entity: EntityId,
    answer: watch::Receiver<Option<Result<(), SeatRequired>>>,
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
            granter: (store.backend() == Backend::Postgres).then(|| store.clone()),
            claims: Mutex::new(HashMap::new()),
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
    /// activity is noted; memory only, nothing awaited), or gets one now, or is refused with the
    /// reason. A first seat is decided in memory on SQLite, and granted by the store, awaited,
    /// on PostgreSQL.
    pub async fn check(
        self: &Arc<Self>,
        user: UserId,
        entity: EntityId,
        now: UnixMillis,
    ) -> Result<(), SeatRequired> {
        if self.touch_held(user, now) {
            return Ok(());
        }
        match &self.granter {
            None => self.assign_on_first_use(user, entity, now),
            Some(granter) => self.claim(granter, user, entity, now).await,
        }
    }

    /// Whether `user` holds a seat, noting their activity at `now` if so.
    fn touch_held(&self, user: UserId, now: UnixMillis) -> bool {
        let holders = self.holders.read();
        let held = holders.get(&user);
        if let Some(holder) = held {
            holder.touch(now);
        }
        held.is_some()
    }

    /// The first use of `user` on a shared store: a seat the ledger here allows is claimed from the
    /// store, and the answer waits for its decision. Every request of the user meanwhile waits for
    /// the same claim. A seat the ledger here refuses is refused without asking the store.
    async fn claim(
        self: &Arc<Self>,
        granter: &Store,
        user: UserId,
        entity: EntityId,
        now: UnixMillis,
    ) -> Result<(), SeatRequired> {
        if self.suspended.read().contains(&user) {
            return Err(SeatRequired::UserSuspended);
        }
        let mut answer = {
            let mut ledger = self.ledger.lock();
            // Another request of the same user may have won the lock first.
            if self.touch_held(user, now) {
                return Ok(());
            }
            let mut claims = self.claims.lock();
            match claims.get(&user) {
                Some(claim) => claim.answer.clone(),
                None => {
                    ledger.try_assign(entity)?;
                    let (decided, answer) = watch::channel(None);
                    claims.insert(
                        user,
                        Claim {
                            entity,
                            answer: answer.clone(),
                        },
                    );
                    // Its own task: a request given up while the store decides leaves the
                    // claim settled all the same.
                    let seats = Arc::clone(self);
                    let granter = granter.clone();
                    tokio::spawn(seats.settle_claim(granter, user, entity, now, decided));
                    answer
                }
            }
        };
        let decided = answer.wait_for(Option::is_some).await.map(|answer| *answer);
        match decided {
            Ok(Some(answer)) => answer,
            _ => Err(SeatRequired::StoreUnreachable),
        }
    }

    /// Asks the store for `user`'s first seat, keeps what it decided, and tells every request
    /// waiting for it.
    async fn settle_claim(
        self: Arc<Self>,
        granter: Store,
        user: UserId,
        entity: EntityId,
        now: UnixMillis,
        decided: watch::Sender<Option<Result<(), SeatRequired>>>,
    ) {
        let claimed = granter
            .claim_seat(&first_use(user, entity, now), self.default_pool)
            .await;
        if let Err(error) = &claimed {
            tracing::error!(%error, "could not claim a first seat from the store");
        }
        let answer = {
            let mut ledger = self.ledger.lock();
            let mut holders = self.holders.write();
            self.claims.lock().remove(&user);
            let suspended = self.suspended.read().contains(&user);
            match claimed {
                // A refresh may have brought the seat in meanwhile, counted once as a holder.
                Ok(SeatClaim::Held) if !suspended => {
                    holders
                        .entry(user)
                        .or_insert_with(|| Holder::new(entity, now, now));
                    Ok(())
                }
                _ if holders.contains_key(&user) => Ok(()),
                refused => {
                    ledger.release(entity);
                    Err(match refused {
                        Ok(SeatClaim::Refused(shortage)) => shortage.into(),
                        Ok(SeatClaim::Held | SeatClaim::Ineligible) => SeatRequired::UserSuspended,
                        Err(_) => SeatRequired::StoreUnreachable,
                    })
                }
            }
        };
        decided.send_replace(Some(answer));
    }

    /// The rare path of [`Seats::check`] on SQLite, where this process is the store's only
    /// writer: decided under the ledger's lock, written by the writer.
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
        self.send(first_use(user, entity, now));
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
            if self.holders.read().contains_key(&user)
                || self.claims.lock().contains_key(&user)
                || ledger.try_assign(entity).is_err()
            {
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

    /// The store refused the seats these users were given here on first use (SQLite; with this
    /// process its only writer, never expected): they no longer hold one, and their next request
    /// is refused or given a seat again as the pool then allows.
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
        for (user, claim) in self.claims.lock().iter() {
            if !holders.contains_key(user) {
                counted.assign(claim.entity);
            }
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

/// The seat `user` of `entity` is given at their first use at `now`, with its `seat.assign` event.
fn first_use(user: UserId, entity: EntityId, now: UnixMillis) -> SeatChange {
    SeatChange {
        user_id: user,
        entity_id: entity,
        assigned: true,
        at: now,
        audit: system_event(
            AuditAction::SeatAssign,
            serde_json::json!({"cause": "first_use"}),
        ),
    }
}

/// An event of Fabrique's own seat decisions; the store fills in target and entity.
fn system_event(action: AuditAction, detail: serde_json::Value) -> AuditEvent {
    AuditEvent::system(action, detail.to_string())
}

#[cfg(test)]
mod tests;
