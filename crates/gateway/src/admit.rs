//! Stages 2, count, and 9, admit: the rate limits and budgets of the request's key, user, teams and
//! entity, checked and charged in memory (the `admission` crate) or, with `[redis]`, once for all
//! replicas in Redis (the `counters` crate, which says what each stage then costs), each time all
//! or none.
//!
//! - **Count** (stage 2, right after authentication): one request against every request-rate
//!   limit. Before anything else, so that a request refused at any later stage still counts, and a
//!   flood — of blocked prompts, say — is refused 429 before its body is read, inspected or
//!   audited.
//! - **Admit** (stage 10, once the body is known): the token limits and budgets, charged with the
//!   request's estimate and settled with the real usage when the request is metered.
//!
//! What admission reports (rate-limit state, a budget warning) goes into the response headers
//! (`headers::rate_headers`, `headers::warning_header`).

use admission::{BudgetWarning, Consumption, Scope, estimate_tokens};
use counters::{Admitted, Counted, Counters, Denied};
use domain::{AuditEvent, Outcome, TeamId, UnixMillis};
use identity::Principal;
use usage::AuditSink;

use crate::error::GatewayError;
use crate::price::{Estimate, Price};

/// The scopes a request is limited and charged in: its key, user, teams and entity.
pub(crate) fn scopes(principal: &Principal, teams: Option<&[TeamId]>) -> Vec<Scope> {
    let teams = teams.unwrap_or_default();
    let mut scopes = Vec::with_capacity(3 + teams.len());
    if let Some(key) = principal.key_id {
        scopes.push(Scope::Key(key));
    }
    if let Some(user) = principal.user_id() {
        scopes.push(Scope::User(user));
    }
    scopes.extend(teams.iter().copied().map(Scope::Team));
    if let Some(entity) = principal.entity_id {
        scopes.push(Scope::Entity(entity));
    }
    scopes
}

/// Counts the request against every request-rate limit of its scopes, all or none (or, shared,
/// leaves its count to admission).
pub(crate) fn count(
    counters: &Counters,
    scopes: &[Scope],
    now: UnixMillis,
) -> Result<Counted, GatewayError> {
    counters
        .count(scopes, now)
        .map_err(|refused| GatewayError::Refused(Box::new(refused)))
}

/// Checks and charges the token limits and budgets of every scope of the counted request, all or
/// none.
pub(crate) async fn admit(
    counters: &Counters,
    scopes: Vec<Scope>,
    (estimate, price): (Estimate, Price),
    counted: Counted,
    now: UnixMillis,
) -> Result<Admitted, GatewayError> {
    let Estimate {
        prompt_tokens,
        completion_tokens,
    } = estimate;
    let consumption = Consumption {
        tokens: estimate_tokens(prompt_tokens, Some(completion_tokens), 0),
        cost_micros: price.of(prompt_tokens, completion_tokens),
    };
    counters
        .admit(scopes, consumption, counted, now)
        .await
        .map_err(|denied| match denied {
            Denied::Refused(refused) => GatewayError::Refused(Box::new(refused)),
            Denied::Unavailable => GatewayError::CountersUnavailable(denied),
        })
}

/// Raises one `budget.soft_threshold_reached` event per budget this request took past its soft
/// threshold (the admission announces each crossing once per period), off the request path through
/// the audit writer, so the AI Factory hears of runaway spend before the hard limit stops it.
pub(crate) fn announce_thresholds(
    audit: &AuditSink,
    principal: &Principal,
    request_id: &str,
    crossed: &[BudgetWarning],
    now: UnixMillis,
) {
    for warning in crossed {
        let event = AuditEvent {
            at: now,
            actor: principal.actor(),
            action: domain::AuditAction::BudgetSoftThresholdReached,
            entity_id: principal.entity_id,
            target: format!("{}:{}", warning.scope.kind(), warning.scope.id()),
            outcome: Outcome::Success,
            detail: serde_json::json!({
                "request_id": request_id,
                "period": warning.period.as_str(),
                "unit": warning.unit.as_str(),
                "committed": warning.committed,
                "limit": warning.limit,
            })
            .to_string(),
        };
        // A loss is counted and logged by the sink.
        audit.record(event);
    }
}
