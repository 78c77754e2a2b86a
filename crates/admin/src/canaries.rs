//! Watching canaries: a deployed version carrying less than half of its use case's traffic is
//! rolled back (`deployed → approved`, weight 0) once its error rate or negative-feedback rate
//! over the last [`WINDOW_MILLIS`] crosses the use case's thresholds (`factory::canary`). The
//! rollback is audited as `use_case.rollback` by `system`, its reason the breach.
//!
//! The binary runs [`check_canaries`] periodically; `POST /admin/v1/use-cases/{slug}/rollout/check`
//! runs it at once for one use case.

use axum::Json;
use axum::extract::{Path, State};
use domain::{AuditAction, AuditEvent, Outcome, now_millis};
use factory::canary;
use factory::{UseCase, Version, VersionState};
use serde_json::{Value, json};
use store::VersionMove;

use crate::caller::Caller;
use crate::use_cases::{refresh, use_case_for};
use crate::{AdminAction, AdminError, AdminState};

/// How far back a canary's requests and feedback are judged.
pub const WINDOW_MILLIS: i64 = 3_600_000;

/// Checks every use case's canaries (or only `slug`'s); returns the rollbacks made.
pub async fn check_canaries(
    state: &AdminState,
    slug: Option<&str>,
) -> Result<Vec<Value>, AdminError> {
    let all = state.store.use_cases().await?;
    let mut rolled_back = Vec::new();
    for (use_case, versions) in all.iter().filter(|(u, _)| slug.is_none_or(|s| s == u.slug)) {
        rolled_back.extend(check_one(state, use_case, versions).await?);
    }
    if !rolled_back.is_empty() {
        refresh(state).await?;
    }
    Ok(rolled_back)
}

async fn check_one(
    state: &AdminState,
    use_case: &UseCase,
    versions: &[Version],
) -> Result<Vec<Value>, AdminError> {
    let deployed: Vec<&Version> = versions
        .iter()
        .filter(|v| v.state == VersionState::Deployed)
        .collect();
    let total: u32 = deployed.iter().map(|v| v.weight).sum();
    let canaries: Vec<&&Version> = deployed
        .iter()
        .filter(|v| canary::is_canary(v.weight, total))
        .collect();
    if canaries.is_empty() {
        return Ok(Vec::new());
    }
    let stats = state
        .store
        .version_stats(&use_case.slug, now_millis() - WINDOW_MILLIS)
        .await?;
    let owner = match &use_case.owner_entity {
        Some(slug) => state.store.entity_by_slug(slug).await?.map(|e| e.id),
        None => None,
    };
    let mut rolled_back = Vec::new();
    for version in canaries {
        let Some((_, seen, ..)) = stats.iter().find(|(n, ..)| *n == version.number) else {
            continue;
        };
        let Some(breach) = canary::breach(&use_case.canary, seen) else {
            continue;
        };
        let reason = breach.reason();
        let detail = json!({
            "version": version.number, "from": "deployed", "to": "approved", "reason": reason,
            "automatic": true, "breach": breach, "stats": seen,
        });
        let audit = AuditEvent {
            at: now_millis(),
            actor: "system".to_owned(),
            action: AuditAction::UseCaseRollback,
            entity_id: owner,
            target: format!("{}@{}", use_case.slug, version.number),
            outcome: Outcome::Success,
            detail: detail.to_string(),
        };
        let change = VersionMove {
            use_case: &use_case.slug,
            number: version.number,
            from: VersionState::Deployed,
            to: VersionState::Approved,
            weight: 0,
            rollout_entities: None,
        };
        match state.store.move_version(&change, None, &audit).await {
            Ok(()) => {
                tracing::warn!(use_case = %use_case.slug, version = version.number, %reason, "canary rolled back");
                rolled_back.push(detail);
            }
            // Someone moved it meanwhile: nothing to roll back any more.
            Err(store::StoreError::VersionMismatch(_)) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(rolled_back)
}

/// `POST /admin/v1/use-cases/{slug}/rollout/check` → the rollbacks the check made.
#[utoipa::path(
    post, path = "/admin/v1/use-cases/{slug}/rollout/check", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug")),
    responses(
        (status = 200, description = "Checks the canaries now; returns the rollbacks made.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn check(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, AdminError> {
    use_case_for(&state, &caller, AdminAction::SetRollout, &slug).await?;
    let rolled_back = check_canaries(&state, Some(&slug)).await?;
    Ok(Json(json!({"use_case": slug, "rolled_back": rolled_back})))
}
