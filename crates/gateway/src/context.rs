//! The request's context and its one exit.
//!
//! An [`Exchange`] is opened when a request arrives. It learns what each stage establishes, through
//! one method per stage in the order they run, and nothing else writes to it. Every request leaves
//! through [`Exchange::respond`] and is metered in [`Exchange::finish`], exactly once, whatever ends
//! it: a refusal or failure at any stage, the backend's own refusal, a whole answer, a stream that
//! completed, that the caller cut or that the backend cut (the stream's end calls `finish`), a
//! timeout. A refusal that is an access decision is audited there too, once. `Drop` is the
//! backstop: a request whose handler is dropped before it answered — the caller went away while
//! it waited — is metered as `499 client_disconnected`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use admission::{BudgetWarning, RateHeaders};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use counters::{Admitted, Counted};
use domain::{Classification, Operation, TeamId, UnixMillis, now_millis};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use identity::Principal;
use tokio::sync::oneshot;
use tracing::Span;

use crate::accept::InferenceRequest;
use crate::attribute::{Attribution, Caller};
use crate::capture::{self, Capture};
use crate::configured::Configured;
use crate::error::GatewayError;
use crate::headers::{
    self, CACHE_HEADER, CLIENT_REQUEST_ID_HEADER, Protected, REQUEST_ID_HEADER,
    USE_CASE_VERSION_HEADER,
};
use crate::meter::{End, Facts};
use crate::price::Estimate;
use crate::relay::{Answer, RelayStream, Streaming};
use crate::resolve::Chain;
use crate::route::Routed;
use crate::spans;
use crate::state::Gateway;

/// How an inference request ended, for a caller that shows it (the web chat): sent once the
/// request is metered — for a stream, when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The request's id, under which its usage record and audit events are stored.
    pub request_id: String,
    /// The HTTP status the caller was sent (200 for a stream, however it ended).
    pub status: u16,
    /// Why the request failed, when it did (`rate_limit_exceeded`, `client_disconnected`, …).
    pub error_code: Option<&'static str>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// What the request was charged, in micro-units of the group's currency.
    pub cost_micros: u64,
}

/// One request's context, from its arrival to its one exit.
pub(crate) struct Exchange {
    gateway: Arc<Gateway>,
    /// The configuration the request started with, which it keeps to its end (its stream's too).
    configured: Arc<Configured>,
    facts: Facts,
    /// What admission and scheduling tell the caller in the response headers.
    told: Told,
    /// Where to send the outcome, when the caller asked for it.
    report: Option<oneshot::Sender<Outcome>>,
    finished: bool,
}

#[derive(Default)]
struct Told {
    rate: Option<RateHeaders>,
    warning: Option<BudgetWarning>,
    queue_wait: Option<Duration>,
    /// The use-case version that answers (`usecase/<slug>`): the caller may give feedback on it.
    use_case_version: Option<u32>,
    /// What the data policy hid from the model, by kind (the chat's personal-data notice).
    protected: Protected,
}

impl Exchange {
    /// Opens the context of a request that just arrived, under the configuration it loaded.
    pub fn begin(
        gateway: &Arc<Gateway>,
        configured: Arc<Configured>,
        operation: Operation,
        headers: &HeaderMap,
        report: Option<oneshot::Sender<Outcome>>,
    ) -> Exchange {
        let request_id = headers::request_id();
        let client_request_id = headers::client_request_id(headers);
        Exchange {
            gateway: Arc::clone(gateway),
            configured,
            facts: Facts {
                span: spans::request(operation, &request_id, client_request_id.as_ref()),
                request_id,
                client_request_id,
                started: Instant::now(),
                started_at: now_millis(),
                operation,
                principal: None,
                attribution: Attribution::default(),
                requested_model: String::new(),
                stream: false,
                model: None,
                classification: None,
                capture: None,
                prompt_estimate: None,
                ticket: None,
                count: Counted::Done,
                dispatch: None,
                endpoint: None,
                attempts: 0,
                cache_hit: false,
            },
            told: Told::default(),
            report,
            finished: false,
        }
    }

