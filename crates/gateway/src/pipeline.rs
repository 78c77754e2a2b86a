//! The request path: one inference request through its stages, in the order they run, each stage
//! handed only the compiled state it needs. What each stage establishes is told to the request's
//! context (`context::Exchange`), through which the request leaves: metered, and its refusal
//! audited, exactly once.
//!
//! [`infer`] is the one entry: the API routes call it, and so can another crate (the web chat
//! sends each message through it in-process, authenticated by the browser's session cookie).

use std::sync::Arc;

use admission::Scope;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use domain::Operation;
use factory::Invocable;
use http::{HeaderMap, Request};
use tokio::sync::oneshot;
use tracing::{Instrument as _, Span};
use wire::object::RawObject;

use crate::accept::{self, Asked, read_body};
use crate::admit;
use crate::attribute::{self, Caller};
use crate::authenticate::authenticate;
use crate::capture;
use crate::context::{Exchange, Outcome};
use crate::error::GatewayError;
use crate::inspect::inspect;
use crate::invoke;
use crate::license::license;
use crate::policies::Subject;
use crate::price::Estimate;
use crate::relay::{Answer, relay};
use crate::resolve::{Chain, resolve};
use crate::route::{CacheSalt, Outgoing, check_clearance, route};
use crate::schedule::{self, schedule};
use crate::spans;
use crate::state::Gateway;

/// One inference request through the whole pipeline. `request` carries the caller's credentials
/// (an API key or access token as bearer, or the session cookie) and the JSON body; the response
/// is the API's, a stream of server-sent events when the request asks for one. Every response
/// carries the request's `x-request-id`.
pub async fn infer(
    gateway: &Arc<Gateway>,
    operation: Operation,
    request: Request<Body>,
) -> Response {
    run(gateway, operation, request, None).await
}

/// [`infer`], and the request's [`Outcome`] once it is metered — for a stream, when the stream
/// ends (a receiver whose sender is gone means the request was dropped before it began).
pub async fn infer_reporting(
    gateway: &Arc<Gateway>,
    operation: Operation,
    request: Request<Body>,
) -> (Response, oneshot::Receiver<Outcome>) {
    let (report, outcome) = oneshot::channel();
    (
        run(gateway, operation, request, Some(report)).await,
        outcome,
    )
}

async fn run(
    gateway: &Arc<Gateway>,
    operation: Operation,
    request: Request<Body>,
    report: Option<oneshot::Sender<Outcome>>,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut exchange = Exchange::begin(gateway, operation, &parts.headers, report);
    let root = exchange.span().clone();
    let served = stages(gateway, &mut exchange, &parts.headers, body)
        .instrument(root)
        .await;
    let response = exchange.respond(served);
    // A whole answer's records are handed over by now: it leaves once they are journaled.
    gateway.sinks.settled().await;
    response
}

