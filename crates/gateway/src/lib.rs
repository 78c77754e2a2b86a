//! The inference API: `/v1/chat/completions`, `/v1/embeddings`, `/v1/fim/completions`, `/v1/models`,
//! plus `/healthz`, `/readyz` and `/metrics`.
//!
//! One request flows through the stages of DESIGN.md in the order of [`serve`], one module per stage.
//! The request path reads only in-memory state; usage leaves it through a channel.

mod accept;
pub mod admit;
mod answer;
pub mod attribute;
mod authenticate;
mod capture;
pub mod classify;
mod error;
mod health;
pub mod inspect;
mod license;
mod meter;
mod models;
pub mod relay;
mod route;
pub mod schedule;
mod spans;
mod state;
mod texts;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::{Classification, ModelKind, Operation, now_millis};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use identity::Principal;
use tracing::{Instrument as _, Span};

pub use error::{GatewayError, json_error};
pub use health::spawn_health_checks;
pub use state::{Gateway, ModelRoute, Sinks};

use crate::meter::Finished;
use crate::relay::RelayStream;
use crate::route::Outgoing;

/// The inference routes and the operational endpoints.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/fim/completions", post(fim))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::retrieve))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(gateway)
}

async fn chat(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    handle(gateway, Operation::Chat, request).await
}

async fn embeddings(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    handle(gateway, Operation::Embeddings, request).await
}

async fn fim(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    handle(gateway, Operation::Fim, request).await
}

/// What the stages learned so far, so a failure at any stage is metered with what is known.
struct Trace {
    started: Instant,
    started_at: i64,
    request_id: HeaderValue,
    principal: Option<Arc<Principal>>,
    requested_model: String,
    model: Option<usize>,
    endpoint: Option<usize>,
    stream: bool,
    attempts: u32,
    classification: Option<Classification>,
    /// The team and use case to charge; moved out by [`Trace::finished`].
    attribution: Option<attribute::Attribution>,
    /// The admission to settle at metering; moved out by [`Trace::finished`].
    ticket: Option<admission::Ticket>,
    /// The pool sequence held from schedule to meter; moved out by [`Trace::finished`].
    dispatch: Option<scheduler::Dispatch>,
    /// How long the request waited for its sequence, reported in `x-fabrique-queue-ms`.
    queue_wait: Option<std::time::Duration>,
    /// Rate-limit state and budget warning to report in the response headers.
    rate: Option<admission::RateHeaders>,
    warning: Option<admission::BudgetWarning>,
    /// The request's root span (disabled unless traces are exported).
    span: Span,
    /// The content being kept, when the caller's entity keeps it; moved out by [`Trace::finished`].
    capture: Option<capture::Capture>,
}

impl Trace {
    fn finished(
        &mut self,
        operation: Operation,
        status: u16,
        error_code: Option<&'static str>,
    ) -> Finished<'_> {
        Finished {
            request_id: self.request_id.to_str().unwrap_or(""),
            started: self.started,
            started_at: self.started_at,
            principal: self.principal.as_deref(),
            operation,
            model: self.model,
            requested_model: &self.requested_model,
            endpoint: self.endpoint,
            stream: self.stream,
            usage: None,
            first_byte: None,
            status,
            error_code,
            attempts: self.attempts,
            classification: self.classification,
            attribution: self.attribution.take(),
            ticket: self.ticket.take(),
            span: &self.span,
            dispatch: self.dispatch.take(),
            capture: self.capture.take(),
        }
    }
}

async fn handle(gateway: Arc<Gateway>, operation: Operation, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = request_id(&parts.headers);
    let mut trace = Trace {
        started: Instant::now(),
        started_at: now_millis(),
        span: spans::request(operation, &request_id),
        request_id,
        principal: None,
        requested_model: String::new(),
        model: None,
        endpoint: None,
        stream: false,
        attempts: 0,
        classification: None,
        attribution: None,
        ticket: None,
        dispatch: None,
        queue_wait: None,
        rate: None,
        warning: None,
        capture: None,
    };
    let root = trace.span.clone();
    let served = serve(&gateway, operation, &parts.headers, body, &mut trace)
        .instrument(root)
        .await;
    let mut response = match served {
        Ok(response) => response,
        Err(error) => {
            if error.status().is_server_error() {
                tracing::warn!(request_id = ?trace.request_id, %error, "request failed");
            }
            let finished = trace.finished(operation, error.status().as_u16(), Some(error.code()));
            if error.is_audited_refusal() {
                meter::audit_denial(&gateway, &finished, &error);
            }
            meter::record(&gateway, finished);
            error.into_response()
        }
    };
    let headers = response.headers_mut();
    if let Some(rate) = &trace.rate {
        admit::rate_headers(headers, rate);
    }
    if let Some(warning) = &trace.warning {
        admit::warning_header(headers, warning);
    }
    if let Some(wait) = trace.queue_wait {
        headers.insert(
            schedule::QUEUE_WAIT_HEADER,
            HeaderValue::from(wait.as_millis() as u64),
        );
    }
    headers.insert("x-request-id", trace.request_id);
    response
}

