//! The admission controller: per-scope rate-limit and budget state in a sharded in-memory table, and
//! the all-or-nothing check-and-charge of one request across all its scopes.
//!
//! The table is `N` shards, each a `parking_lot::Mutex` over a `hashbrown::HashTable` keyed by scope
//! (hashed once per request with foldhash). A request locks the distinct shards of its scopes in
//! ascending order — so two requests can never deadlock — checks every scope, and only if all admit
//! charges all of them, then unlocks. Nothing slow happens under a lock: no I/O, no allocation
//! except when a budget warning or a refusal names its scope, and the calendar is consulted only
//! when a budget's period has ended. Settlement, configuration and reads lock one shard at a time.
//!
//! Rate limits and budgets live in the same entry so that one request takes each lock once and a
//! refusal by a budget leaves the rate limits uncharged, and the other way round.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::UnixMillis;
use hashbrown::HashTable;
use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

use crate::budget::{
    Budget, BudgetSlots, BudgetState, BudgetStatus, BudgetUnit, BudgetWarning, Consumption,
    SpentRecord,
};
use crate::gcra::{GcraStatus, Shortfall};
use crate::period::{Calendar, Period};
use crate::rate::{
    InvalidLimit, LimitKind, Limits, Part, RateHeaders, RateShortfall, RateState, RateStatus,
    is_tighter,
};
use crate::refusal::{Refusal, Refused};
use crate::scope::Scope;

/// Shards of the table by default: enough that two cores (or sixteen) rarely wait on each other.
pub const DEFAULT_SHARDS: usize = 64;

/// One request to admit: every scope it belongs to, and its estimated consumption.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request's key, user, teams and entity; a scope listed twice is counted once.
    pub scopes: Vec<Scope>,
    /// Tokens (see [`crate::estimate_tokens`]) and cost the request may consume.
    pub estimate: Consumption,
    /// The request was counted already ([`Admission::count_request`]): its tokens and budgets are
    /// checked and charged, not its count.
    pub counted: bool,
}

/// An admitted request; `T` is what settles it (a [`Ticket`] of this table, or of counters kept
/// elsewhere).
#[derive(Debug)]
#[must_use = "an admitted request must be settled with its ticket"]
pub struct Admitted<T = Ticket> {
    pub ticket: T,
    /// The `x-ratelimit-*` values after this request's charge, of the caller's own scopes
    /// ([`Scope::is_personal`]).
    pub rate: RateHeaders,
    /// The most-used budget of the caller's own scopes past its soft threshold, if any.
    pub budget_warning: Option<BudgetWarning>,
    /// The budgets this request took past their soft threshold for the first time in their period
    /// (each announced once per period: the caller raises the event).
    pub thresholds_crossed: Vec<BudgetWarning>,
}

/// What settlement needs to replace an admission's estimates with real amounts. Settle every ticket
/// exactly once — with zero consumption for a request that failed before the backend answered — or
/// its reservations stay until the budget's period ends. Not `Clone`, so it cannot be settled twice.
#[derive(Debug)]
#[must_use = "an admitted request must be settled with its ticket"]
pub struct Ticket {
    scopes: Vec<Scope>,
    estimate: Consumption,
    /// The configuration epoch seen under the admission's locks: state created after it was not
    /// charged by this admission, so settlement leaves it alone.
    epoch: u64,
}

impl<T> Admitted<T> {
    /// The same admission, settled through `wrap(ticket)`.
    pub fn map_ticket<U>(self, wrap: impl FnOnce(T) -> U) -> Admitted<U> {
        Admitted {
            ticket: wrap(self.ticket),
            rate: self.rate,
            budget_warning: self.budget_warning,
            thresholds_crossed: self.thresholds_crossed,
        }
    }
}

impl Ticket {
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    pub fn estimate(&self) -> Consumption {
        self.estimate
    }
}

