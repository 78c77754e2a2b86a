//! HTTP to GPU backends.
//!
//! One pooled, keep-alive HTTP client shared by every endpoint (`client`), the per-kind adaptation
//! of request bodies (`adapt`) so a caller never meets a backend's vague rejection of a field it does
//! not know, and fill-in-the-middle and reranking in each engine's dialect (`fim`, `rerank`). What differs per kind is
//! decided in `domain::engine`; this crate carries it out. It decides nothing about *which*
//! endpoint to call: that is `routing`'s job.

pub mod adapt;
pub mod client;
pub mod fim;
pub mod rerank;

pub use adapt::adapt_request;
pub use client::{EndpointTarget, UpstreamClient, UpstreamError};
pub use fim::{FimAnswer, fim_request};
pub use rerank::{RerankAnswer, rerank_request};
