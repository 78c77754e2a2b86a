//! Budgets of one scope: a hard limit (and an optional soft warning threshold) on tokens or money
//! spent per calendar day or month.
//!
//! Admission *reserves* the request's estimate; settlement replaces the reservation with the real
//! amount. A request is admitted only if `spent + reserved + estimate <= hard_limit`, so requests in
//! flight count against the limit. The bound this gives, for one budget and one period:
//!
//! > `spent <= hard_limit + Σ max(0, actual − estimate)` over the requests settled in that period.
//!
//! When estimates are upper bounds (prompt tokens plus `max_tokens`, priced at the model's price),
//! the sum is zero and the hard limit is never exceeded, however many requests run concurrently. The
//! other ways past it are administrative: lowering the limit, or restoring a larger spent amount.

use domain::UnixMillis;
use serde::{Deserialize, Serialize};

use crate::period::{Calendar, Period};
use crate::rate::InvalidLimit;
use crate::scope::Scope;

/// What a budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetUnit {
    /// Input plus output tokens.
    Tokens,
    /// Money, in integer micro-units of the deployment's currency (1 EUR = 1,000,000).
    MoneyMicros,
}

impl BudgetUnit {
    /// `token` or `money`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            BudgetUnit::Tokens => "token",
            BudgetUnit::MoneyMicros => "money",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BudgetUnit::Tokens => "tokens",
            BudgetUnit::MoneyMicros => "money_micros",
        }
    }

    pub fn parse(name: &str) -> Option<BudgetUnit> {
        [BudgetUnit::Tokens, BudgetUnit::MoneyMicros]
            .into_iter()
            .find(|u| u.as_str() == name)
    }
}

/// A budget's configuration. A scope has at most one budget per (period, unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub period: Period,
    pub unit: BudgetUnit,
    /// Requests that would take `spent + reserved` above this are refused.
    pub hard_limit: u64,
    /// Percentage of the hard limit (1–100) from which admitted requests carry a warning.
    pub soft_threshold_percent: Option<u8>,
}

/// Amounts of a request: the estimate at admission, the real amounts at settlement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consumption {
    pub tokens: u64,
    pub cost_micros: u64,
}

/// A budget's state as the read API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetStatus {
    pub scope: Scope,
    pub period: Period,
    pub unit: BudgetUnit,
    pub limit: u64,
    pub soft_threshold_percent: Option<u8>,
    /// Settled amounts in the current period.
    pub spent: u64,
    /// Estimates of admitted requests not settled yet.
    pub reserved: u64,
    pub period_start: UnixMillis,
    /// When the current period ends and `spent` returns to zero.
    pub resets_at: UnixMillis,
}

/// An admitted request took a budget past its soft threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetWarning {
    pub scope: Scope,
    pub period: Period,
    pub unit: BudgetUnit,
    /// `spent + reserved`, this request's reservation included.
    pub committed: u64,
    pub limit: u64,
}

/// The spent amount of one budget in one period, for persisting counters and reloading them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentRecord {
    pub scope: Scope,
    pub period: Period,
    pub unit: BudgetUnit,
    /// Identifies the period: a record from an earlier period is not restored into the current one.
    pub period_start: UnixMillis,
    pub spent: u64,
}

impl Budget {
    /// Checks the budget as [`crate::Admission::set_budget`] will.
    pub fn validate(&self) -> Result<(), InvalidLimit> {
        match self.soft_threshold_percent {
            Some(p) if p == 0 || p > 100 => Err(InvalidLimit::SoftThreshold(p)),
            _ => Ok(()),
        }
    }

    fn amount(&self, consumption: Consumption) -> u64 {
        match self.unit {
            BudgetUnit::Tokens => consumption.tokens,
            BudgetUnit::MoneyMicros => consumption.cost_micros,
        }
    }
}

/// The state of one budget.
#[derive(Debug, Clone)]
pub(crate) struct BudgetState {
    pub config: Budget,
    pub spent: u64,
    pub reserved: u64,
    pub period_start: UnixMillis,
    pub resets_at: UnixMillis,
    /// The configuration epoch at which this budget was created: a settlement releases reservations
    /// only in budgets that existed when its request was admitted.
    pub created_epoch: u64,
    /// The `period_start` of the period whose soft threshold was already announced, so the event
    /// is raised once per period (and once more after a reset or a restart).
    pub warned_period: UnixMillis,
}