/// Rate limits and budgets of every scope, in memory.
pub struct Admission {
    shards: Box<[Mutex<Shard>]>,
    shard_mask: usize,
    hasher: foldhash::fast::RandomState,
    calendar: Calendar,
    /// Counts creations of token buckets and budgets (see [`Ticket`]).
    epoch: AtomicU64,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("shards", &self.shards.len())
            .field("calendar", &self.calendar)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Shard {
    table: HashTable<ScopeEntry>,
}

/// Everything known about one scope. It exists only while the scope has a limit or a budget.
struct ScopeEntry {
    scope: Scope,
    hash: u64,
    rate: RateState,
    /// Boxed because most scopes (keys, users) have no budget of their own.
    budgets: Option<Box<BudgetSlots>>,
}

impl ScopeEntry {
    fn is_empty(&self) -> bool {
        self.rate.limits().is_unlimited()
            && self.budgets.as_deref().is_none_or(BudgetSlots::is_empty)
    }
}

/// Where one scope of a request lives: its hash and the index of its shard's guard.
#[derive(Clone, Copy)]
struct Located {
    hash: u64,
    guard: usize,
}

impl Admission {
    /// An empty table whose budget periods follow `calendar`.
    pub fn new(calendar: Calendar) -> Self {
        Self::with_shards(calendar, DEFAULT_SHARDS)
    }

