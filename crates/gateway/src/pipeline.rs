//! The request path: one inference request through its stages, in the order they run, each stage
//! handed only the compiled state it needs. What each stage establishes is told to the request's
//! context (`context::Exchange`), through which the request leaves: metered, and its refusal
//! audited, exactly once.
//!
//! [`infer`] is the one entry: the API routes call it, and so can another crate (the web chat
//! sends each message through it in-process, authenticated by the browser's session cookie).
//! [`infer_as`] is the same path for work done on a caller's behalf after their request ended (a
//! batch's lines): stage 1 takes the principal established when the work was submitted, and
//! every other stage runs as for the caller's own request.

use std::sync::Arc;

use admission::Scope;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use domain::{Classification, Operation};
use factory::Invocable;
use http::{HeaderMap, Request};
use identity::Principal;
use tokio::sync::oneshot;
use tracing::{Instrument as _, Span};
use wire::object::RawObject;

use crate::accept::{self, Asked, InferenceRequest, read_body};
use crate::admit;
use crate::answer::AnswerFilter;
use crate::attribute::{self, Caller};
use crate::authenticate::authenticate;
use crate::cache::{self, Keeping, Lookup};
use crate::capture;
use crate::configured::Configured;
use crate::context::{Exchange, Outcome};
use crate::error::GatewayError;
use crate::inspect::inspect;
use crate::invoke::{self, Invocation};
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
    run(gateway, operation, request, Asker::Credentials, None).await
}

/// Who asks: the credentials a request carries, or a principal already established.
enum Asker {
    /// Stage 1 authenticates the request's key, token or session cookie.
    Credentials,
    /// Work done on a caller's behalf: the principal it was submitted by.
    Principal(Arc<Principal>),
}

/// [`infer_reporting`] for a request made on `principal`'s behalf, without their credentials:
/// the caller's own stages from stage 2 on (request-rate limits, seat, attribution from the
/// request's headers, policy, classification, admission, the fair scheduler, metering and audit
/// charged to them).
pub async fn infer_as(
    gateway: &Arc<Gateway>,
    operation: Operation,
    principal: Arc<Principal>,
    request: Request<Body>,
) -> (Response, oneshot::Receiver<Outcome>) {
    let (report, outcome) = oneshot::channel();
    let asker = Asker::Principal(principal);
    let response = run(gateway, operation, request, asker, Some(report)).await;
    (response, outcome)
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
        run(
            gateway,
            operation,
            request,
            Asker::Credentials,
            Some(report),
        )
        .await,
        outcome,
    )
}

async fn run(
    gateway: &Arc<Gateway>,
    operation: Operation,
    request: Request<Body>,
    asker: Asker,
    report: Option<oneshot::Sender<Outcome>>,
) -> Response {
    let (parts, body) = request.into_parts();
    // The configuration in force now is the request's to its end, whatever a reload does.
    let configured = gateway.configured();
    let c = Arc::clone(&configured);
    let mut exchange = Exchange::begin(gateway, configured, operation, &parts.headers, report);
    let root = exchange.span().clone();
    let served = stages(gateway, &c, &mut exchange, &parts.headers, body, asker)
        .instrument(root)
        .await;
    let response = exchange.respond(served);
    // A whole answer's records are handed over by now: it leaves once they are journaled.
    gateway.sinks.settled().await;
    response
}