    pub fn operation(&self) -> Operation {
        self.facts.operation
    }

    pub fn started(&self) -> Instant {
        self.facts.started
    }

    pub fn started_at(&self) -> UnixMillis {
        self.facts.started_at
    }

    pub fn request_id(&self) -> &HeaderValue {
        &self.facts.request_id
    }

    /// The request id, as text.
    pub fn id(&self) -> &str {
        crate::meter::request_id(&self.facts)
    }

    /// The model name the caller sent.
    pub fn requested_model(&self) -> &str {
        &self.facts.requested_model
    }

    /// The request's root span.
    pub fn span(&self) -> &Span {
        &self.facts.span
    }

    /// A span for one stage, under the request's.
    pub fn stage(&self, name: &'static str) -> Span {
        spans::stage(&self.facts.span, name)
    }

    /// The pool the request holds a sequence of, once scheduled.
    pub fn held_pool(&self) -> Option<&str> {
        self.facts.dispatch.as_ref().map(scheduler::Dispatch::pool)
    }

    /// Stage 1: the caller is known, and charged from now on, with their teams.
    pub fn authenticated(&mut self, principal: &Arc<Principal>, teams: &Option<Arc<[TeamId]>>) {
        let entity = principal.entity_slug.as_deref();
        self.facts.span.record("fabrique.entity", entity);
        self.facts.principal = Some(Arc::clone(principal));
        self.facts.attribution.teams.clone_from(teams);
    }

    /// Stage 4: the use case charged.
    pub fn attributed(&mut self, caller: &Caller) {
        self.facts.attribution = caller.attribution.clone();
        self.told.use_case_version = caller.attribution.version;
    }

    /// Stage 5: what the caller asked for.
    pub fn accepted(&mut self, request: &InferenceRequest<'_>) {
        let span = &self.facts.span;
        span.record("gen_ai.request.model", request.model.as_ref());
        let max_tokens = request.asked.max_tokens.map(spans::integer);
        span.record("gen_ai.request.max_tokens", max_tokens);
        self.facts.requested_model.push_str(&request.model);
        self.facts.stream = request.asked.stream;
    }

    /// Stage 6: the model the request is for.
    pub fn resolved(&mut self, chain: &Chain) {
        let model = chain.model();
        let name = &self.configured.catalog.model(model).name;
        spans::name_after_model(&self.facts.span, self.facts.operation, name);
        self.facts.model = Some(model);
    }

    /// Stage 8: the request's classification, and its content when its entity keeps it.
    pub fn inspected(
        &mut self,
        level: Classification,
        capture: Option<Capture>,
        protected: Protected,
    ) {
        self.told.protected = protected;
        let name = self.configured.classifier.name(level);
        self.facts.span.record("fabrique.classification", name);
        self.facts.classification = Some(level);
        self.facts.capture = capture;
    }

    /// Stage 2, then 9: whether the request's count is still owed to the shared counters.
    pub fn counted(&mut self, count: Counted) {
        self.facts.count = count;
    }

    /// Stage 10: the admission to settle, the prompt's estimate, and what admission tells the
    /// caller.
    pub fn admitted(&mut self, admitted: Admitted, estimate: Estimate) {
        self.facts.prompt_estimate = Some(estimate.prompt_tokens);
        self.facts.ticket = Some(admitted.ticket);
        self.told.rate = Some(admitted.rate);
        self.told.warning = admitted.budget_warning;
    }

    /// Stage 11: the pool sequence the request holds, when it was scheduled.
    pub fn scheduled(&mut self, dispatch: Option<scheduler::Dispatch>) {
        self.told.queue_wait = dispatch.as_ref().map(scheduler::Dispatch::waited);
        self.facts.dispatch = dispatch;
    }

