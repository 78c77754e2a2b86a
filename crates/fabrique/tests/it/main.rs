//! End-to-end tests of `fabrique serve`: the real server on a loopback port, real simulators as GPU
//! backends, real HTTP in between.

// A test harness fails by panicking; that is how it reports.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod admission;
mod audit;
mod audit_log;
mod authorization;
mod batches;
mod browser;
mod cache;
mod classification;
mod cli;
mod console;
mod durability;
mod edge;
mod engines;
mod exits;
mod factory;
mod failover;
mod files;
mod harness;
mod http2;
mod inference;
mod keys;
mod libraries;
mod lifecycle;
mod limits;
mod metrics;
mod model_access;
mod oidc;
mod openapi;
mod outage;
mod plan;
mod policy;
mod process;
mod relay;
mod reload;
mod replicas;
mod rerank;
mod retention;
mod scheduling;
mod scim;
mod seats;
mod sign_in_links;
mod streaming;
mod traces;
mod usage;
mod validation;
mod web;
mod writers;
