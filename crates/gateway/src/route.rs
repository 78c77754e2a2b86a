//! Stage 12, route: send the request to an endpoint of the model, failing over to another endpoint and
//! then to the model's fallbacks while nothing has reached the caller yet.
//!
//! An attempt fails over on a connection error, on no response headers before the per-attempt
//! timeout, or on a 5xx or 429 status. A 4xx other than 429 is the caller's problem and is returned
//! as the backend gave it. The number of attempts and the total time are bounded.
//!
//! Which endpoint: with scheduling on (or prefix affinity), never one at its capacity — among the
//! others, where the chat prompt's prefix is probably cached (`routing::PrefixIndex`, the prompt
//! cut once into blocks), unless that endpoint is busier than the least loaded by more than
//! `prefix_max_load_gap`; then the least loaded by outstanding ÷ capacity. Only when every
//! candidate is at capacity (a pool whose endpoints serve different models) does the plain
//! least-outstanding choice apply. A failed attempt re-sizes the pools, since a circuit may have
//! opened.
//!
//! Prefix caches are kept apart per entity ([`CacheSalt`]): routing's prefix index hashes a
//! prompt's blocks under the caller's entity, and endpoints that take vLLM's `cache_salt` get the
//! entity's, replacing any the caller sent — so no entity's prompts warm another's cache, steer
//! its routing, or can be timed by it.
//!
//! The candidates are the request's chain (`resolve::Chain`): its model, then its fallbacks. Only
//! endpoints cleared for the request's classification are tried; when none of the chain's is,
//! [`check_clearance`] refuses the request at the inspect stage, before anything is sent anywhere.

use std::time::Instant;

use bytes::Bytes;
use domain::{Classification, Dialect, EndpointIdx, EndpointKind, EntityId, ModelIdx, Operation};
use http::{HeaderValue, StatusCode};
use hyper::body::Incoming;
use routing::Lease;
use upstream::{RerankAnswer, UpstreamError};
use wire::object::RawObject;

use crate::catalog::{Catalog, ModelRoute};
use crate::classify::Classifier;
use crate::configured::{Configured, Routing};
use crate::error::GatewayError;
use crate::resolve::Chain;
use crate::schedule::{FallbackSequence, Scheduling};

/// A backend response with headers received, and what led to it.
#[derive(Debug)]
pub(crate) struct Routed {
    pub response: http::Response<Incoming>,
    /// Holds the endpoint's outstanding-request slot until the relay finishes.
    pub lease: Lease,
    /// The model that answered: the requested one or a fallback.
    pub model: ModelIdx,
    pub attempts: u32,
    /// The usage chunk was requested by the gateway, not the caller, and must be dropped.
    pub injected_usage_request: bool,
    /// The sequence of the answering model's pool, when that is not the pool the request was
    /// scheduled in.
    pub fallback_dispatch: Option<scheduler::Dispatch>,
    /// The wire format of the answer (another than the caller's for FIM on most engines).
    pub dialect: Dialect,
    /// Turns an engine's own rerank answer into the caller's shape, when it has another.
    pub rerank: Option<RerankAnswer>,
}

/// A caller's request, parsed, plus what routing needs to rebuild its body for each attempt.
pub(crate) struct Outgoing<'a> {
    /// The body as the caller sent it, forwarded as is when no attempt needs to change it.
    pub original: Bytes,
    /// The model name the caller sent.
    pub requested_model: &'a str,
    pub object: RawObject<'a>,
    pub operation: Operation,
    pub stream: bool,
    pub include_usage: bool,
    pub request_id: &'a HeaderValue,
    /// Forwarded to endpoints that take it (`domain::engine`) when `[scheduling] forward_priority`
    /// is on.
    pub priority: scheduler::Priority,
    /// The caller's entity's salt for prefix caches.
    pub salt: CacheSalt,
    /// What the request was admitted with, and the pool it holds a sequence of; `None` when it
    /// was not scheduled. A candidate model of another pool takes a sequence there with it.
    pub ticket: Option<scheduler::Ticket>,
    pub held_pool: Option<&'a str>,
}

/// The salt of an entity's prompts in prefix caches: its id (principals of no entity share one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheSalt {
    text: [u8; 32],
}

impl CacheSalt {
    pub fn of(entity: Option<EntityId>) -> CacheSalt {
        let mut text = [b'0'; 32];
        if let Some(entity) = entity {
            entity.0.simple().encode_lower(&mut text);
        }
        CacheSalt { text }
    }