/// The request path, stage by stage.
async fn serve(
    gateway: &Arc<Gateway>,
    operation: Operation,
    headers: &HeaderMap,
    body: Body,
    trace: &mut Trace,
) -> Result<Response, GatewayError> {
    // 2. Authenticate first: an unknown caller gets 401 without costing a body read and parse.
    let principal = authenticate::authenticate(gateway, headers)
        .instrument(spans::stage(&trace.span, "authenticate"))
        .await?;
    trace
        .span
        .record("fabrique.entity", principal.entity_slug.as_deref());
    trace.principal = Some(Arc::clone(&principal));
    // 3. License, before the body too: a user without a seat costs no parse either.
    spans::stage(&trace.span, "license")
        .in_scope(|| license::license(gateway, &principal, trace.started_at))?;
    // Who is charged besides the caller: the user's teams (also for a refused request) and the
    // use case named.
    let attribution = trace
        .attribution
        .insert(attribute::teams(gateway, &principal));
    attribution.use_case = attribute::use_case(gateway, headers, &principal)?;

    // 1. Accept: size limit, JSON, the fields the gateway reads.
    let accepting = spans::stage(&trace.span, "accept");
    let bytes = accept::read_body(body, gateway.config.server.max_body_bytes)
        .instrument(accepting.clone())
        .await?;
    let entered = accepting.enter();
    let object = accept::parse(&bytes)?;
    let request = accept::inspect(operation, &object)?;
    drop(entered);
    trace
        .span
        .record("gen_ai.request.model", request.model.as_ref());
    trace.span.record(
        "gen_ai.request.max_tokens",
        request.max_tokens.map(spans::integer),
    );
    trace.requested_model.push_str(&request.model);
    trace.stream = request.stream;
    let (stream, include_usage) = (request.stream, request.include_usage);
    let max_tokens = request.max_tokens;

    // 4. Resolve and 5. authorize: the model exists, serves this operation, and the entity may use it.
    let model = spans::stage(&trace.span, "resolve")
        .in_scope(|| resolve(gateway, operation, &request.model, &principal))?;
    trace.model = Some(model);
    spans::name_after_model(&trace.span, operation, &gateway.models[model].name);
    drop(request);

    // 6. Classify and inspect: who asks and how they label it, then what the content holds and
    // what the caller's data policy does about it. A request no endpoint is cleared for, or that
    // the policy blocks, stops here, before any byte leaves.
    let classifying = spans::stage(&trace.span, "classify");
    let inspected = classifying.in_scope(|| -> Result<inspect::Inspected, GatewayError> {
        let labels = classify::Labels {
            principal: &principal,
            headers,
        };
        let level = gateway.classifier.labelled(&labels)?;
        let subject = inspect::Subject {
            principal: &principal,
            use_case: trace
                .attribution
                .as_ref()
                .and_then(|a| a.use_case.as_deref()),
            request_id: trace.request_id.to_str().unwrap_or(""),
            model: &gateway.models[model].name,
        };
        inspect::inspect(gateway, operation, &object, level, &subject)
    })?;
    // Kept content is what the caller sent, so it is copied before the policy rewrites anything.
    trace.capture = capture::begin(gateway, &principal, operation, &object);
    let level = inspected.level;
    trace.classification = Some(level);
    trace
        .span
        .record("fabrique.classification", gateway.classifier.name(level));
    classifying.in_scope(|| route::check_clearance(gateway, model, level))?;
    let (body, object) = match inspected.rewritten {
        Some(rewritten) => rewritten,
        None => (bytes.clone(), object),
    };
    let mut answer = inspected.answer;
    // Content reaches a trace only when the entity's policy says so, and only as the model sees it;
    // never for an entity whose retention is `none`, whatever a use case's policy says.
    let use_case = trace
        .attribution
        .as_ref()
        .and_then(|a| a.use_case.as_deref());
    if !trace.span.is_disabled()
        && gateway
            .inspector
            .policy_for(&principal, use_case)
            .trace_content
        && gateway.retention.of(principal.entity_slug.as_deref()) != configuration::Retention::None
    {
        spans::input_content(&trace.span, &object);
    }

    // The scheduling headers are read before admission, so a malformed one is refused uncharged.
    let use_case_class = use_case
        .and_then(|slug| gateway.inspector.use_case(slug))
        .and_then(inspect::UseCaseRules::priority);
    let wanted = schedule::wanted(headers, principal.priority, use_case_class)?;

    // 7. Admit: rate limits and budgets of the key, user, teams and entity, all charged or none.
    let no_attribution = attribute::Attribution::default();
    let attribution = trace.attribution.as_ref().unwrap_or(&no_attribution);
    let admitted = spans::stage(&trace.span, "admit").in_scope(|| {
        admit::admit(
            gateway,
            &principal,
            attribution,
            &gateway.models[model],
            body.len(),
            max_tokens,
            trace.started_at,
        )
    })?;
    if !admitted.thresholds_crossed.is_empty() {
        admit::announce_thresholds(
            gateway,
            &principal,
            trace.request_id.to_str().unwrap_or(""),
            &admitted.thresholds_crossed,
            trace.started_at,
        );
    }
    trace.ticket = Some(admitted.ticket);
    trace.rate = Some(admitted.rate);
    trace.warning = admitted.budget_warning;

    // 8. Schedule: wait for a sequence of the model's GPU pool, shared fairly between entities.
    let scheduled = schedule::Request {
        principal: &principal,
        model,
        operation,
        wanted,
        body_len: bytes.len(),
        max_tokens,
    };
    let ticket = schedule::ticket(gateway, &scheduled);
    trace.dispatch = schedule::schedule(gateway, scheduled, ticket.clone())
        .instrument(spans::stage(&trace.span, "schedule"))
        .await?;
    trace.queue_wait = trace.dispatch.as_ref().map(scheduler::Dispatch::waited);

    // 9. Route.
    let outgoing = Outgoing {
        original: body,
        requested_model: &trace.requested_model,
        object,
        operation,
        stream,
        include_usage,
        request_id: &trace.request_id,
        priority: wanted.priority,
        ticket: trace.dispatch.is_some().then_some(ticket),
        held_pool: trace.dispatch.as_ref().map(scheduler::Dispatch::pool),
    };
    let routed = route::route(gateway, model, level, outgoing, trace.started)
        .instrument(spans::stage(&trace.span, "route"))
        .await;
    let routed = routed.inspect_err(|e| {
        if let GatewayError::UpstreamFailed { attempts, .. }
        | GatewayError::UpstreamTimeout { attempts, .. } = e
        {
            trace.attempts = *attempts;
        }
    })?;
    if let Some(fallback) = routed.fallback_dispatch {
        // A model of another pool served the request: that pool is settled with the usage, and
        // the one it waited in, which served nothing, is released at once.
        if let Some(unused) = trace.dispatch.replace(fallback) {
            unused.settle(0, 0);
        }
    }
    trace.model = Some(routed.model);
    trace.endpoint = Some(routed.lease.index());
    trace.attempts = routed.attempts;
    spans::routed(&trace.span, &gateway.endpoints[routed.lease.index()]);

    // 10. Relay, then 11. meter.
    let (parts, upstream_body) = routed.response.into_parts();
    let rename = gateway.models[routed.model].rename.clone();
    if !parts.status.is_success() {
        // The backend refused the request itself (4xx): the caller sees its answer.
        let (bytes, _) = relay::read_whole(upstream_body, None)
            .instrument(spans::stage(&trace.span, "relay"))
            .await?;
        drop(routed.lease);
        meter::record(
            gateway,
            trace.finished(operation, parts.status.as_u16(), Some("upstream_rejected")),
        );
        return Ok(json_response(parts.status, bytes));
    }
    if stream {
        let gateway = Arc::clone(gateway);
        let lease = routed.lease;
        let mut trace = std::mem::replace(trace, trace.detach());
        // Open while the stream is relayed: it ends with the stream.
        let relaying = spans::stage(&trace.span, "relay");
        let keeps_content = trace.capture.is_some();
        let stream = RelayStream::new(
            upstream_body,
            routed.injected_usage_request,
            rename,
            move |outcome| {
                // The endpoint's slot first, then the pool's sequence (settled at metering): the
                // next request dispatched finds the endpoint free.
                drop(lease);
                let mut finished = trace.finished(operation, 200, outcome.error_code);
                if let (Some(capture), Some(completion)) =
                    (finished.capture.as_mut(), outcome.completion)
                {
                    capture.completion = completion;
                }
                finished.usage = outcome.usage;
                finished.first_byte = outcome.first_byte;
                drop(relaying);
                meter::record(&gateway, finished);
            },
        )
        .with_answer_filter(answer)
        .keeping_completion(keeps_content);
        let mut response = Response::new(Body::from_stream(stream));
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(response);
    }
    let first_byte = Instant::now();
    let read = relay::read_whole(upstream_body, rename.as_deref())
        .instrument(spans::stage(&trace.span, "relay"));
    let (bytes, usage) = tokio::time::timeout(gateway.config.server.request_timeout, read)
        .await
        .map_err(|_| GatewayError::UpstreamTimeout {
            model: gateway.models[routed.model].name.clone(),
            attempts: routed.attempts,
        })??;
    drop(routed.lease);
    let bytes = relay::filter_whole(bytes, answer.as_mut());
    if let Some(capture) = trace.capture.as_mut() {
        capture::append_texts(&mut capture.completion, &bytes);
    }
    let mut finished = trace.finished(operation, 200, None);
    finished.usage = usage;
    finished.first_byte = Some(first_byte);
    meter::record(gateway, finished);
    Ok(json_response(StatusCode::OK, bytes))
}

