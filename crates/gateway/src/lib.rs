//! The inference API: `/v1/chat/completions`, `/v1/embeddings`, `/v1/fim/completions`,
//! `/v1/rerank`, `/v1/models`, plus `/healthz`, `/readyz` and `/metrics` (`api`).
//!
//! One inference request runs through fourteen stages, one module each, in this order
//! ([`pipeline`](crate::infer)):
//!
//! | # | stage | module | what it establishes or refuses |
//! |---|---|---|---|
//! | 1 | authenticate | `authenticate` | the caller, from a key, access token or session; before the body is read |
//! | 2 | count | `admit` | one request against the caller's request-rate limits, refused or not |
//! | 3 | license | `license` | a user holds a seat |
//! | 4 | attribute | `attribute` | teams charged, use case and priority named |
//! | 5 | accept | `accept` | the body, within its limit, as JSON |
//! | 6 | resolve | `resolve`, `invoke` | the model and the fallbacks the caller may use; or the use case invoked (`usecase/<slug>`) and its version's request |
//! | 7 | classify | `classify` | the level from the caller and their label |
//! | 8 | inspect | `inspect` | the data policy; the level raised by personal data; clearance |
//! | 9 | cache | `cache` | the answer the entity had for the same request, at no GPU cost; else where this one's is kept |
//! | 10 | admit | `admit` | token limits and budgets, charged with an estimate |
//! | 11 | schedule | `schedule` | a sequence of the model's GPU pool, shared fairly |
//! | 12 | route | `route` | an endpoint that answers, failing over |
//! | 13 | relay | `relay` | the answer, whole or streamed, through the answer filter |
//! | 14 | meter | `meter` | the usage record, metrics, settlement; once, however the request ends |
//!
//! The request's context (`context`) learns what each stage establishes and is the one exit:
//! every request is metered, and its refusal audited, exactly once. The request path reads only
//! in-memory state (`state`); records leave it through channels to batch writers.
//!
//! What the configuration file says of the request path — models, endpoints, entities' model
//! access and classification, data policies and use cases, retention, the response cache,
//! `[routing]` and the scheduling settings — is compiled into
//! one immutable value (`configured`) that a request loads once, as it arrives (one atomic load),
//! and every stage reads to the request's last byte. [`Gateway::prepare`] compiles a reloaded
//! file whole, refusing it without a trace when an endpoint cannot be called, and
//! [`Prepared::put_in_force`] swaps it in for the requests that arrive next; those in flight,
//! streams included, finish on theirs; an endpoint the new file removed is retired for them too.
//! Endpoints' circuits and requests in flight, prefix memory, the GPU pools' lines and shares and
//! the models' metrics carry over by name. Below the stages are leaf modules that import none of them:
//! `catalog` (models and endpoints), `headers`, `price`, `error`, `structured` (a use case's
//! output schema checked).

mod accept;
mod admit;
mod answer;
mod api;
mod attribute;
mod authenticate;
mod cache;
mod capture;
mod catalog;
mod classify;
mod configured;
mod context;
mod error;
mod feedback;
mod headers;
mod health;
mod inspect;
mod invoke;
mod license;
mod meter;
mod pipeline;
mod policies;
mod price;
mod relay;
mod relayed;
mod resolve;
mod route;
mod schedule;
mod sharing;
mod spans;
mod state;
mod structured;
mod texts;

pub use api::openapi::InferenceApi;
pub use api::router;
pub use context::Outcome;
pub use error::json_error;
pub use headers::{PERSONAL_DATA_HEADER, QUEUE_WAIT_HEADER, client_request_id, request_id};
pub use health::spawn_health_checks;
pub use meter::Sinks;
pub use pipeline::{infer, infer_as, infer_reporting};
pub use schedule::Scheduling;
pub use sharing::spawn_sharing;
pub use state::{Gateway, InvalidEndpoints, Prepared};