    /// Stage 12: where the request was sent, and what it took.
    pub fn routed(&mut self, routed: &mut Routed) {
        if let Some(fallback) = routed.fallback_dispatch.take() {
            // A model of another pool served the request: that pool is settled with the usage,
            // and the one it waited in, which served nothing, is released at once.
            if let Some(unused) = self.facts.dispatch.replace(fallback) {
                unused.settle(0, 0);
            }
        }
        let endpoint = routed.lease.index();
        spans::routed(&self.facts.span, self.configured.catalog.endpoint(endpoint));
        self.facts.model = Some(routed.model);
        self.facts.endpoint = Some(endpoint);
        self.facts.attempts = routed.attempts;
    }

    /// The one exit: the response to what the stages served, with the headers every response
    /// carries. The request is metered here, or when its stream ends.
    pub fn respond(mut self, served: Result<Answer, GatewayError>) -> Response {
        let mut response = match served {
            Ok(Answer::Stream(streaming)) => return self.stream(*streaming),
            Ok(Answer::Cached(bytes)) => self.replay(bytes),
            Ok(Answer::Whole {
                status,
                bytes,
                usage,
                relayed_chars,
                first_byte,
                refused,
            }) => {
                let end = match refused {
                    _ if status.is_success() => {
                        if let Some(capture) = self.facts.capture.as_mut() {
                            capture::append_texts(&mut capture.completion, &bytes);
                        }
                        End::answered(usage, relayed_chars, Some(first_byte))
                    }
                    // The gateway refused what the model answered: its tokens are charged.
                    Some(code) => End {
                        usage,
                        relayed_chars: Some(relayed_chars),
                        first_byte: Some(first_byte),
                        ..End::failed(status.as_u16(), code)
                    },
                    // The backend refused the request itself (4xx): the caller sees its answer.
                    None => End::failed(status.as_u16(), "upstream_rejected"),
                };
                self.finish(end, None);
                json_response(status, bytes)
            }
            Err(error) => {
                if error.status().is_server_error() {
                    let id = &self.facts.request_id;
                    let detail = error.backend_detail();
                    tracing::warn!(request_id = ?id, %error, detail, "request failed");
                }
                if let Some(attempts) = error.attempts() {
                    self.facts.attempts = attempts;
                }
                let end = End::failed(error.status().as_u16(), error.code());
                let end = self.after_routing(end);
                self.finish(end, Some(&error));
                error.into_response()
            }
        };
        self.decorate(response.headers_mut());
        response
    }

    /// A streamed answer: relayed as it comes, metered when it ends, however it ends.
    fn stream(mut self, streaming: Streaming) -> Response {
        let mut response = Response::new(Body::empty());
        let headers = response.headers_mut();
        self.decorate(headers);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // Open while the stream is relayed: it ends with the stream.
        let relaying = self.stage("relay");
        let keeps_content = self.facts.capture.is_some();
        let gateway = Arc::clone(&self.gateway);
        let stream = RelayStream::new(streaming, keeps_content, move |outcome| {
            drop(relaying);
            if let (Some(capture), Some(completion)) =
                (self.facts.capture.as_mut(), outcome.completion)
            {
                capture.completion = completion;
            }
            let end = End {
                error_code: outcome.error_code,
                ..End::answered(outcome.usage, outcome.relayed_chars, outcome.first_byte)
            };
            self.finish(end, None);
        });
        // The stream is metered when it ends; it closes once its records are journaled.
        let settled = futures_util::stream::once(async move { gateway.sinks.settled().await })
            .filter_map(|()| std::future::ready(None::<Result<bytes::Bytes, std::io::Error>>));
        *response.body_mut() = Body::from_stream(stream.chain(settled));
        response
    }