impl Trace {
    /// A copy that keeps the request id (for the response header) once the original moved into a stream.
    fn detach(&self) -> Trace {
        Trace {
            started: self.started,
            started_at: self.started_at,
            request_id: self.request_id.clone(),
            principal: None,
            requested_model: String::new(),
            model: None,
            endpoint: None,
            stream: self.stream,
            attempts: self.attempts,
            classification: self.classification,
            attribution: None,
            ticket: None,
            dispatch: None,
            queue_wait: self.queue_wait,
            rate: self.rate.clone(),
            warning: self.warning.clone(),
            span: Span::none(),
            capture: None,
        }
    }
}

/// The metrics' route label of a model kind: the operation it serves.
pub fn route_of(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Chat => Operation::Chat.as_str(),
        ModelKind::Embeddings => Operation::Embeddings.as_str(),
        ModelKind::Fim => Operation::Fim.as_str(),
    }
}

/// Finds the model, checks that it serves this operation and that the caller's entity and key may
/// use it.
fn resolve(
    gateway: &Gateway,
    operation: Operation,
    name: &str,
    principal: &Principal,
) -> Result<usize, GatewayError> {
    let not_found = || GatewayError::ModelNotFound {
        model: name.to_owned(),
    };
    let &index = gateway.model_index.get(name).ok_or_else(not_found)?;
    match gateway.access.decide(principal, index, name) {
        state::Access::Allowed => {}
        state::Access::DeniedToEntity => return Err(not_found()),
        state::Access::DeniedToKey => {
            return Err(GatewayError::ModelNotAllowed {
                model: name.to_owned(),
            });
        }
    }
    let model = &gateway.models[index];
    let (expected, route) = match operation {
        Operation::Chat => (ModelKind::Chat, "/v1/chat/completions"),
        Operation::Embeddings => (ModelKind::Embeddings, "/v1/embeddings"),
        Operation::Fim => (ModelKind::Fim, "/v1/fim/completions"),
    };
    if model.kind != expected {
        return Err(GatewayError::WrongModelKind {
            model: name.to_owned(),
            kind: model.kind.as_str(),
            route,
        });
    }
    Ok(index)
}

/// The caller's `x-request-id` when it is reasonable, a fresh one otherwise.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get("x-request-id")
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| {
            let id = uuid::Uuid::now_v7().simple().to_string();
            HeaderValue::try_from(id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
        })
}

fn json_response(status: StatusCode, bytes: bytes::Bytes) -> Response {
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready once the state is built; reports each endpoint's circuit so operators see what is down.
async fn readyz(State(gateway): State<Arc<Gateway>>) -> Response {
    let endpoints: Vec<_> = gateway
        .health
        .status()
        .into_iter()
        .map(|s| serde_json::json!({"name": s.name, "state": s.state.as_str(), "outstanding": s.outstanding}))
        .collect();
    axum::Json(serde_json::json!({"status": "ready", "endpoints": endpoints})).into_response()
}

async fn metrics(State(gateway): State<Arc<Gateway>>) -> Response {
    // Circuit states change on the request path; reading them at scrape time costs it nothing.
    for endpoint in gateway.health.status() {
        gateway
            .metrics
            .set_circuit(&endpoint.name, endpoint.state.as_str());
    }
    gateway.scheduling.record_metrics(&gateway.metrics);
    let mut response = gateway.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
