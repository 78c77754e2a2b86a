//! Verification of access tokens against a real provider on loopback (`oidc::testing`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