/// The stages, in the order they run.
async fn stages(
    g: &Gateway,
    x: &mut Exchange,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answer, GatewayError> {
    let operation = x.operation();
    // 1. Authenticate. First, before the body is read: an unknown caller costs no read, no parse.
    let principal = authenticate(&g.directory, g.sign_in.as_deref(), headers)
        .instrument(x.stage("authenticate"))
        .await?;
    let teams = attribute::teams(&g.directory, &principal);
    x.authenticated(&principal, &teams);
    // 2. Count: one request against the request-rate limits of the key, user, teams and entity,
    //    before anything else: a request refused later counts too, and a flood is refused 429
    //    before its body is read.
    let scopes = admit::scopes(&principal, teams.as_deref());
    admit::count(&g.admission, &scopes, x.started_at())?;
    // 3. License: a user who holds no seat and can get none is refused before the body too.
    x.stage("license")
        .in_scope(|| license(&g.seats, &principal, x.started_at()))?;
    // 4. Attribute: the use case and the priority the caller names.
    let mut caller = attribute::attribute(&g.inspector, headers, principal, teams)?;
    invoke::check_label(&g.factory, &caller)?;
    x.attributed(&caller);
    // 5. Accept: the body within its size limit, as JSON, and the few fields the gateway reads.
    let bytes = read_body(body, g.config.server.max_body_bytes)
        .instrument(x.stage("accept"))
        .await?;
    let object = accept::parse(&bytes)?;
    let request = accept::fields(operation, &object)?;
    x.accepted(&request);
    // 6. Resolve: a use case invoked (`usecase/<slug>`) gives its version's request, which the
    //    later stages see instead of the caller's; else the model exists, serves this operation,
    //    the caller may use it, and the request can fit its context.
    let resolving = x.stage("resolve");
    let asked = request.asked;
    let invocation = resolving.in_scope(|| {
        let model = &request.model;
        invoke::invoke(
            &g.factory,
            &caller.principal,
            operation,
            model,
            &object,
            asked.stream,
        )
    })?;
    let Some(invocation) = invocation else {
        let principal = &caller.principal;
        let chain = resolving
            .in_scope(|| resolve(&g.catalog, &g.access, operation, &request, principal))?;
        x.resolved(&chain);
        let request = (bytes.clone(), object, asked);
        return serve(g, x, &caller, headers, scopes, request, chain, None).await;
    };
    invoke::attribute(&mut caller, &invocation, headers)?;
    x.attributed(&caller);
    let composed = invocation.body.clone();
    let object = accept::parse(&composed)?;
    let request = accept::fields(operation, &object)?;
    let chain = resolving.in_scope(|| {
        invoke::chain(
            &g.catalog,
            &g.access,
            operation,
            &invocation,
            &request,
            &caller.principal,
        )
    })?;
    x.resolved(&chain);
    let target = Some(&invocation.target);
    let asked = request.asked;
    let request = (composed.clone(), object, asked);
    serve(g, x, &caller, headers, scopes, request, chain, target).await
}

/// Stages 7 to 13, on the request the model receives: the caller's, or the use case's.
#[expect(
    clippy::too_many_arguments,
    reason = "the request's state between resolve and relay"
)]
async fn serve(
    g: &Gateway,
    x: &mut Exchange,
    caller: &Caller,
    headers: &HeaderMap,
    scopes: Vec<Scope>,
    (bytes, object, asked): (Bytes, RawObject<'_>, Asked),
    chain: Chain,
    invoked: Option<&Invocable>,
) -> Result<Answer, GatewayError> {
    let operation = x.operation();
    let principal = &caller.principal;
    let model = g.catalog.model(chain.model());
    // 7. Classify: the level from who asks and how they label the request.
    let level = x
        .stage("classify")
        .in_scope(|| g.classifier.labelled(principal, headers))?;
    // 8. Inspect: the data policy on the content, which may raise the level, refuse the request or
    //    rewrite it; then only endpoints cleared for the level may receive it.
    let subject = Subject::new(
        principal,
        caller.attribution.use_case(),
        x.id(),
        &model.name,
    );
    let inspected = x.stage("inspect").in_scope(|| {
        let audit = &g.sinks.audit;
        inspect(&g.inspector, &g.classifier, audit, &object, level, &subject)
    })?;
    let content = g.sinks.content.as_ref();
    let kept = capture::begin(content, &g.retention, principal, operation, &object);
    let level = inspected.level;
    x.inspected(level, kept, inspected.protected);
    check_clearance(&g.catalog, &g.classifier, &chain, level)?;
    let (body, object) = inspected
        .rewritten
        .unwrap_or_else(|| (bytes.clone(), object));
    trace_input(g, x.span(), caller, &object);
    // 9. Admit: token limits and budgets of the key, user, teams and entity, all charged or none.
    let default_completion = g.config.admission.default_completion_tokens;
    let estimate = Estimate::new(
        body.len(),
        asked.max_tokens,
        asked.choices,
        default_completion,
        model.context_length,
    );
    let admitted = x
        .stage("admit")
        .in_scope(|| admit::admit(&g.admission, scopes, estimate, model.price, x.started_at()))?;
    let crossed = &admitted.thresholds_crossed;
    admit::announce_thresholds(&g.sinks.audit, principal, x.id(), crossed, x.started_at());
    x.admitted(admitted, estimate);
    // 10. Schedule: wait for a sequence of the model's GPU pool, shared fairly between entities.
    let ticket = schedule::ticket(principal, caller.wanted, estimate);
    let dispatch = schedule(&g.scheduling, &g.catalog, &chain, principal, &ticket)
        .instrument(x.stage("schedule"))
        .await?;
    x.scheduled(dispatch);
    // 11. Route: an endpoint cleared for the level, failing over, then to the fallbacks.
    let outgoing = Outgoing {
        original: body,
        requested_model: x.requested_model(),
        object,
        operation,
        stream: asked.stream,
        include_usage: asked.include_usage,
        request_id: x.request_id(),
        priority: caller.wanted.priority,
        salt: CacheSalt::of(principal.entity_id),
        ticket: x.held_pool().is_some().then_some(ticket),
        held_pool: x.held_pool(),
    };
    let placement = &g.scheduling;
    let mut routed = route(
        &g.routing,
        &g.catalog,
        placement,
        &chain,
        level,
        outgoing,
        x.started(),
    )
    .instrument(x.stage("route"))
    .await?;
    x.routed(&mut routed);
    // 12. Relay: the answer back to the caller, through the policy's answer filter; a use case's
    //     structured answer checked against its output schema.
    // 13. Meter: when the request leaves, in `Exchange::finish`.
    let model = g.catalog.model(routed.model);
    let timeout = g.config.server.request_timeout;
    let answer = relay(routed, model, asked.stream, inspected.answer, timeout)
        .instrument(x.stage("relay"))
        .await?;
    Ok(match invoked {
        Some(target) => invoke::checked(target, answer),
        None => answer,
    })
}

/// Content reaches a trace only when the caller's policy says so, and only as the model sees it;
/// never for an entity whose retention is `none`, whatever a use case's policy says.
fn trace_input(g: &Gateway, span: &Span, caller: &Caller, object: &RawObject<'_>) {
    if span.is_disabled() {
        return;
    }
    let principal = &caller.principal;
    let use_case = caller.attribution.use_case();
    let entity = principal.entity_slug.as_deref();
    if g.inspector.policy_for(principal, use_case).trace_content
        && g.retention.of(entity) != configuration::Retention::None
    {
        spans::input_content(span, object);
    }
}
