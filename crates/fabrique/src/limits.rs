//! Builds the in-memory admission table at start: the stored rate limits and budgets, and each
//! budget's spending in its current period recomputed from usage records (the durable truth), so a
//! restart neither forgets nor double-counts what was spent. The admin API keeps the table and the
//! store in step afterwards, reading stored rows the same way (`admin::stored_limits`, …).

use std::sync::Arc;

use admission::{Admission, Calendar, Scope};
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
        admission
            .set_limit(scope, admin::stored_limits(&stored))
            .with_context(|| format!("rate limit of {} {}", stored.scope_kind, stored.scope_id))?;
    }
    let now = now_millis();
    let mut spent = Vec::new();
    for stored in store.list_budgets().await? {
        let Some((scope, budget)) = admin::stored_budget(&stored) else {
            tracing::warn!(
                kind = stored.scope_kind,
                id = stored.scope_id,
                "stored budget with an unreadable scope, period or unit ignored"
            );
            continue;
        };
        admission
            .set_budget(scope.clone(), budget)
            .with_context(|| format!("budget of {} {}", stored.scope_kind, stored.scope_id))?;
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
    }
    admission.restore(spent, now);
    Ok(Arc::new(admission))
}