/// The stages, in the order they run, under the request's configuration `c`. What a stage
/// establishes is told to the exchange, which meters the request and audits its refusal when it
/// leaves (stage 14, `Exchange::finish`).
async fn stages(
    g: &Gateway,
    c: &Configured,
    x: &mut Exchange,
    headers: &HeaderMap,
    body: Body,
    asker: Asker,
) -> Result<Answer, GatewayError> {
    let operation = x.operation();
    // 1. Authenticate. First, before the body is read: an unknown caller costs no read, no parse.
    let principal = match asker {
        Asker::Credentials => {
            authenticate(&g.directory, g.sign_in.as_deref(), headers)
                .instrument(x.stage("authenticate"))
                .await?
        }
        Asker::Principal(principal) => principal,
    };
    let teams = attribute::teams(&g.directory, &principal);
    x.authenticated(&principal, &teams);
    // 2. Count: one request against the request-rate limits of the key, user, teams and entity,
    //    before anything else: a request refused later counts too, and a flood is refused 429
    //    before its body is read.
    let scopes = admit::scopes(&principal, teams.as_deref());
    let counted = admit::count(&g.counters, &scopes, x.started_at())?;
    x.counted(counted);
    // 3. License: a user who holds no seat and can get none is refused before the body too.
    license(&g.seats, &principal, x.started_at())
        .instrument(x.stage("license"))
        .await?;
    // 4. Attribute: the use case and the priority the caller names.
    let mut caller = attribute::attribute(&c.inspector, headers, principal, teams)?;
    invoke::check_label(&g.factory, &mut caller)?;
    x.attributed(&caller);
    // 5. Accept: the body within its size limit, as JSON, and the few fields the gateway reads.
    let bytes = read_body(body, c.config.server.max_body_bytes)
        .instrument(x.stage("accept"))
        .await?;
    let object = accept::parse(&bytes)?;
    let request = accept::fields(operation, &object)?;
    x.accepted(&request);
    // 6. Resolve: the request the model receives, and the models that may answer it.
    let resolving = x.stage("resolve");
    let invocation = invocation(g, x, &resolving, &caller, &request, &object)?;
    let mut resolved = match &invocation {
        Some(invocation) => resolve_invocation(c, x, &resolving, &mut caller, headers, invocation)?,
        None => {
            let chain = resolve_model(c, x, &resolving, &caller, &request)?;
            Resolved::direct(request.asked, chain, bytes.clone(), object)
        }
    };
    // 7. Classify: the level from who asks, how they label the request, and the use case it is
    //    for.
    let principal = &caller.principal;
    let labelled = x.stage("classify");
    let level = labelled.in_scope(|| c.classifier.labelled(principal, headers))?;
    let stated = caller.registered.as_ref().and_then(|u| u.level);
    let level = c.classifier.with_use_case(level, stated);
    // 8. Inspect: the data policy on the content, which may raise the level, refuse the request or
    //    rewrite it; then only endpoints cleared for the level may receive it.
    let (level, filter) = inspect_content(g, c, x, &caller, &mut resolved, level)?;
    // 9. Cache: the answer this entity was given for the same request, served again at no GPU
    //    cost, before anything is charged or waited for; else where this one's answer is kept.
    let keeping = match look_up(c, x, &caller, &resolved, filter.is_some()) {
        Lookup::Hit(answer) => return Ok(Answer::Cached(answer)),
        Lookup::Miss(keeping) => Some(keeping),
        Lookup::Off => None,
    };
    // 10. Admit: token limits and budgets of the key, user, teams and entity, all charged or none.
    let estimate = admit_tokens(g, c, x, principal, (scopes, counted), &resolved).await?;
    // 11. Schedule: wait for a sequence of the model's GPU pool, shared fairly between entities.
    let (chain, asked) = (&resolved.chain, resolved.asked);
    let ticket = schedule::ticket(principal, caller.wanted, estimate);
    let placed = (&c.placement, &c.catalog);
    let waiting = schedule(&g.scheduling, placed, chain, principal, &ticket);
    let dispatch = waiting.instrument(x.stage("schedule")).await?;
    x.scheduled(dispatch);
    // 12. Route: an endpoint cleared for the level, failing over, then to the fallbacks.
    let outgoing = outgoing(x, &caller, (resolved.body, resolved.object), asked, ticket);
    let sending = route(c, &g.scheduling, chain, level, outgoing, x.started());
    let mut routed = sending.instrument(x.stage("route")).await?;
    x.routed(&mut routed);
    // 13. Relay: the answer back to the caller, through the policy's answer filter; a use case's
    //     structured answer checked against its output schema; kept when the request is cached.
    let model = c.catalog.model(routed.model);
    let timeout = c.config.server.request_timeout;
    let relaying = relay(routed, model, asked.stream, filter, timeout);
    let answer = relaying.instrument(x.stage("relay")).await?;
    let answer = match resolved.invoked {
        Some(target) => invoke::checked(target, answer),
        None => answer,
    };
    Ok(match keeping {
        Some(keeping) => keep(keeping, answer),
        None => answer,
    })
}

