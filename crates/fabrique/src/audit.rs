//! The audit trail's evidence as the binary handles it: the key that signs checkpoints, the
//! background task that signs them, and the `fabrique audit verify` and `export` commands. The
//! encoding and the verification rules live in the `evidence` crate; this module only wires them to
//! the store, the configuration and the command line.

pub mod checkpoints;
pub mod cli;
pub mod publish;
pub mod signing_key;
