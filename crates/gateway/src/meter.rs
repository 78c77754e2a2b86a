//! Stage 11, meter: one usage record per request, handed to the batch writer, and the metrics.

use std::time::Instant;

use domain::{AuditEvent, Classification, Operation, Outcome, UnixMillis, UsageRecord, now_millis};
use identity::Principal;
use wire::Usage;

use crate::attribute::Attribution;
use crate::error::GatewayError;
use crate::state::Gateway;

/// What is known of a request when it ends, successfully or not.
#[derive(Debug)]
pub struct Finished<'a> {
    pub request_id: &'a str,
    pub started: Instant,
    pub started_at: UnixMillis,
    pub principal: Option<&'a Principal>,
    pub operation: Operation,
    /// Index of the model that answered (or was asked for), if it resolved.
    pub model: Option<usize>,
    /// The name the caller sent, for requests whose model did not resolve.
    pub requested_model: &'a str,
    pub endpoint: Option<usize>,
    pub stream: bool,
    pub usage: Option<Usage>,
    pub first_byte: Option<Instant>,
    pub status: u16,
    pub error_code: Option<&'static str>,
    pub attempts: u32,
    pub classification: Option<Classification>,
    /// The team and use case charged, once the caller is known.
    pub attribution: Option<Attribution>,
    /// The admission to settle with the real usage, when the request was admitted.
    pub ticket: Option<admission::Ticket>,
    /// The request's root span, which receives the outcome's attributes.
    pub span: &'a tracing::Span,
    /// The pool sequence to free, when the request was scheduled.
    pub dispatch: Option<scheduler::Dispatch>,
    /// The content to keep, when the caller's entity keeps it.
    pub capture: Option<crate::capture::Capture>,
}

/// Records the request: metrics always, a usage record once the caller is known, and the
/// settlement of its admission.
pub fn record(gateway: &Gateway, mut finished: Finished<'_>) {
    // The sequence goes back first, so the next request in line waits no longer than needed. With
    // the backend's counts the entity is charged what it used; without (the caller went away
    // before the usage arrived) the estimate stands.
    if let Some(dispatch) = finished.dispatch.take() {
        match finished.usage {
            Some(usage) => dispatch.settle(usage.prompt_tokens, usage.completion_tokens),
            None => drop(dispatch),
        }
    }
    let _metering = crate::spans::stage(finished.span, "meter").entered();
    let model_route = finished.model.and_then(|i| gateway.models.get(i));
    let model_name = model_route
        .map(|m| m.name.as_str())
        .unwrap_or(finished.requested_model);
    let usage = finished.usage.unwrap_or_default();
    let duration = finished.started.elapsed();
    let cost_micros = model_route.map_or(0, |m| {
        cost(usage.prompt_tokens, m.input_micros_per_million)
            + cost(usage.completion_tokens, m.output_micros_per_million)
    });
    count(gateway, &finished, &usage, cost_micros, duration);
    crate::spans::finished(
        finished.span,
        model_route
            .filter(|_| finished.status == 200)
            .map(|m| m.name.as_str()),
        &usage,
        finished.status,
        finished.error_code,
        finished.attempts,
    );
    // Requests that were never authenticated have no one to charge; metrics count them.
    let Some(principal) = finished.principal else {
        return;
    };
    if let Some(ticket) = finished.ticket.take() {
        let tokens = usage.prompt_tokens + usage.completion_tokens;
        crate::admit::settle(gateway, ticket, tokens, cost_micros);
    }
    // Content of answered requests only: a refusal has no completion, and its input is the kind
    // of text a policy stopped.
    if let Some(capture) = finished.capture.take().filter(|_| finished.status == 200) {
        crate::capture::hand_over(
            gateway,
            principal,
            finished.request_id,
            finished.started_at,
            finished.operation,
            model_name,
            capture,
        );
    }
    let endpoint = finished.endpoint.and_then(|i| gateway.endpoints.get(i));
    let attribution = finished.attribution.take().unwrap_or_default();
    let record = UsageRecord {
        request_id: finished.request_id.to_owned(),
        started_at: finished.started_at,
        entity_id: principal.entity_id,
        user_id: principal.user_id(),
        service_account_id: principal.service_account_id(),
        key_id: principal.key_id,
        team_id: attribution.chargeback_team(),
        use_case: attribution.use_case,
        operation: finished.operation,
        model: model_name.to_owned(),
        endpoint: endpoint.map(|e| e.name.clone()),
        hosting: endpoint.map(|e| e.hosting),
        classification: finished
            .classification
            .map(|level| gateway.classifier.name(level).to_owned()),
        stream: finished.stream,
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        cost_micros,
        ttft_ms: finished.first_byte.map(|t| millis(t - finished.started)),
        duration_ms: millis(duration),
        status: finished.status,
        error_code: finished.error_code.map(str::to_owned),
        attempts: finished.attempts,
    };
    if !gateway.usage.record(record) {
        gateway.metrics.usage_records_dropped.inc();
        tracing::error!(
            request_id = finished.request_id,
            "usage record dropped: writer queue full"
        );
    }
}