/// What stage 6 establishes: the request the model receives (the caller's, or the one a use
/// case's version composes) and the models that may answer it, in order.
struct Resolved<'a> {
    body: Bytes,
    object: RawObject<'a>,
    asked: Asked,
    chain: Chain,
    /// The use case invoked, whose output schema the answer is checked against.
    invoked: Option<&'a Invocable>,
}

impl<'a> Resolved<'a> {
    /// The caller's own request, to the model it names.
    fn direct(asked: Asked, chain: Chain, body: Bytes, object: RawObject<'a>) -> Resolved<'a> {
        Resolved {
            body,
            object,
            asked,
            chain,
            invoked: None,
        }
    }
}

/// Stage 6's question (in the one `resolve` span its three parts share): does the request name a use case (`usecase/<slug>`), and which version?
fn invocation(
    g: &Gateway,
    x: &Exchange,
    resolving: &Span,
    caller: &Caller,
    request: &InferenceRequest<'_>,
    object: &RawObject<'_>,
) -> Result<Option<Invocation>, GatewayError> {
    let (principal, model) = (&caller.principal, &request.model);
    let operation = x.operation();
    resolving.in_scope(|| invoke::invoke(&g.factory, principal, operation, model, object))
}

/// Stage 6 for a model name: the model exists, serves this operation, the caller may use it,
/// and the request can fit its context.
fn resolve_model(
    c: &Configured,
    x: &mut Exchange,
    resolving: &Span,
    caller: &Caller,
    request: &InferenceRequest<'_>,
) -> Result<Chain, GatewayError> {
    let (catalog, access, principal) = (&c.catalog, &c.access, &caller.principal);
    let operation = x.operation();
    let chain = resolving.in_scope(|| resolve(catalog, access, operation, request, principal))?;
    x.resolved(&chain);
    Ok(chain)
}

/// Stage 6 for `usecase/<slug>`: the version's request, which the later stages see instead of
/// the caller's, charged to the use case and scheduled in its priority class.
fn resolve_invocation<'a>(
    c: &Configured,
    x: &mut Exchange,
    resolving: &Span,
    caller: &mut Caller,
    headers: &HeaderMap,
    invocation: &'a Invocation,
) -> Result<Resolved<'a>, GatewayError> {
    invoke::attribute(caller, invocation, headers)?;
    x.attributed(caller);
    let body = &invocation.body;
    let object = accept::parse(body)?;
    let request = accept::fields(x.operation(), &object)?;
    let (catalog, access, principal) = (&c.catalog, &c.access, &caller.principal);
    let chain = resolving.in_scope(|| {
        invoke::chain(
            catalog,
            access,
            x.operation(),
            invocation,
            &request,
            principal,
        )
    })?;
    x.resolved(&chain);
    let (body, asked, invoked) = (body.clone(), request.asked, Some(&invocation.target));
    Ok(Resolved {
        body,
        object,
        asked,
        chain,
        invoked,
    })
}

/// Stage 8: the caller's data policy on the request's content, its capture for retention, the
/// clearance of the level it leaves with. The body to send is rewritten in place when values were
/// redacted or pseudonymized; the answer goes through the filter returned.
fn inspect_content(
    g: &Gateway,
    c: &Configured,
    x: &mut Exchange,
    caller: &Caller,
    resolved: &mut Resolved<'_>,
    level: Classification,
) -> Result<(Classification, Option<AnswerFilter>), GatewayError> {
    let (principal, object) = (&caller.principal, &resolved.object);
    let model = &c.catalog.model(resolved.chain.model()).name;
    let subject = Subject::new(principal, caller.use_case(), x.id(), model);
    let inspected = x.stage("inspect").in_scope(|| {
        let audit = &g.sinks.audit;
        inspect(&c.inspector, &c.classifier, audit, object, level, &subject)
    })?;
    let content = g.sinks.content.as_ref();
    let kept = capture::begin(content, &c.retention, principal, x.operation(), object);
    let level = inspected.level;
    x.inspected(level, kept, inspected.protected);
    check_clearance(&c.catalog, &c.classifier, &resolved.chain, level)?;
    if let Some((body, object)) = inspected.rewritten {
        (resolved.body, resolved.object) = (body, object);
    }
    trace_input(c, x.span(), caller, &resolved.object);
    Ok((level, inspected.answer))
}

