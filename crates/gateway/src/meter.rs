//! Stage 14, meter: what every request leaves behind, however it ends — exactly once, from the
//! request context's one exit (`context::Exchange`). In this order:
//! 1. what the request consumed: the backend's counts when it gave them for an answer that
//!    completed; for an answer it gave no usage for — a stream the caller or the backend cut, a
//!    whole answer read past its deadline, a backend that never reports usage — the prompt's
//!    estimate and the completion relayed (`relayed`), never less than the backend's partial
//!    counts, and the record marked `usage_estimated`;
//! 2. the pool sequence goes back, settled with that consumption when there is one, so the next
//!    request in line waits no longer than needed;
//! 3. the metrics, under the request's entity and model, and its trace's outcome;
//! 4. for a caller that is known: the admission settled with what the request consumed (its
//!    estimate replaced: 0 for a request that consumed nothing), so budgets and token limits see
//!    it at once, the content of an answered
//!    request handed to the content writer when its entity keeps content, and one usage record
//!    handed to the batch writer, off the request path.
//!
//! A refusal that is an access decision is also audited, once ([`Meter::audit_refusal`]): who,
//! which model, which level — never the content.

use std::sync::Arc;
use std::time::{Duration, Instant};

use admission::Consumption;
use domain::{
    AuditEvent, Classification, EndpointIdx, ModelIdx, Operation, Outcome, UnixMillis, UsageRecord,
    now_millis,
};
use http::HeaderValue;
use identity::Principal;
use telemetry::Metrics;
use usage::{AuditSink, UsageSink};
use wire::Usage;

use crate::attribute::Attribution;
use crate::capture::Capture;
use crate::catalog::{Catalog, ModelRoute};
use crate::classify::Classifier;
use crate::error::GatewayError;
use crate::relayed;

/// Where records leave the request path: usage, audit events and kept content.
#[derive(Debug, Clone)]
pub struct Sinks {
    pub usage: UsageSink,
    pub audit: AuditSink,
    /// Callers' feedback on their answers (`POST /v1/feedback`).
    pub feedback: usage::FeedbackSink,
    /// Present when some entity (or the group's default) keeps content.
    pub content: Option<retention::ContentSink>,
}

impl Sinks {
    /// Resolves once every usage record and audit event handed over so far is in the spill
    /// journal: an answer is complete only then, so what a caller was answered survives a crash.
    pub async fn settled(&self) {
        self.usage.settled().await;
        self.audit.settled().await;
    }
}

/// What the meter writes to, borrowed from the gateway.
pub(crate) struct Meter<'a> {
    pub sinks: &'a Sinks,
    pub metrics: &'a Metrics,
    pub counters: &'a counters::Counters,
    pub catalog: &'a Catalog,
    pub classifier: &'a Classifier,
}

/// What the meter needs to know of a request: set by the request context as each stage
/// establishes it, read here once when the request ends. Whatever a stage has not reached yet is
/// absent; what the request holds (its admission, its pool sequence) is given back here.
#[derive(Debug)]
pub(crate) struct Facts {
    pub request_id: HeaderValue,
    /// The caller's own id for the request, when it sent one.
    pub client_request_id: Option<HeaderValue>,
    pub started: Instant,
    pub started_at: UnixMillis,
    pub operation: Operation,
    /// The request's root span, which receives the outcome's attributes.
    pub span: tracing::Span,
    /// From authentication on: who is charged.
    pub principal: Option<Arc<Principal>>,
    /// The teams charged, from authentication on, and the use case, from attribution on.
    pub attribution: Attribution,
    /// From acceptance on: the model name the caller sent, and whether it asked for a stream.
    pub requested_model: String,
    pub stream: bool,
    /// From resolution on: the model asked for; once routed, the model that answered.
    pub model: Option<ModelIdx>,
    /// From inspection on.
    pub classification: Option<Classification>,
    /// From inspection on, when the caller's entity keeps content.
    pub capture: Option<Capture>,
    /// From admission on: the prompt's tokens as estimated, charged when the backend gives none.
    pub prompt_estimate: Option<u64>,
    /// From admission on: the admission to settle with the real usage.
    pub ticket: Option<counters::Ticket>,
    /// From the count stage until admission, with shared counters: the request's count is owed,
    /// and recorded when it leaves, if it leaves before admission.
    pub count: counters::Counted,
    /// From scheduling on: the pool sequence to give back.
    pub dispatch: Option<scheduler::Dispatch>,
    /// Once routed: the endpoint that answered, and the endpoints tried.
    pub endpoint: Option<EndpointIdx>,
    pub attempts: u32,
    /// The answer came from the response cache (stage 9): no backend was asked.
    pub cache_hit: bool,
}