    /// As [`Admission::new`] with `shards` shards, rounded up to a power of two.
    pub fn with_shards(calendar: Calendar, shards: usize) -> Self {
        let shards = shards.max(1).next_power_of_two();
        Admission {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            shard_mask: shards - 1,
            hasher: foldhash::fast::RandomState::default(),
            calendar,
            epoch: AtomicU64::new(0),
        }
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// Scopes that have a limit or a budget.
    pub fn scope_count(&self) -> usize {
        self.shards.iter().map(|s| s.lock().table.len()).sum()
    }

    // ---- Configuration -------------------------------------------------------------------------

    /// Sets, changes or (with both `None`) removes the rate limits of `scope`. A changed limit keeps
    /// the share of the minute already used: a bucket half-used stays half-used.
    pub fn set_limit(&self, scope: Scope, limits: Limits) -> Result<(), InvalidLimit> {
        limits.validate()?;
        self.update(scope, |entry, epoch| {
            entry
                .rate
                .set_limits(limits, || epoch.fetch_add(1, Ordering::AcqRel) + 1);
        });
        Ok(())
    }

    /// The rate limits of `scope` (both `None` when it has none).
    pub fn limits(&self, scope: &Scope) -> Limits {
        self.read(scope, |entry| entry.rate.limits())
            .unwrap_or_default()
    }

    /// Sets or changes the budget of `scope` for `budget`'s (period, unit). A changed budget keeps
    /// what was spent and reserved in the current period.
    pub fn set_budget(&self, scope: Scope, budget: Budget) -> Result<(), InvalidLimit> {
        budget.validate()?;
        self.update(scope, |entry, epoch| {
            let slot = entry
                .budgets
                .get_or_insert_with(Box::default)
                .entry(budget.period, budget.unit);
            match slot {
                Some(state) => state.config = budget,
                None => {
                    let created = epoch.fetch_add(1, Ordering::AcqRel) + 1;
                    *slot = Some(BudgetState::new(budget, created));
                }
            }
        });
        Ok(())
    }

    /// Removes a budget and what it had counted; `false` if there was none.
    pub fn remove_budget(&self, scope: &Scope, period: Period, unit: BudgetUnit) -> bool {
        let mut removed = false;
        self.modify(scope, |entry| {
            if let Some(budgets) = entry.budgets.as_deref_mut() {
                removed = budgets.entry(period, unit).take().is_some();
            }
        });
        removed
    }

    // ---- The hot path --------------------------------------------------------------------------

    /// Counts one request against the request-rate limit of every scope (a scope listed twice
    /// once), all or none; otherwise counts nothing and says when to retry. A caller counts each
    /// request first, before anything else about it is known, so a request refused later still
    /// counts; it is then admitted with [`Request::counted`].
    pub fn count_request(&self, scopes: &[Scope], now: UnixMillis) -> Result<(), Refused> {
        let (located, mut guards) = self.lock(scopes);
        let nothing = Consumption::default();
        if let Some(refusal) =
            self.check(&mut guards, scopes, &located, nothing, Part::Request, now)
        {
            let rate = Box::new(headers(&guards, scopes, &located, now));
            return Err(Refused { refusal, rate });
        }
        for (index, (scope, at)) in scopes.iter().zip(&located).enumerate() {
            if scopes[..index].contains(scope) {
                continue;
            }
            if let Some(entry) = find_mut(&mut guards, scope, *at) {
                entry.rate.charge(Part::Request, 0, now);
            }
        }
        Ok(())
    }

    /// Admits `request` if every scope's rate limits and budgets allow it, and then charges them all
    /// (one request unless it was counted already, the token estimate, a reservation of the
    /// estimated tokens and cost); otherwise charges nothing and says why.
    pub fn check_and_charge(&self, request: Request, now: UnixMillis) -> Result<Admitted, Refused> {
        let Request {
            mut scopes,
            estimate,
            counted,
        } = request;
        dedupe(&mut scopes);
        let part = if counted { Part::Tokens } else { Part::Whole };
        let (located, mut guards) = self.lock(&scopes);
        if let Some(refusal) = self.check(&mut guards, &scopes, &located, estimate, part, now) {
            let rate = Box::new(headers(&guards, &scopes, &located, now));
            return Err(Refused { refusal, rate });
        }

        let mut requests = Tightest::default();
        let mut tokens = Tightest::default();
        let mut warning: Option<(u128, BudgetWarning)> = None;
        // Empty (no allocation) except on the request that takes a budget past its threshold.
        let mut crossed = Vec::new();
        for (index, (scope, at)) in scopes.iter().zip(&located).enumerate() {
            let Some(entry) = find_mut(&mut guards, scope, *at) else {
                continue;
            };
            entry.rate.charge(part, estimate.tokens, now);
            if scope.is_personal() {
                requests.offer(index, entry.rate.status(LimitKind::Requests, now));
                tokens.offer(index, entry.rate.status(LimitKind::Tokens, now));
            }
            for budget in entry.budgets.iter_mut().flat_map(|b| b.iter_mut()) {
                budget.reserve(estimate);
                let Some(level) = budget.warning_level() else {
                    continue;
                };
                if budget.first_warning_of_period() {
                    crossed.push(budget.warning(scope));
                }
                let worse = warning.as_ref().is_none_or(|(worst, _)| level > *worst);
                if scope.is_personal() && worse {
                    warning = Some((level, budget.warning(scope)));
                }
            }
        }
        // Read under the locks, so it covers exactly the state this admission charged.
        let epoch = self.epoch.load(Ordering::Acquire);
        drop(guards);

        let rate = RateHeaders {
            requests: requests.into_status(&scopes),
            tokens: tokens.into_status(&scopes),
        };
        Ok(Admitted {
            ticket: Ticket {
                scopes,
                estimate,
                epoch,
            },
            rate,
            budget_warning: warning.map(|(_, w)| w),
            thresholds_crossed: crossed,
        })
    }

    /// Replaces an admission's estimates with the real consumption: token buckets get the
    /// difference refunded or debited, budgets release the reservation and add the real amount to
    /// the period in force at `now`.
    pub fn settle(&self, ticket: Ticket, actual: Consumption, now: UnixMillis) {
        let Ticket {
            scopes,
            estimate,
            epoch,
        } = ticket;
        for scope in &scopes {
            self.modify(scope, |entry| {
                entry
                    .rate
                    .settle(epoch, estimate.tokens, actual.tokens, now);
                for budget in entry.budgets.iter_mut().flat_map(|b| b.iter_mut()) {
                    if budget.created_epoch <= epoch {
                        budget.roll_over(&self.calendar, now);
                        budget.settle(estimate, actual);
                    }
                }
            });
        }
    }

    // ---- Administration and reads --------------------------------------------------------------

    /// Starts `scope` afresh: rate buckets full, budgets' spent amounts zero in the current period.
    /// Reservations of requests in flight stay, since their settlement will release them.
    pub fn reset(&self, scope: &Scope, now: UnixMillis) {
        self.modify(scope, |entry| {
            entry.rate.reset();
            for budget in entry.budgets.iter_mut().flat_map(|b| b.iter_mut()) {
                budget.roll_over(&self.calendar, now);
                budget.spent = 0;
                budget.warned_period = UnixMillis::MIN;
            }
        });
    }

    /// The rate-limit values of one scope alone (the `scope` of each status is `scope`).
    pub fn rate_status(&self, scope: &Scope, now: UnixMillis) -> RateHeaders {
        self.read(scope, |entry| {
            let status = |kind| {
                entry
                    .rate
                    .status(kind, now)
                    .map(|s| rate_status(scope.clone(), s))
            };
            RateHeaders {
                requests: status(LimitKind::Requests),
                tokens: status(LimitKind::Tokens),
            }
        })
        .unwrap_or_default()
    }

    /// One budget's state at `now` (spent, reserved, limit, period start, reset instant).
    pub fn budget(
        &self,
        scope: &Scope,
        period: Period,
        unit: BudgetUnit,
        now: UnixMillis,
    ) -> Option<BudgetStatus> {
        let mut status = None;
        self.modify(scope, |entry| {
            if let Some(budget) = entry
                .budgets
                .as_deref_mut()
                .and_then(|b| b.get_mut(period, unit))
            {
                budget.roll_over(&self.calendar, now);
                status = Some(budget.status(scope));
            }
        });
        status
    }

    /// Every budget of `scope` at `now`.
    pub fn budgets(&self, scope: &Scope, now: UnixMillis) -> Vec<BudgetStatus> {
        let mut all = Vec::new();
        self.modify(scope, |entry| {
            for budget in entry.budgets.iter_mut().flat_map(|b| b.iter_mut()) {
                budget.roll_over(&self.calendar, now);
                all.push(budget.status(scope));
            }
        });
        all
    }

    /// Every scope with a limit or a budget: its rate limits and its budgets' settings. For
    /// bringing the table in line with the store, never on the request path.
    pub fn configured(&self) -> Vec<(Scope, Limits, Vec<Budget>)> {
        let mut configured = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            for entry in shard.table.iter_mut() {
                let budgets = entry
                    .budgets
                    .iter_mut()
                    .flat_map(|b| b.iter_mut())
                    .map(|budget| budget.config)
                    .collect();
                configured.push((entry.scope.clone(), entry.rate.limits(), budgets));
            }
        }
        configured
    }