/// Stage 9: the response cache, for the request as the model would receive it.
fn look_up(
    c: &Configured,
    x: &Exchange,
    caller: &Caller,
    resolved: &Resolved<'_>,
    answer_filtered: bool,
) -> Lookup {
    if !c.cache.is_on() {
        return Lookup::Off; // no span either: a cache that is off costs a request nothing
    }
    let request = cache::Request {
        principal: &caller.principal,
        use_case: caller.attribution.use_case(),
        model: resolved.chain.model(),
        operation: x.operation(),
        object: &resolved.object,
        answer_filtered,
    };
    x.stage("cache")
        .in_scope(|| c.cache.look_up(&request, x.started()))
}

/// Stage 13's answer, kept by the cache when it is a complete success: a whole body now, a
/// stream's events when it ends with `[DONE]`.
fn keep(keeping: Keeping, answer: Answer) -> Answer {
    match answer {
        Answer::Whole {
            status,
            ref bytes,
            refused: None,
            ..
        } if status.is_success() => {
            keeping.keep_whole(bytes);
            answer
        }
        Answer::Stream(mut streaming) => {
            streaming.recording = Some(keeping.record());
            Answer::Stream(streaming)
        }
        other => other,
    }
}

/// Stage 10: the request's estimated tokens charged against every scope's token limits and
/// budgets, all or none; thresholds crossed are announced.
async fn admit_tokens(
    g: &Gateway,
    c: &Configured,
    x: &mut Exchange,
    principal: &Principal,
    (scopes, counted): (Vec<Scope>, counters::Counted),
    resolved: &Resolved<'_>,
) -> Result<Estimate, GatewayError> {
    let model = c.catalog.model(resolved.chain.model());
    let (asked, body_len) = (resolved.asked, resolved.body.len());
    let default_completion = c.config.admission.default_completion_tokens;
    let estimate = Estimate::new(
        body_len,
        asked.max_tokens,
        asked.choices,
        default_completion,
        model.context_length,
    );
    let priced = (estimate, model.price);
    let admitting = admit::admit(&g.counters, scopes, priced, counted, x.started_at());
    let admitted = admitting.instrument(x.stage("admit")).await;
    // Admitted or refused, the admission stage settled the request's count.
    x.counted(counters::Counted::Done);
    let admitted = admitted?;
    let audit = &g.sinks.audit;
    let crossed = &admitted.thresholds_crossed;
    admit::announce_thresholds(audit, principal, x.id(), crossed, x.started_at());
    x.admitted(admitted, estimate);
    Ok(estimate)
}

/// Stage 12's request: what every endpoint tried is sent.
fn outgoing<'a>(
    x: &'a Exchange,
    caller: &Caller,
    (original, object): (Bytes, RawObject<'a>),
    asked: Asked,
    ticket: scheduler::Ticket,
) -> Outgoing<'a> {
    let principal = &caller.principal;
    Outgoing {
        original,
        requested_model: x.requested_model(),
        object,
        operation: x.operation(),
        stream: asked.stream,
        include_usage: asked.include_usage,
        request_id: x.request_id(),
        priority: caller.wanted.priority,
        salt: CacheSalt::of(principal.entity_id),
        ticket: x.held_pool().is_some().then_some(ticket),
        held_pool: x.held_pool(),
    }
}

/// Content reaches a trace only when the caller's policy says so, and only as the model sees it;
/// never for an entity whose retention is `none`, whatever a use case's policy says.
fn trace_input(c: &Configured, span: &Span, caller: &Caller, object: &RawObject<'_>) {
    if span.is_disabled() {
        return;
    }
    let principal = &caller.principal;
    let (use_case, registered) = caller.use_case();
    let entity = principal.entity_slug.as_deref();
    if c.inspector
        .policy_for(principal, use_case, registered)
        .trace_content
        && c.retention.of(entity) != configuration::Retention::None
    {
        spans::input_content(span, object);
    }
}
