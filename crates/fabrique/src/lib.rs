//! The `fabrique` binary's library half: assembling a running server from a configuration, so the
//! command line and the integration tests start exactly the same thing.
//!
//! # What the server runs
//!
//! The binary: command line (clap) and `server::start`, which assembles store, directory, simulator,
//! gateway and admin into one listener (`scheduling::apply_shares` sets the pools' entity shares), and starts the audit checkpoint task (`audit::checkpoints`),
//! which signs a last checkpoint at shutdown, the hourly seat reclaim job (`seats`), the hourly content purge (`retention`), the usage roll-ups and raw usage deletion (`rollups`), and the content
//! writer when some entity keeps content. `audit::cli` is `fabrique audit verify|export`;
//! `audit::signing_key` finds the signing key. `key_use` stores keys' last use every 5 s and at shutdown. Integration tests (`tests/it`) start exactly this.
//! `cluster` follows the store's change notices on PostgreSQL, so every replica reloads what
//! another one changed within a second.
//! `libraries` opens the knowledge libraries' index under the data directory, asks embeddings of
//! the gateway's pipeline, and answers chat completions that name libraries, with citations.
//! `reload` puts a re-read configuration in force on `SIGHUP`, as far as a running server can;
//! `listener` drains on `SIGTERM` (readiness off, streams finished within a deadline).
//! `simulation` hands the running server to the `simulate` crate for `fabrique simulate`;
//! `planning` reads a scenario for the `capacity` crate and writes its report (`fabrique plan`).

pub mod audit;
pub mod batches;
pub mod cluster;
pub mod evaluation;
pub mod factory;
pub mod key_use;
pub mod libraries;
pub mod limits;
pub mod listener;
pub mod openapi;
pub mod output;
pub mod planning;
pub mod reload;
pub mod retention;
pub mod rollups;
pub mod scheduling;
pub mod seats;
pub mod server;
pub mod sign_in_link;
pub mod simulation;

pub use server::{RunningServer, ServeOptions, start};