    /// The spent amount of every budget in its current period at `now`, to persist in a batch.
    /// Reservations are not included: after a restart no request is in flight.
    pub fn snapshot(&self, now: UnixMillis) -> Vec<SpentRecord> {
        let mut records = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            for entry in shard.table.iter_mut() {
                for budget in entry.budgets.iter_mut().flat_map(|b| b.iter_mut()) {
                    budget.roll_over(&self.calendar, now);
                    records.push(SpentRecord {
                        scope: entry.scope.clone(),
                        period: budget.config.period,
                        unit: budget.config.unit,
                        period_start: budget.period_start,
                        spent: budget.spent,
                    });
                }
            }
        }
        records
    }

    /// Loads spent amounts saved by [`Admission::snapshot`], replacing the counted ones. Budgets must
    /// be configured first; records of unknown budgets or of a period other than the current one at
    /// `now` are skipped. Returns how many records were applied.
    pub fn restore(
        &self,
        records: impl IntoIterator<Item = SpentRecord>,
        now: UnixMillis,
    ) -> usize {
        let mut applied = 0;
        for record in records {
            self.modify(&record.scope, |entry| {
                let budget = entry
                    .budgets
                    .as_deref_mut()
                    .and_then(|b| b.get_mut(record.period, record.unit));
                if let Some(budget) = budget {
                    budget.roll_over(&self.calendar, now);
                    if budget.period_start == record.period_start {
                        budget.spent = record.spent;
                        applied += 1;
                    }
                }
            });
        }
        applied
    }

