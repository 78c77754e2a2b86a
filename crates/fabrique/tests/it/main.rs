//! End-to-end tests of `fabrique serve`: the real server on a loopback port, real simulators as GPU
//! backends, real HTTP in between.

mod failover;
mod harness;
mod inference;
mod keys;
mod streaming;