    pub fn as_str(&self) -> &str {
        // Hexadecimal digits only, written above.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }
}

/// Why the last attempt failed, to choose the caller's error once every attempt has.
enum LastFailure {
    None,
    Timeout,
    RateLimited(Option<HeaderValue>),
    Other(String),
}

/// Refuses a request no endpoint of the model or its fallbacks is cleared to receive, before anything
/// is sent anywhere.
pub(crate) fn check_clearance(
    catalog: &Catalog,
    classifier: &Classifier,
    chain: &Chain,
    level: Classification,
) -> Result<(), GatewayError> {
    let cleared = chain
        .iter()
        .any(|m| !catalog.model(m).cleared_for(level).is_empty());
    if cleared {
        Ok(())
    } else {
        Err(GatewayError::ClassificationNotPermitted {
            level: classifier.name(level).to_owned(),
            model: catalog.model(chain.model()).name.clone(),
        })
    }
}

/// Tries the model's endpoints cleared for `level`, then its fallbacks' cleared endpoints, until one
/// answers.
pub(crate) async fn route(
    configured: &Configured,
    scheduling: &Scheduling,
    chain: &Chain,
    level: Classification,
    outgoing: Outgoing<'_>,
    started: Instant,
) -> Result<Routed, GatewayError> {
    let Configured {
        catalog,
        placement,
        routing:
            Routing {
                client,
                health,
                settings,
                metrics,
            },
        ..
    } = configured;
    let deadline = started + settings.deadline;
    let mut attempts = 0u32;
    let mut last = LastFailure::None;
    let mut body_cache: Option<(ModelIdx, EndpointKind, Bytes, bool)> = None;
    let blocks = if placement.prefix_affinity && outgoing.operation == Operation::Chat {
        crate::texts::prompt_blocks(&outgoing.object, outgoing.salt.as_str().as_bytes())
    } else {
        Vec::new()
    };
    let capacity_aware = scheduling.gates_capacity() || placement.prefix_affinity;

    let mut fallback_dispatch: Option<scheduler::Dispatch>;
    'models: for candidate_model in chain.iter() {
        match placement.fallback(
            outgoing.held_pool,
            candidate_model,
            outgoing.ticket.as_ref(),
        ) {
            FallbackSequence::Covered => fallback_dispatch = None,
            // Replacing an earlier candidate's sequence frees it.
            FallbackSequence::Taken(dispatch) => fallback_dispatch = Some(dispatch),
            FallbackSequence::Busy => continue 'models,
        }
        let route = catalog.model(candidate_model);
        let cleared = route.cleared_for(level);
        let mut tried: Vec<EndpointIdx> = Vec::with_capacity(cleared.len());
        while attempts < settings.max_attempts {
            let picked = if capacity_aware {
                health
                    .pick_with_prefix(
                        cleared,
                        &tried,
                        &placement.prefixes,
                        &blocks,
                        placement.prefix_max_load_gap,
                    )
                    .or_else(|| health.pick(cleared, &tried))
            } else {
                health.pick(cleared, &tried)
            };
            let Some(lease) = picked else {
                continue 'models;
            };
            let endpoint = catalog.endpoint(lease.index());
            tried.push(lease.index());
            attempts += 1;

            let (body, injected) = match &body_cache {
                Some((m, k, body, injected)) if *m == candidate_model && *k == endpoint.kind => {
                    (body.clone(), *injected)
                }
                _ => {
                    let priority = (placement.forward_priority
                        && endpoint.kind.forwards_priority())
                    .then_some(outgoing.priority);
                    let (body, injected) = build_body(&outgoing, route, endpoint.kind, priority)?;
                    body_cache = Some((candidate_model, endpoint.kind, body.clone(), injected));
                    (body, injected)
                }
            };

            let now = Instant::now();
            if now >= deadline {
                last = LastFailure::Timeout;
                break 'models;
            }
            let timeout = settings.first_byte_timeout.min(deadline - now);
            let upstream = upstream_route(endpoint.kind, outgoing.operation)?;
            match client
                .post_json(
                    &endpoint.target,
                    upstream.path,
                    body,
                    outgoing.request_id,
                    timeout,
                )
                .await
            {
                Ok(response) if is_retryable(response.status()) => {
                    let status = response.status();
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        // Busy, not broken: try elsewhere but leave the circuit alone.
                        last = LastFailure::RateLimited(
                            response.headers().get(http::header::RETRY_AFTER).cloned(),
                        );
                    } else {
                        lease.failed();
                        scheduling.refresh_capacity();
                        last = LastFailure::Other(format!(
                            "endpoint `{}` answered {status}",
                            endpoint.name
                        ));
                    }
                    metrics.backend_error(
                        &endpoint.name,
                        if status.as_u16() == 429 {
                            "rate_limited"
                        } else {
                            "status_5xx"
                        },
                    );
                    tracing::warn!(endpoint = %endpoint.name, %status, attempts, "attempt failed, failing over");
                }
                Ok(response) => {
                    lease.succeeded();
                    if !blocks.is_empty() {
                        placement.prefixes.record(lease.index(), &blocks);
                    }
                    return Ok(Routed {
                        response,
                        lease,
                        model: candidate_model,
                        attempts,
                        injected_usage_request: injected,
                        fallback_dispatch,
                        dialect: upstream.dialect,
                        rerank: RerankAnswer::new(
                            upstream.dialect,
                            &route.upstream_name,
                            &outgoing.object,
                        ),
                    });
                }
                Err(error) => {
                    lease.failed();
                    scheduling.refresh_capacity();
                    let reason = match &error {
                        UpstreamError::Timeout(_) => "timeout",
                        UpstreamError::Connect(_) => "connect",
                        UpstreamError::Request(_) | UpstreamError::InvalidUrl(_) => "request",
                    };
                    metrics.backend_error(&endpoint.name, reason);
                    tracing::warn!(endpoint = %endpoint.name, %error, attempts, "attempt failed, failing over");
                    last = match error {
                        UpstreamError::Timeout(_) => LastFailure::Timeout,
                        other => {
                            LastFailure::Other(format!("endpoint `{}`: {other}", endpoint.name))
                        }
                    };
                }
            }
        }
        break;
    }

    let model_name = catalog.model(chain.model()).name.clone();
    Err(match last {
        LastFailure::None => GatewayError::NoEndpointAvailable { model: model_name },
        LastFailure::Timeout => GatewayError::UpstreamTimeout {
            model: model_name,
            attempts,
        },
        LastFailure::RateLimited(retry_after) => GatewayError::UpstreamRateLimited {
            model: model_name,
            retry_after,
        },
        LastFailure::Other(last) => GatewayError::UpstreamFailed {
            model: model_name,
            attempts,
            last,
        },
    })
}