/// How a request ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct End {
    /// The HTTP status the caller was sent (200 for a stream, however it ended).
    pub status: u16,
    pub error_code: Option<&'static str>,
    /// What the backend counted, if it said.
    pub usage: Option<Usage>,
    /// For an answer the backend gave (whole or streamed, completed or not): the characters of
    /// completion text relayed. `None` for a request no backend answered.
    pub relayed_chars: Option<u64>,
    pub first_byte: Option<Instant>,
}

/// What the request was charged.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Charged {
    pub usage: Usage,
    pub cost_micros: u64,
    /// The usage is the gateway's estimate, not (only) the backend's count.
    pub estimated: bool,
}

/// What the request consumed, and whether that is an estimate; `None` when nothing is known (no
/// backend answered, and none counted).
fn consumed(facts: &Facts, end: &End) -> Option<(Usage, bool)> {
    let Some(chars) = end.relayed_chars else {
        return end.usage.map(|usage| (usage, false));
    };
    match end.usage {
        Some(usage) if end.error_code.is_none() => Some((usage, false)),
        counted => {
            let counted = counted.unwrap_or_default();
            let prompt = facts.prompt_estimate.unwrap_or_default();
            let completion = relayed::completion_tokens(chars);
            let usage = Usage::new(
                counted.prompt_tokens.max(prompt),
                counted.completion_tokens.max(completion),
            );
            Some((usage, usage != counted))
        }
    }
}

