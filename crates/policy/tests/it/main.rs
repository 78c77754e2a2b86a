//! The policy crate's one integration-test binary: fixture files of positives and near-misses,
//! generated valid identifiers with their checksums computed here (independently of the crate),
//! the labelled corpus, values written every way people write them, the `scan_cli` line protocol,
//! UTF-8 offsets, the type lists of the documentation, and a no-panic property over arbitrary
//! input.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail by panicking, like the tests they serve"
)]

mod cli;
mod corpus;
mod fixtures;
mod generated;
mod robustness;
mod spellings;
mod support;
mod type_lists;
mod utf8;