/// The request's metrics, under its entity and model.
fn count(
    gateway: &Gateway,
    finished: &Finished<'_>,
    usage: &Usage,
    cost_micros: u64,
    duration: std::time::Duration,
) {
    let entity = finished.principal.and_then(|p| p.entity_slug.as_ref());
    let Some(model) = finished.model.and_then(|i| gateway.metrics.model(i)) else {
        gateway.metrics.unresolved_request(
            finished.operation.as_str(),
            entity.map(|slug| &**slug),
            finished.status,
        );
        return;
    };
    let metrics = model.entity(entity);
    metrics.request(finished.status);
    metrics.input_tokens.inc_by(usage.prompt_tokens);
    metrics.output_tokens.inc_by(usage.completion_tokens);
    metrics.cost_micros.inc_by(cost_micros);
    match finished.error_code {
        None => {
            metrics.duration.observe(duration.as_secs_f64());
            if let Some(first) = finished.first_byte {
                metrics
                    .time_to_first_token
                    .observe((first - finished.started).as_secs_f64());
            }
        }
        Some(admission::RATE_LIMIT_EXCEEDED) => {
            metrics.rate_limited.inc();
        }
        Some(admission::BUDGET_EXCEEDED) => {
            metrics.budget_exceeded.inc();
        }
        Some(_) => {}
    }
}

/// Audits a refused request: who, which model, which level, never the content.
pub fn audit_denial(gateway: &Gateway, finished: &Finished<'_>, error: &GatewayError) {
    let Some(principal) = finished.principal else {
        return;
    };
    let event = AuditEvent {
        at: now_millis(),
        actor: principal.actor(),
        action: domain::AuditAction::inference_refused(error.code()),
        entity_id: principal.entity_id,
        target: finished
            .model
            .and_then(|i| gateway.models.get(i))
            .map_or(finished.requested_model, |m| m.name.as_str())
            .to_owned(),
        outcome: Outcome::Denied,
        detail: serde_json::json!({
            "request_id": finished.request_id,
            "classification": finished.classification.map(|l| gateway.classifier.name(l)),
            "message": error.to_string(),
        })
        .to_string(),
    };
    if !gateway.audit.record(event) {
        tracing::error!(
            request_id = finished.request_id,
            "audit event dropped: writer queue full"
        );
    }
}

/// Cost in micro-units for `tokens` at `micros_per_million`, rounded half up, in integers only.
pub(crate) fn cost(tokens: u64, micros_per_million: u64) -> u64 {
    ((u128::from(tokens) * u128::from(micros_per_million) + 500_000) / 1_000_000) as u64
}

fn millis(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cost_is_integer_and_rounded() {
        // 1,500 tokens at 2.00 per million (2,000,000 micros) = 3,000 micros.
        assert_eq!(super::cost(1_500, 2_000_000), 3_000);
        assert_eq!(super::cost(1, 400_000), 0);
        assert_eq!(super::cost(2, 400_000), 1);
        assert_eq!(super::cost(0, 9_000_000), 0);
    }
}
