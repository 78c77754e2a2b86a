//! HTTP to GPU backends.
//!
//! One pooled, keep-alive HTTP client shared by every endpoint (`client`), and the per-kind adaptation
//! of request bodies (`adapt`) so a caller never meets a backend's vague rejection of a field it does
//! not know. This crate decides nothing about *which* endpoint to call: that is `routing`'s job.

pub mod adapt;
pub mod client;

pub use adapt::adapt_request;
pub use client::{EndpointTarget, UpstreamClient, UpstreamError};