impl BudgetState {
    /// A budget with nothing spent. Its period is computed at first use, by `roll_over`, since
    /// configuration carries no `now`.
    pub fn new(config: Budget, epoch: u64) -> Self {
        BudgetState {
            config,
            spent: 0,
            reserved: 0,
            period_start: UnixMillis::MIN,
            resets_at: UnixMillis::MIN,
            created_epoch: epoch,
            warned_period: UnixMillis::MIN,
        }
    }

    /// True the first time it is asked in the current period (the budget being past its soft
    /// threshold): the moment to raise the threshold's event.
    pub fn first_warning_of_period(&mut self) -> bool {
        let first = self.warned_period != self.period_start;
        self.warned_period = self.period_start;
        first
    }

    /// Moves to the period containing `now` once the current one has ended. Reservations stay:
    /// requests in flight at midnight are settled into the new period. A clock that goes backwards
    /// stays in the current period rather than losing what was spent.
    pub fn roll_over(&mut self, calendar: &Calendar, now: UnixMillis) {
        if now >= self.resets_at {
            let (start, end) = calendar.bounds(self.config.period, now);
            self.period_start = start;
            self.resets_at = end;
            self.spent = 0;
        }
    }

    fn committed(&self) -> u64 {
        self.spent.saturating_add(self.reserved)
    }

    /// Whether a request of `estimate` fits under the hard limit, counting requests in flight.
    pub fn admits(&self, estimate: Consumption) -> bool {
        self.committed()
            .checked_add(self.config.amount(estimate))
            .is_some_and(|total| total <= self.config.hard_limit)
    }

    pub fn reserve(&mut self, estimate: Consumption) {
        self.reserved = self.reserved.saturating_add(self.config.amount(estimate));
    }

    pub fn settle(&mut self, estimate: Consumption, actual: Consumption) {
        self.reserved = self.reserved.saturating_sub(self.config.amount(estimate));
        self.spent = self.spent.saturating_add(self.config.amount(actual));
    }

    /// How far past the soft threshold the budget is, in parts per million of the hard limit, or
    /// `None` below it; used to report the most-used budget when several warn.
    pub fn warning_level(&self) -> Option<u128> {
        let percent = self.config.soft_threshold_percent?;
        let committed = u128::from(self.committed());
        let limit = u128::from(self.config.hard_limit);
        if committed * 100 < limit * u128::from(percent) {
            return None;
        }
        Some(
            (committed * 1_000_000)
                .checked_div(limit)
                .unwrap_or(u128::MAX),
        )
    }

    pub fn status(&self, scope: &Scope) -> BudgetStatus {
        BudgetStatus {
            scope: scope.clone(),
            period: self.config.period,
            unit: self.config.unit,
            limit: self.config.hard_limit,
            soft_threshold_percent: self.config.soft_threshold_percent,
            spent: self.spent,
            reserved: self.reserved,
            period_start: self.period_start,
            resets_at: self.resets_at,
        }
    }

    pub fn warning(&self, scope: &Scope) -> BudgetWarning {
        BudgetWarning {
            scope: scope.clone(),
            period: self.config.period,
            unit: self.config.unit,
            committed: self.committed(),
            limit: self.config.hard_limit,
        }
    }
}

/// The budgets of one scope, one slot per (period, unit): a fixed array keeps the hot path free of
/// searching and allocation.
#[derive(Debug, Clone, Default)]
pub(crate) struct BudgetSlots {
    slots: [Option<BudgetState>; 4],
}

impl BudgetSlots {
    pub fn slot(period: Period, unit: BudgetUnit) -> usize {
        let period = match period {
            Period::Day => 0,
            Period::Month => 2,
        };
        let unit = match unit {
            BudgetUnit::Tokens => 0,
            BudgetUnit::MoneyMicros => 1,
        };
        period + unit
    }

    pub fn get_mut(&mut self, period: Period, unit: BudgetUnit) -> Option<&mut BudgetState> {
        self.slots[Self::slot(period, unit)].as_mut()
    }

    pub fn entry(&mut self, period: Period, unit: BudgetUnit) -> &mut Option<BudgetState> {
        &mut self.slots[Self::slot(period, unit)]
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut BudgetState> {
        self.slots.iter_mut().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests;
