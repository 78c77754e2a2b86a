//! The `fabrique` binary's library half: assembling a running server from a configuration, so the
//! command line and the integration tests start exactly the same thing.

pub mod audit;
pub mod key_use;
pub mod limits;
pub mod listener;
pub mod output;
pub mod retention;
pub mod scheduling;
pub mod seats;
pub mod server;
pub mod simulation;

pub use server::{RunningServer, ServeOptions, start};
