//! The GPU pools' entity shares at start: first the configuration's `[[scheduling.shares]]`, then
//! those administrators stored through the admin API, which take precedence.

use anyhow::Context as _;
use configuration::Config;
use gateway::Scheduling;
use scheduler::Share;
use store::Store;

/// Sets every known share on the live pools. A share naming an entity the store does not know, or
/// a pool no longer configured, is skipped with a warning: the rest of the group is still served.
pub async fn apply_shares(
    store: &Store,
    config: &Config,
    scheduling: &Scheduling,
) -> anyhow::Result<()> {
    let Some(scheduler) = scheduling.scheduler() else {
        return Ok(());
    };
    for share in &config.scheduling.shares {
        let Some(entity) = store.entity_by_slug(&share.entity).await? else {
            tracing::warn!(entity = %share.entity, pool = %share.pool, "scheduling share of an unknown entity ignored");
            continue;
        };
        let Some(pool) = scheduler.pool(&share.pool) else {
            continue;
        };
        let configured = Share {
            weight: share.weight,
            min_share: share.min_share,
        };
        pool.set_share(entity.id, configured).with_context(|| {
            format!(
                "the share of entity `{}` in pool `{}`",
                share.entity, share.pool
            )
        })?;
    }
    for stored in store.list_pool_shares().await? {
        let Some(pool) = scheduler.pool(&stored.pool) else {
            tracing::warn!(pool = %stored.pool, "stored share of a pool no longer configured ignored");
            continue;
        };
        let share = Share {
            weight: stored.weight,
            min_share: f64::from(stored.min_share_ppm) / 1e6,
        };
        if let Err(error) = pool.set_share(stored.entity_id, share) {
            tracing::warn!(pool = %stored.pool, entity = %stored.entity_id, %error, "stored share ignored");
        }
    }
    Ok(())
}
