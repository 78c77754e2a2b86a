//! Sign-ins in progress, shared by every replica: between the redirect to the provider and its
//! callback, each flow's `state`, `nonce` and PKCE verifier are stored (`store::SignInFlow`) under
//! the SHA-256 of a random flow secret that only the browser's flow cookie holds.
//!
//! So a sign-in started on one replica finishes on any other, and the callback accepts a `state`
//! only from the browser that started the flow (its cookie), which closes login CSRF: a callback
//! URL made with someone else's flow carries no cookie of theirs, and a cookie with another
//! flow's state takes nothing (nor spoils the flow it names). A flow is taken once, and lives
//! [`PENDING_TTL`]; a flood of anonymous `/auth/login` adds rows that the next sign-in start
//! deletes once expired, and locks nobody out.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::UnixMillis;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use store::SignInFlow;

/// How long a user has to come back from the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);

/// The flow cookie's name.
pub const FLOW_COOKIE: &str = "fabrique_sign_in";

/// A flow just started at `now`: fresh state, nonce and PKCE verifier.
pub(crate) fn start(now: UnixMillis) -> SignInFlow {
    let ttl = i64::try_from(PENDING_TTL.as_millis()).unwrap_or(i64::MAX);
    SignInFlow {
        state: random_token(),
        nonce: random_token(),
        code_verifier: random_token(),
        expires_at: now.saturating_add(ttl),
    }
}

/// 32 random bytes from the operating system, base64url: for state, nonce, PKCE verifier and the
/// flow cookie's secret.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_the_rfc_7636_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_flow_has_fresh_secrets_and_ends_after_its_time_to_live() {
        let (first, second) = (start(0), start(0));
        assert_ne!(first.state, second.state);
        assert_ne!(first.state, first.nonce);
        assert_ne!(first.nonce, first.code_verifier);
        let ttl = i64::try_from(PENDING_TTL.as_millis()).unwrap();
        assert_eq!(first.expires_at, ttl);
    }
}
