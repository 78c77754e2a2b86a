//! Builds the in-memory admission table at start: the stored rate limits and budgets, and each
//! budget's spending in its current period recomputed from usage records (the durable truth), so a
//! restart neither forgets nor double-counts what was spent.

use std::sync::Arc;

use admission::{Admission, Budget, BudgetUnit, Calendar, Limits, Period, Scope, SpentRecord};
use anyhow::Context as _;
use configuration::AdmissionConfig;
use domain::now_millis;
use store::Store;

pub async fn load_admission(
    store: &Store,
    config: &AdmissionConfig,
) -> anyhow::Result<Arc<Admission>> {
    let calendar = Calendar::new(&config.time_zone)?;
    let admission = Admission::new(calendar);
    for stored in store.list_rate_limits().await? {
        let Some(scope) = Scope::from_parts(&stored.scope_kind, &stored.scope_id) else {
            tracing::warn!(
                kind = stored.scope_kind,
                id = stored.scope_id,
                "stored rate limit with an unreadable scope ignored"
            );
            continue;
        };
        let limits = Limits {
            requests_per_minute: stored
                .requests_per_minute
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            tokens_per_minute: stored.tokens_per_minute,
        };
        admission
            .set_limit(scope, limits)
            .with_context(|| format!("rate limit of {} {}", stored.scope_kind, stored.scope_id))?;
    }
    let now = now_millis();
    let mut spent = Vec::new();
    for stored in store.list_budgets().await? {
        let (Some(scope), Some(period), Some(unit)) = (
            Scope::from_parts(&stored.scope_kind, &stored.scope_id),
            Period::parse(&stored.period),
            BudgetUnit::parse(&stored.unit),
        ) else {
            tracing::warn!(
                kind = stored.scope_kind,
                id = stored.scope_id,
                "stored budget with an unreadable scope, period or unit ignored"
            );
            continue;
        };
        let budget = Budget {
            period,
            unit,
            hard_limit: stored.hard_limit,
            soft_threshold_percent: stored.soft_threshold_percent,
        };
        admission
            .set_budget(scope.clone(), budget)
            .with_context(|| format!("budget of {} {}", stored.scope_kind, stored.scope_id))?;
        let (period_start, _) = admission.calendar().bounds(period, now);
        let since = period_start.max(stored.reset_at.unwrap_or(i64::MIN));
        let used = store
            .spent_since(&stored.scope_kind, &stored.scope_id, since)
            .await?;
        spent.push(SpentRecord {
            scope,
            period,
            unit,
            period_start,
            spent: match unit {
                BudgetUnit::Tokens => used.tokens,
                BudgetUnit::MoneyMicros => used.cost_micros,
            },
        });
    }
    admission.restore(spent, now);
    Ok(Arc::new(admission))
}