/// Where and how `kind` serves `operation`. Resolve refuses the models with an endpoint that has
/// no route for their operation, and their fallbacks likewise, so none is met here.
fn upstream_route(
    kind: EndpointKind,
    operation: Operation,
) -> Result<domain::UpstreamRoute, GatewayError> {
    kind.route(operation).ok_or_else(|| {
        GatewayError::UpstreamBody(format!(
            "{} endpoints have no route for {}",
            kind.as_str(),
            operation.as_str()
        ))
    })
}

fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// The body for one attempt: the backend's model name, usage requested on streams, the priority
/// when it is forwarded, the kind's adaptations and dialect. Returns whether the gateway added the
/// usage request itself.
fn build_body(
    outgoing: &Outgoing<'_>,
    model: &ModelRoute,
    kind: EndpointKind,
    priority: Option<scheduler::Priority>,
) -> Result<(Bytes, bool), GatewayError> {
    let upstream_name = model.upstream_name.as_str();
    let dialect = upstream_route(kind, outgoing.operation)?.dialect;
    let inject = outgoing.stream && !outgoing.include_usage && kind.usage_on_request();
    // A reranker's request has no prompt to cache: vLLM's takes no salt.
    let salt = (kind.accepts_cache_salt() && outgoing.operation != Operation::Rerank)
        .then(|| outgoing.salt.as_str());
    if !inject
        && priority.is_none()
        && salt.is_none()
        && upstream_name == outgoing.requested_model
        && !upstream::adapt::rewrites(kind)
        && dialect == Dialect::Native
    {
        // The common case: same model name, nothing to add or adapt. No copy, no re-serialization.
        return Ok((outgoing.original.clone(), false));
    }
    let mut object = outgoing.object.clone();
    let internal = |e: serde_json::Error| GatewayError::UpstreamBody(e.to_string());
    object.set_str("model", upstream_name).map_err(internal)?;
    if inject {
        object
            .set_raw("stream_options", r#"{"include_usage":true}"#.to_owned())
            .map_err(internal)?;
    }
    if let Some(priority) = priority {
        // The caller's own `priority` would let it jump the backend's queue: the gateway's wins.
        object
            .set_raw(
                "priority",
                crate::schedule::vllm_priority(priority).to_string(),
            )
            .map_err(internal)?;
    }
    if let Some(salt) = salt {
        // The caller's own salt would let it share another entity's cache: the gateway's wins.
        object
            .set_raw("cache_salt", format!("\"{salt}\""))
            .map_err(internal)?;
    }
    upstream::adapt_request(kind, &mut object);
    upstream::fim_request(dialect, &mut object, &model.fim_template).map_err(internal)?;
    upstream::rerank_request(dialect, &mut object).map_err(internal)?;
    Ok((Bytes::from(object.to_vec()), inject))
}