impl Meter<'_> {
    /// Records the request: metrics always, a usage record once the caller is known, and the
    /// settlement of what it holds.
    pub fn record(&self, facts: &mut Facts, end: &End) -> Charged {
        let consumed = consumed(facts, end);
        if let Some(dispatch) = facts.dispatch.take() {
            // Without any count the scheduler's estimate stands.
            match consumed {
                Some((usage, _)) => dispatch.settle(usage.prompt_tokens, usage.completion_tokens),
                None => drop(dispatch),
            }
        }
        let _metering = crate::spans::stage(&facts.span, "meter").entered();
        let model = facts.model.map(|m| self.catalog.model(m));
        let (usage, estimated) = consumed.unwrap_or_default();
        let charged = Charged {
            usage,
            cost_micros: model.map_or(0, |m| {
                m.price.of(usage.prompt_tokens, usage.completion_tokens)
            }),
            estimated,
        };
        self.count(facts, end, &charged);
        crate::spans::finished(
            &facts.span,
            model.filter(|_| end.status == 200).map(|m| m.name.as_str()),
            &usage,
            end.status,
            end.error_code,
            facts.attempts,
        );
        // Requests that were never authenticated have no one to charge; metrics count them.
        let Some(principal) = facts.principal.clone() else {
            return charged;
        };
        if let Some(ticket) = facts.ticket.take() {
            let consumed = Consumption {
                tokens: usage.prompt_tokens.saturating_add(usage.completion_tokens),
                cost_micros: charged.cost_micros,
            };
            self.counters.settle(ticket, consumed, now_millis());
        }
        if facts.count == counters::Counted::Owed {
            let scopes = crate::admit::scopes(&principal, facts.attribution.teams.as_deref());
            self.counters.record_count(&scopes, facts.started_at);
        }
        // Content of answered requests only: a refusal has no completion, and its input is the
        // kind of text a policy stopped.
        if let Some(capture) = facts.capture.take().filter(|_| end.status == 200) {
            self.keep(capture, &principal, facts, model);
        }
        let record = self.usage_record(&principal, facts, model, end, &charged);
        // A loss is counted and logged by the sink.
        self.sinks.usage.record(record);
        charged
    }

    /// Hands the request's content to the content writer.
    fn keep(
        &self,
        capture: Capture,
        principal: &Principal,
        facts: &Facts,
        model: Option<&ModelRoute>,
    ) {
        let Some(sink) = &self.sinks.content else {
            return;
        };
        let id = request_id(facts);
        let model = model.map_or(facts.requested_model.as_str(), |m| m.name.as_str());
        let record = capture.into_record(principal, id, facts.started_at, facts.operation, model);
        // A loss is counted and logged by the sink.
        if let Some(record) = record {
            sink.record(record);
        }
    }

    fn usage_record(
        &self,
        principal: &Principal,
        facts: &mut Facts,
        model: Option<&ModelRoute>,
        end: &End,
        charged: &Charged,
    ) -> UsageRecord {
        let endpoint = facts.endpoint.map(|e| self.catalog.endpoint(e));
        let attribution = std::mem::take(&mut facts.attribution);
        UsageRecord {
            request_id: request_id(facts).to_owned(),
            client_request_id: facts
                .client_request_id
                .as_ref()
                .and_then(|id| id.to_str().ok())
                .map(str::to_owned),
            started_at: facts.started_at,
            entity_id: principal.entity_id,
            user_id: principal.user_id(),
            service_account_id: principal.service_account_id(),
            key_id: principal.key_id,
            team_id: attribution.chargeback_team(),
            use_case: attribution.use_case().map(str::to_owned),
            use_case_version: attribution.version,
            operation: facts.operation,
            model: model.map_or_else(|| facts.requested_model.clone(), |m| m.name.clone()),
            endpoint: endpoint.map(|e| e.name.clone()),
            hosting: endpoint.map(|e| e.hosting),
            classification: facts
                .classification
                .map(|level| self.classifier.name(level).to_owned()),
            stream: facts.stream,
            prompt_tokens: charged.usage.prompt_tokens,
            completion_tokens: charged.usage.completion_tokens,
            cost_micros: charged.cost_micros,
            ttft_ms: end.first_byte.map(|t| millis(t - facts.started)),
            duration_ms: millis(facts.started.elapsed()),
            status: end.status,
            error_code: end.error_code.map(str::to_owned),
            attempts: facts.attempts,
            usage_estimated: charged.estimated,
            cache_hit: facts.cache_hit,
        }
    }

    /// The request's metrics, under its entity and model.
    fn count(&self, facts: &Facts, end: &End, charged: &Charged) {
        let entity = facts
            .principal
            .as_ref()
            .and_then(|p| p.entity_slug.as_ref());
        let Some(model) = facts.model.map(|i| &self.catalog.model(i).metrics) else {
            // Refused by a request-rate limit before the body was read, say.
            let rejection = end.error_code.filter(|code| {
                [admission::RATE_LIMIT_EXCEEDED, admission::BUDGET_EXCEEDED].contains(code)
            });
            self.metrics.unresolved_request(
                facts.operation.as_str(),
                entity.map(|slug| &**slug),
                end.status,
                rejection,
            );
            return;
        };
        let metrics = model.entity(entity);
        metrics.request(end.status);
        metrics.input_tokens.inc_by(charged.usage.prompt_tokens);
        metrics
            .output_tokens
            .inc_by(charged.usage.completion_tokens);
        metrics.cost_micros.inc_by(charged.cost_micros);
        match end.error_code {
            None => {
                metrics
                    .duration
                    .observe(facts.started.elapsed().as_secs_f64());
                if let Some(first) = end.first_byte {
                    metrics
                        .time_to_first_token
                        .observe((first - facts.started).as_secs_f64());
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
    pub fn audit_refusal(&self, facts: &Facts, error: &GatewayError) {
        let Some(principal) = facts.principal.as_deref() else {
            return;
        };
        let event = AuditEvent {
            at: now_millis(),
            actor: principal.actor(),
            action: domain::AuditAction::inference_refused(error.code()),
            entity_id: principal.entity_id,
            target: facts
                .model
                .map_or(facts.requested_model.as_str(), |m| {
                    self.catalog.model(m).name.as_str()
                })
                .to_owned(),
            outcome: Outcome::Denied,
            detail: serde_json::json!({
                "request_id": request_id(facts),
                "client_request_id": facts.client_request_id.as_ref().and_then(|id| id.to_str().ok()),
                "classification": facts.classification.map(|l| self.classifier.name(l)),
                "message": error.to_string(),
            })
            .to_string(),
        };
        // A loss is counted and logged by the sink.
        self.sinks.audit.record(event);
    }
}

/// The request id, as text (it was checked to be printable ASCII).
pub(crate) fn request_id(facts: &Facts) -> &str {
    facts.request_id.to_str().unwrap_or("")
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
