//! Stored rate limits and budgets as the admission table takes them, shared by the admin routes
//! (which change both) and the server's start (which loads the table from the store), so the two
//! agree on what a stored row means and on how much of a budget is already spent.

use admission::{Budget, BudgetUnit, Calendar, Limits, Period, Scope, SpentRecord};
use domain::UnixMillis;
use store::{Store, StoreError, StoredBudget, StoredLimit};

/// A stored row's rate limits. Stored values were checked when set; one beyond `u32` is read as
/// the largest, which then fails admission's own check loudly rather than wrapping around.
pub fn stored_limits(stored: &StoredLimit) -> Limits {
    Limits {
        requests_per_minute: stored
            .requests_per_minute
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        tokens_per_minute: stored.tokens_per_minute,
    }
}

/// A stored row's scope and budget; `None` when its scope, period or unit cannot be read.
pub fn stored_budget(stored: &StoredBudget) -> Option<(Scope, Budget)> {
    let scope = Scope::from_parts(&stored.scope_kind, &stored.scope_id)?;
    let budget = Budget {
        period: Period::parse(&stored.period)?,
        unit: BudgetUnit::parse(&stored.unit)?,
        hard_limit: stored.hard_limit,
        soft_threshold_percent: stored.soft_threshold_percent,
    };
    Some((scope, budget))
}

/// What `scope` has spent of `budget` in the period containing `now`, from usage records (the
/// durable truth): since the period's start, or since the scope's last reset when that is later.
/// Records still in the usage writer's batch are not counted yet.
pub async fn spent_this_period(
    store: &Store,
    calendar: &Calendar,
    scope: &Scope,
    budget: &Budget,
    reset_at: Option<UnixMillis>,
    now: UnixMillis,
) -> Result<SpentRecord, StoreError> {
    let (period_start, _) = calendar.bounds(budget.period, now);
    let since = period_start.max(reset_at.unwrap_or(UnixMillis::MIN));
    let used = store.spent_since(scope.kind(), &scope.id(), since).await?;
    Ok(SpentRecord {
        scope: scope.clone(),
        period: budget.period,
        unit: budget.unit,
        period_start,
        spent: match budget.unit {
            BudgetUnit::Tokens => used.tokens,
            BudgetUnit::MoneyMicros => used.cost_micros,
        },
    })
}
