//! The AI Factory at start, on reload and in the background: `[[use_cases]]` of the
//! configuration are registered in the store's registry (created when missing, the entities that may invoke them and
//! their priority kept in step with the file, each change audited as `system`), the live registry
//! the gateway reads is loaded, and a watcher reloads it and checks canaries every
//! [`WATCH_INTERVAL`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use configuration::{Config, UseCaseConfig};
use domain::{AuditAction, AuditEvent, Outcome, now_millis};
use factory::canary::CanaryRule;
use factory::registry::{AllEntities, CONFIGURATION_SOURCE};
use factory::{Allowed, ImpactAssessment, RiskClass, Thresholds, UseCase};
use store::Store;
use tokio::task::JoinHandle;

use crate::cluster::Leading;

/// How often the watcher reloads the registry and checks canaries.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(15);

/// Registers the configuration's use cases and loads the live registry.
pub async fn load(store: &Store, config: &Config) -> anyhow::Result<Arc<factory::Live>> {
    import_all(store, config).await?;
    let failed = store.fail_interrupted_eval_runs(now_millis()).await?;
    if failed > 0 {
        tracing::warn!(
            runs = failed,
            "evaluation runs interrupted by the last stop marked failed"
        );
    }
    let live = Arc::new(factory::Live::new(config.classifications.clone()));
    admin::refresh_registry(store, &live)
        .await
        .context("loading the use-case registry")?;
    Ok(live)
}

/// Registers a reloaded configuration's use cases, as at start, and reloads the live registry,
/// so the next request sees them.
pub async fn register(store: &Store, config: &Config, live: &factory::Live) -> anyhow::Result<()> {
    import_all(store, config).await?;
    admin::refresh_registry(store, live)
        .await
        .context("reloading the use-case registry")
}

async fn import_all(store: &Store, config: &Config) -> anyhow::Result<()> {
    for declared in &config.use_cases {
        import(store, declared)
            .await
            .with_context(|| format!("registering use case `{}`", declared.slug))?;
    }
    Ok(())
}

/// What the file says of a declared use case, as a registry entry.
fn declared_entry(declared: &UseCaseConfig) -> UseCase {
    UseCase {
        slug: declared.slug.clone(),
        name: declared.slug.clone(),
        purpose: "declared in the configuration file".to_owned(),
        owner_entity: declared.entity.clone(),
        owners: Vec::new(),
        allowed: allowed(declared),
        classification: None,
        risk: RiskClass::Minimal,
        impact: ImpactAssessment::NotStarted,
        impact_documents: Vec::new(),
        priority: declared.priority,
        thresholds: Thresholds::default(),
        canary: CanaryRule::default(),
        // Its policy is the file's (`[use_cases.policy]`), which the gateway applies itself.
        policy: None,
        source: CONFIGURATION_SOURCE.to_owned(),
        retired: false,
        created_at: now_millis(),
    }
}

/// The entities whose callers may invoke a declared use case: those `allowed.entities` lists (the
/// same allow-list that governs who may name it), within its `entity` when it has one. The teams
/// and keys `allowed` lists may name it as a label; invoking is the registry's, by entity.
fn allowed(declared: &UseCaseConfig) -> Allowed {
    let listed = declared.allowed.as_ref().map(|a| &a.entities);
    match (&declared.entity, listed) {
        (None, None) => Allowed::All(AllEntities::All),
        (Some(entity), None) => Allowed::Only(vec![entity.clone()]),
        (None, Some(listed)) => Allowed::Only(listed.clone()),
        (Some(entity), Some(listed)) => {
            Allowed::Only(listed.iter().filter(|e| *e == entity).cloned().collect())
        }
    }
}

async fn import(store: &Store, declared: &UseCaseConfig) -> anyhow::Result<()> {
    let owner = match &declared.entity {
        Some(slug) => store.entity_by_slug(slug).await?.map(|e| e.id),
        None => None,
    };
    let event = |action, detail: serde_json::Value| AuditEvent {
        at: now_millis(),
        actor: "system".to_owned(),
        action,
        entity_id: owner,
        target: declared.slug.clone(),
        outcome: Outcome::Success,
        detail: detail.to_string(),
    };
    let wanted = declared_entry(declared);
    match store.use_case(&declared.slug).await? {
        None => {
            let audit = event(
                AuditAction::UseCaseCreate,
                serde_json::json!({"source": CONFIGURATION_SOURCE, "use_case": &wanted}),
            );
            store.create_use_case(&wanted, owner, &audit).await?;
        }
        Some((mut stored, _)) if stored.source == CONFIGURATION_SOURCE => {
            if stored.allowed == wanted.allowed && stored.priority == wanted.priority {
                return Ok(());
            }
            stored.allowed = wanted.allowed;
            stored.priority = wanted.priority;
            let audit = event(
                AuditAction::UseCaseUpdate,
                serde_json::json!({"source": CONFIGURATION_SOURCE, "after": &stored}),
            );
            store.update_use_case(&stored, &audit).await?;
        }
        // Registered through the API before the file declared it: the registry's entry stands.
        Some(_) => {}
    }
    Ok(())
}

/// Reloads the registry and, on the replica that runs the background jobs, checks canaries,
/// every [`WATCH_INTERVAL`].
pub fn spawn_watcher(state: admin::AdminState, leading: Leading) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(WATCH_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = admin::refresh_registry(&state.store, &state.factory).await {
                tracing::error!(%error, "could not reload the use-case registry");
            }
            if !leading.now() {
                continue;
            }
            if let Err(error) = admin::check_canaries(&state, None).await {
                tracing::error!(%error, "could not check the canaries");
            }
        }
    })
}
