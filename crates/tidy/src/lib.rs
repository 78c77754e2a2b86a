//! Fabrique's house rules, checked by ordinary `#[test]`s (`cargo test -p tidy`), as
//! rust-analyzer's `tidy.rs` does: a rule that a test keeps does not depend on reviewers' memory.
//!
//! The tests in `tests/it` check, over the whole repository:
//! - every `.rs` file opens with a `//!` comment saying what it owns;
//! - a lint is silenced with `#[expect(lint, reason = "…")]`, never a bare `#[allow]`, so an
//!   exception that no longer applies is reported and every exception says why;
//! - no document, script or source names a path of one machine (a home or work directory);
//! - every relative link in the Markdown documents resolves inside the repository;
//! - every crate has its entry in `ARCHITECTURE.md`'s code map, and the map names no other;
//! - crate dependencies follow the layer table in `tests/it/layers.rs`: foundation, then core,
//!   then the surfaces (gateway, admin API, SCIM, OIDC) and the tools (the admin API's client,
//!   the workload simulator), none of which depends on another, then the binary;
//! - the modules of the request path's crate (`gateway`) import no circle, so it reads bottom up.
//!
//! The crate has no code of its own: it exists so that these checks build in seconds, without
//! the rest of the workspace.