    // ---- Internals -----------------------------------------------------------------------------

    /// Locks the shards of `scopes`, in ascending order so that no two callers can deadlock, and
    /// says where each scope lives.
    fn lock(
        &self,
        scopes: &[Scope],
    ) -> (SmallVec<[Located; 8]>, SmallVec<[MutexGuard<'_, Shard>; 8]>) {
        let mut located: SmallVec<[Located; 8]> = SmallVec::new();
        let mut order: SmallVec<[usize; 8]> = SmallVec::new();
        for scope in scopes {
            let hash = self.hasher.hash_one(scope);
            let shard = self.shard_of(hash);
            // `guard` holds the shard until the guards' order is known.
            located.push(Located { hash, guard: shard });
            order.push(shard);
        }
        order.sort_unstable();
        order.dedup();
        for at in &mut located {
            at.guard = order.partition_point(|&s| s < at.guard);
        }
        let guards = order
            .iter()
            .map(|&shard| self.shards[shard].lock())
            .collect();
        (located, guards)
    }

    fn shard_of(&self, hash: u64) -> usize {
        // The high half: hashbrown uses the low bits for buckets and the top seven for tags.
        (hash >> 32) as usize & self.shard_mask
    }

    /// The first reason to refuse, after looking at every scope (see [`Refusal`] for which wins).
    /// Rolls budgets over into the current period on the way, which is not a charge.
    fn check(
        &self,
        guards: &mut [MutexGuard<'_, Shard>],
        scopes: &[Scope],
        located: &[Located],
        estimate: Consumption,
        part: Part,
        now: UnixMillis,
    ) -> Option<Refusal> {
        let mut rate: Option<(usize, RateShortfall)> = None;
        let mut budget: Option<(usize, Period, BudgetUnit, UnixMillis)> = None;
        for (index, (scope, at)) in scopes.iter().zip(located).enumerate() {
            let Some(entry) = find_mut(guards, scope, *at) else {
                continue;
            };
            let shortfall = entry
                .rate
                .check(part, estimate.tokens, now)
                .filter(|shortfall| rate.is_none_or(|(_, worst)| shortfall.is_worse_than(&worst)));
            if let Some(shortfall) = shortfall {
                rate = Some((index, shortfall));
            }
            let budgets = entry.budgets.iter_mut().filter(|_| part != Part::Request);
            for state in budgets.flat_map(|b| b.iter_mut()) {
                state.roll_over(&self.calendar, now);
                if !state.admits(estimate) && budget.is_none_or(|b| state.resets_at > b.3) {
                    budget = Some((
                        index,
                        state.config.period,
                        state.config.unit,
                        state.resets_at,
                    ));
                }
            }
        }
        let scope = |index: usize| scopes.get(index).cloned();
        if let Some((index, worst)) = rate.filter(|(_, w)| w.shortfall == Shortfall::TooLarge) {
            return Some(Refusal::RequestTooLarge {
                scope: scope(index)?,
                kind: worst.kind,
                limit: worst.limit,
                requested: worst.requested,
            });
        }
        if let Some((index, period, unit, resets_at)) = budget {
            return Some(Refusal::BudgetExceeded {
                scope: scope(index)?,
                period,
                unit,
                resets_at,
            });
        }
        match rate {
            Some((index, worst)) => match worst.shortfall {
                Shortfall::RetryAfter(retry_after) => Some(Refusal::RateLimited {
                    scope: scope(index)?,
                    kind: worst.kind,
                    retry_after,
                }),
                Shortfall::TooLarge => None,
            },
            None => None,
        }
    }

    /// Runs `change` on the entry of `scope`, creating it if needed, and drops it if it is left with
    /// neither limit nor budget.
    fn update(&self, scope: Scope, change: impl FnOnce(&mut ScopeEntry, &AtomicU64)) {
        let hash = self.hasher.hash_one(&scope);
        let mut shard = self.shards[self.shard_of(hash)].lock();
        let mut entry = shard
            .table
            .entry(hash, |e| e.scope == scope, |e| e.hash)
            .or_insert_with(|| ScopeEntry {
                scope,
                hash,
                rate: RateState::default(),
                budgets: None,
            });
        change(entry.get_mut(), &self.epoch);
        if entry.get().is_empty() {
            entry.remove();
        }
    }

    /// Runs `change` on the entry of `scope` if it has one, and drops it if it is left empty.
    fn modify(&self, scope: &Scope, change: impl FnOnce(&mut ScopeEntry)) {
        let hash = self.hasher.hash_one(scope);
        let mut shard = self.shards[self.shard_of(hash)].lock();
        if let Ok(mut entry) = shard.table.find_entry(hash, |e| e.scope == *scope) {
            change(entry.get_mut());
            if entry.get().is_empty() {
                entry.remove();
            }
        }
    }

    /// Runs `read` on the limits and budgets of `scope`, if it has any.
    pub(crate) fn with_entry(
        &self,
        scope: &Scope,
        read: impl FnOnce(Limits, &mut dyn Iterator<Item = &mut BudgetState>),
    ) {
        self.modify(scope, |entry| {
            let limits = entry.rate.limits();
            read(
                limits,
                &mut entry.budgets.iter_mut().flat_map(|b| b.iter_mut()),
            );
        });
    }

    fn read<T>(&self, scope: &Scope, read: impl FnOnce(&ScopeEntry) -> T) -> Option<T> {
        let hash = self.hasher.hash_one(scope);
        let shard = self.shards[self.shard_of(hash)].lock();
        shard.table.find(hash, |e| e.scope == *scope).map(read)
    }
}

/// The tightest scope seen so far for one kind of limit.
#[derive(Default)]
struct Tightest {
    best: Option<(usize, GcraStatus)>,
}

impl Tightest {
    fn offer(&mut self, index: usize, status: Option<GcraStatus>) {
        let status = status.filter(|status| {
            self.best
                .as_ref()
                .is_none_or(|(_, best)| is_tighter(status, best))
        });
        if let Some(status) = status {
            self.best = Some((index, status));
        }
    }

    fn into_status(self, scopes: &[Scope]) -> Option<RateStatus> {
        let (index, status) = self.best?;
        Some(rate_status(scopes.get(index)?.clone(), status))
    }
}

fn rate_status(scope: Scope, status: GcraStatus) -> RateStatus {
    RateStatus {
        scope,
        limit: status.limit,
        remaining: status.remaining,
        reset: status.reset(),
    }
}

/// The header values of a request's own scopes without charging (for a refusal).
fn headers(
    guards: &[MutexGuard<'_, Shard>],
    scopes: &[Scope],
    located: &[Located],
    now: UnixMillis,
) -> RateHeaders {
    let mut requests = Tightest::default();
    let mut tokens = Tightest::default();
    for (index, (scope, at)) in scopes.iter().zip(located).enumerate() {
        let entry = guards
            .get(at.guard)
            .filter(|_| scope.is_personal())
            .and_then(|g| g.table.find(at.hash, |e| e.scope == *scope));
        if let Some(entry) = entry {
            requests.offer(index, entry.rate.status(LimitKind::Requests, now));
            tokens.offer(index, entry.rate.status(LimitKind::Tokens, now));
        }
    }
    RateHeaders {
        requests: requests.into_status(scopes),
        tokens: tokens.into_status(scopes),
    }
}

fn find_mut<'g>(
    guards: &'g mut [MutexGuard<'_, Shard>],
    scope: &Scope,
    at: Located,
) -> Option<&'g mut ScopeEntry> {
    guards
        .get_mut(at.guard)?
        .table
        .find_mut(at.hash, |e| e.scope == *scope)
}

/// Removes repeated scopes, keeping the first: checking a scope twice and charging it twice would
/// let a request pass that its single charge could not. Requests name a handful of scopes, so the
/// quadratic scan is cheaper than hashing.
fn dedupe(scopes: &mut Vec<Scope>) {
    let mut index = 1;
    while index < scopes.len() {
        if scopes[..index].contains(&scopes[index]) {
            scopes.remove(index);
        } else {
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests;
