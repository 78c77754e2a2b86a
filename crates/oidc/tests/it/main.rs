//! Verification of access tokens against a real provider on loopback (`oidc::testing`).
