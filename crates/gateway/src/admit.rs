//! Stage 7, admit: rate limits and budgets of the request's key, user, teams and entity, checked and
//! charged in memory (the `admission` crate), settled with the real usage at stage 11. Also turns the
//! outcome into OpenAI's `x-ratelimit-*` headers and Fabrique's budget warning header.

use std::fmt::Write as _;
use std::time::Duration;

use admission::{
    Admitted, BudgetWarning, Consumption, RateHeaders, RateStatus, Request, Scope, estimate_tokens,
};
use domain::{AuditEvent, Outcome, UnixMillis};
use http::{HeaderMap, HeaderName, HeaderValue};
use identity::Principal;

use crate::attribute::Attribution;
use crate::error::GatewayError;
use crate::meter::cost;
use crate::state::{Gateway, ModelRoute};

/// The header an admitted request carries when it took a budget past its soft threshold.
pub const BUDGET_WARNING_HEADER: &str = "x-fabrique-budget-warning";

/// Checks and charges every scope of the request, all or none.
pub fn admit(
    gateway: &Gateway,
    principal: &Principal,
    attribution: &Attribution,
    model: &ModelRoute,
    body_len: usize,
    max_tokens: Option<u64>,
    now: UnixMillis,
) -> Result<Admitted, GatewayError> {
    let prompt = prompt_estimate(body_len);
    let completion = max_tokens.unwrap_or(gateway.config.admission.default_completion_tokens);
    let estimate = Consumption {
        tokens: estimate_tokens(prompt, Some(completion), 0),
        cost_micros: cost(prompt, model.input_micros_per_million)
            + cost(completion, model.output_micros_per_million),
    };
    let teams = attribution.teams.as_deref().unwrap_or_default();
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
    gateway
        .admission
        .check_and_charge(Request { scopes, estimate }, now)
        .map_err(|refused| GatewayError::Refused(Box::new(refused)))
}

/// The prompt's tokens before the backend counts them: the body's length over four bounds them from
/// above for the usual tokenizers (JSON syntax included), so a reservation rarely falls short;
/// settlement corrects the rest.
pub(crate) fn prompt_estimate(body_len: usize) -> u64 {
    (body_len as u64).div_ceil(4)
}

/// Adds the `x-ratelimit-*` headers of the request's tightest limits.
pub fn rate_headers(headers: &mut HeaderMap, rate: &RateHeaders) {
    for (status, suffix) in [(&rate.requests, "requests"), (&rate.tokens, "tokens")] {
        if let Some(status) = status {
            insert_rate(headers, status, suffix);
        }
    }
}

fn insert_rate(headers: &mut HeaderMap, status: &RateStatus, suffix: &str) {
    let values = [
        ("limit", HeaderValue::from(status.limit)),
        ("remaining", HeaderValue::from(status.remaining)),
        ("reset", reset_value(status.reset)),
    ];
    for (what, value) in values {
        if let Ok(name) = HeaderName::try_from(format!("x-ratelimit-{what}-{suffix}")) {
            headers.insert(name, value);
        }
    }
}

/// A duration as OpenAI writes resets: `250ms`, `12s`, `1m30s`. Seconds are rounded up so a caller
/// that waits that long is not refused again.
pub fn reset_value(reset: Duration) -> HeaderValue {
    let millis = reset.as_millis();
    let mut text = String::new();
    if millis < 1_000 {
        let _ = write!(text, "{millis}ms");
    } else {
        let seconds = millis.div_ceil(1_000);
        let (minutes, seconds) = (seconds / 60, seconds % 60);
        if minutes > 0 {
            let _ = write!(text, "{minutes}m");
        }
        let _ = write!(text, "{seconds}s");
    }
    HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("0s"))
}

/// The budget warning header: which budget, how much of it is committed.
pub fn warning_header(headers: &mut HeaderMap, warning: &BudgetWarning) {
    let percent = u128::from(warning.committed) * 100 / u128::from(warning.limit.max(1));
    let text = format!(
        "{} {} budget of {} at {percent}% ({} of {})",
        warning.period.adjective(),
        warning.unit.noun(),
        warning.scope,
        warning.committed,
        warning.limit
    );
    if let Ok(value) = HeaderValue::try_from(text) {
        headers.insert(BUDGET_WARNING_HEADER, value);
    }
}

/// Raises one `budget.soft_threshold_reached` event per budget this request took past its soft
/// threshold (the admission announces each crossing once per period), off the request path through
/// the audit writer, so the AI Factory hears of runaway spend before the hard limit stops it.
pub fn announce_thresholds(
    gateway: &Gateway,
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
        if !gateway.audit.record(event) {
            tracing::error!(request_id, "audit event dropped: writer queue full");
        }
    }
}

/// Replaces the admission's reservation with what the request really consumed.
pub fn settle(gateway: &Gateway, ticket: admission::Ticket, tokens: u64, cost_micros: u64) {
    gateway.admission.settle(
        ticket,
        Consumption {
            tokens,
            cost_micros,
        },
        domain::now_millis(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_read_like_openai_and_round_up() {
        let text = |d| reset_value(d).to_str().unwrap_or("").to_owned();
        assert_eq!(text(Duration::from_millis(250)), "250ms");
        assert_eq!(text(Duration::from_millis(1_001)), "2s");
        assert_eq!(text(Duration::from_secs(90)), "1m30s");
        assert_eq!(text(Duration::from_secs(120)), "2m0s");
    }
}