    /// An answer the response cache held: metered as a hit, no tokens, and sent as it was first
    /// received — a JSON body, or a stream's events at once.
    fn replay(&mut self, bytes: bytes::Bytes) -> Response {
        self.facts.cache_hit = true;
        let stream = self.facts.stream;
        if let Some(capture) = self.facts.capture.as_mut() {
            match stream {
                true => capture::append_stream_texts(&mut capture.completion, &bytes),
                false => capture::append_texts(&mut capture.completion, &bytes),
            }
        }
        let nothing = Some(wire::Usage::default());
        self.finish(End::answered(nothing, 0, Some(Instant::now())), None);
        let mut response = json_response(StatusCode::OK, bytes);
        let headers = response.headers_mut();
        if stream {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        headers.insert(CACHE_HEADER, HeaderValue::from_static("hit"));
        response
    }

    /// The headers every response carries: the request id, and what admission and scheduling
    /// tell the caller.
    fn decorate(&self, headers: &mut HeaderMap) {
        if let Some(rate) = &self.told.rate {
            headers::rate_headers(headers, rate);
        }
        if let Some(warning) = &self.told.warning {
            headers::warning_header(headers, warning);
        }
        if let Some(wait) = self.told.queue_wait {
            headers::queue_wait_header(headers, wait);
        }
        if !self.told.protected.is_empty() {
            headers::personal_data_header(headers, &self.told.protected);
        }
        if let Some(version) = self.told.use_case_version {
            // Which version answered a use case: for feedback, and for the chat's display.
            headers.insert(USE_CASE_VERSION_HEADER, HeaderValue::from(version));
        }
        headers.insert(REQUEST_ID_HEADER, self.facts.request_id.clone());
        if let Some(id) = &self.facts.client_request_id {
            headers.insert(CLIENT_REQUEST_ID_HEADER, id.clone());
        }
    }

    /// A request that ends in error after a backend accepted it (its answer timed out, or the
    /// caller left while it was read) is charged as an answer of which nothing was relayed.
    fn after_routing(&self, end: End) -> End {
        let relayed_chars = self.facts.endpoint.map(|_| 0);
        End {
            relayed_chars,
            ..end
        }
    }

    /// Meters the request and audits its refusal, once: a second call does nothing.
    fn finish(&mut self, end: End, refusal: Option<&GatewayError>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let meter = self.gateway.meter(&self.configured);
        if let Some(error) = refusal.filter(|e| e.is_audited_refusal()) {
            meter.audit_refusal(&self.facts, error);
        }
        let charged = meter.record(&mut self.facts, &end);
        if let Some(report) = self.report.take() {
            // The caller may have stopped listening; the request is metered all the same.
            let _ = report.send(Outcome {
                request_id: crate::meter::request_id(&self.facts).to_owned(),
                status: end.status,
                error_code: end.error_code,
                prompt_tokens: charged.usage.prompt_tokens,
                completion_tokens: charged.usage.completion_tokens,
                cost_micros: charged.cost_micros,
            });
        }
    }
}

impl Drop for Exchange {
    /// The backstop: a request dropped before it answered (its caller went away) is metered too.
    fn drop(&mut self) {
        let gone = End::failed(CLIENT_CLOSED_REQUEST, "client_disconnected");
        self.finish(self.after_routing(gone), None);
    }
}

/// The status recorded for a request whose caller went away before it was answered (nginx's
/// convention; no response was sent).
const CLIENT_CLOSED_REQUEST: u16 = 499;

impl End {
    fn answered(
        usage: Option<wire::Usage>,
        relayed_chars: u64,
        first_byte: Option<Instant>,
    ) -> End {
        End {
            status: 200,
            error_code: None,
            usage,
            relayed_chars: Some(relayed_chars),
            first_byte,
        }
    }

    fn failed(status: u16, code: &'static str) -> End {
        End {
            status,
            error_code: Some(code),
            usage: None,
            relayed_chars: None,
            first_byte: None,
        }
    }
}

fn json_response(status: StatusCode, bytes: bytes::Bytes) -> Response {
    let mut response = (status, bytes).into_response();
    headers::json_content(response.headers_mut());
    response
}
