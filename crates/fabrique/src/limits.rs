//! The in-memory admission table and the store: built at start from the stored rate limits and
//! budgets, each budget's spending in its current period recomputed from usage records (the
//! durable truth), so a restart neither forgets nor double-counts what was spent. The admin API
//! keeps the table and the store in step afterwards, reading stored rows the same way
//! (`admin::stored_limits`, …); [`refresh_admission`] applies what other replicas changed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use admission::{Admission, BudgetUnit, Calendar, Limits, Period, Scope};
use configuration::AdmissionConfig;
use domain::{UnixMillis, now_millis};
use store::Store;

/// One budget of one scope.
type BudgetKey = (Scope, Period, BudgetUnit);

/// When each budget's scope was last reset, as last read from the store. A budget this process
/// has not counted yet, or one reset since, has its spending recomputed from usage records.
#[derive(Debug, Default)]
pub struct Resets(HashMap<BudgetKey, Option<UnixMillis>>);

pub async fn load_admission(
    store: &Store,
    config: &AdmissionConfig,
) -> anyhow::Result<(Arc<Admission>, Resets)> {
    let admission = Arc::new(Admission::new(Calendar::new(&config.time_zone)?));
    let mut resets = Resets::default();
    refresh_admission(store, &admission, &mut resets).await?;
    Ok((admission, resets))
}

/// Brings the table in line with the stored limits and budgets: set, changed and removed ones,
/// and budgets reset. A limit or budget removed from the store is removed here only if the table
/// held it before the read, so one this process sets meanwhile is not undone; its own change
/// notice settles it. A stored row that cannot be read is skipped with a warning.
pub async fn refresh_admission(
    store: &Store,
    admission: &Admission,
    resets: &mut Resets,
) -> anyhow::Result<()> {
    let before = admission.configured();
    let stored_limits = store.list_rate_limits().await?;
    let stored_budgets = store.list_budgets().await?;
    let now = now_millis();
    let mut limited = HashSet::new();
    for stored in &stored_limits {
        let Some(scope) = Scope::from_parts(&stored.scope_kind, &stored.scope_id) else {
            tracing::warn!(
                kind = stored.scope_kind,
                id = stored.scope_id,
                "stored rate limit with an unreadable scope ignored"
            );
            continue;
        };
        let limits = admin::stored_limits(stored);
        if admission.limits(&scope) != limits
            && let Err(error) = admission.set_limit(scope.clone(), limits)
        {
            tracing::warn!(%error, kind = stored.scope_kind, id = stored.scope_id, "invalid stored rate limit ignored");
        }
        limited.insert(scope);
    }
    let mut budgeted = HashSet::new();
    let mut spent = Vec::new();
    for stored in &stored_budgets {
        let Some((scope, budget)) = admin::stored_budget(stored) else {
            tracing::warn!(
                kind = stored.scope_kind,
                id = stored.scope_id,
                "stored budget with an unreadable scope, period or unit ignored"
            );
            continue;
        };
        if let Err(error) = admission.set_budget(scope.clone(), budget) {
            tracing::warn!(%error, kind = stored.scope_kind, id = stored.scope_id, "invalid stored budget ignored");
            continue;
        }
        let key = (scope.clone(), budget.period, budget.unit);
        if resets.0.get(&key) != Some(&stored.reset_at) {
            spent.push(
                admin::spent_this_period(
                    store,
                    admission.calendar(),
                    &scope,
                    &budget,
                    stored.reset_at,
                    now,
                )
                .await?,
            );
            resets.0.insert(key.clone(), stored.reset_at);
        }
        budgeted.insert(key);
    }
    admission.restore(spent, now);
    for (scope, limits, budgets) in before {
        if limits != Limits::default() && !limited.contains(&scope) {
            admission.set_limit(scope.clone(), Limits::default()).ok();
        }
        for budget in budgets {
            let key = (scope.clone(), budget.period, budget.unit);
            if !budgeted.contains(&key) {
                admission.remove_budget(&scope, budget.period, budget.unit);
                resets.0.remove(&key);
            }
        }
    }
    Ok(())
}
