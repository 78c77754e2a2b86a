//! Who is calling: the caller of a request, one way for every surface (inference API, admin API,
//! web routes).
//!
//! An API key is one hash and one map lookup in the in-memory [`Directory`]. When sign-in is
//! configured, the binary hands [`authenticate`] a [`SignIn`] verifier (the `oidc` crate implements
//! it): a bearer shaped like a JWT (never a `fabk_` key) is an access token for it to verify. A
//! request without a bearer may be authenticated by its web session's cookie where the surface
//! accepts one, with or without an identity provider. The surfaces depend on this crate, never on
//! the sign-in crate, so no surface depends on another. [`SignInError`] and [`Rejection`] say why
//! a signed-in caller is refused, each reason with its code and status.
//!
//! A surface that calls another's router in process for a caller it authenticated marks the
//! request with [`Vouched`]; a page that makes several reads that way gathers their audit events in
//! a [`PageReads`] and hands them to the audit channel together.
//!
//! # Web sessions, for the surfaces that open or read them
//!
//! - [`SessionCookies`] (built once from `[sessions]`): `open(directory, user, roles, method,
//!   request_headers)` opens a session in the directory (and its store) and returns its id and
//!   the `Set-Cookie` header value; `removal(request_headers)` the value that clears it. The `/auth/callback` of
//!   the identity provider and the one-time sign-in links (`/auth/link/{token}`) open sessions
//!   this way.
//! - [`session_principal`]`(directory, headers)`: the signed-in user of a request's cookie, or
//!   [`Refused::Missing`]; memory only when the directory holds the session, else one read of the
//!   store (a session opened through another replica). [`session_secret`] reads the cookie's
//!   value (sign-out ends it with `Directory::end_session_of_secret`).
//! - A session's principal carries the user's own rights: no key restriction (classification,
//!   models, priority, expiry) applies to it, as none applies to an access token.

mod error;
mod page_reads;
mod session;

use std::sync::Arc;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use identity::{Directory, KeyRefused, Principal};

pub use error::{Rejection, SignInError};
pub use page_reads::PageReads;
pub use session::{COOKIE_NAME, SessionCookies, cookie_values, session_principal, session_secret};

/// Sign-in's side of authentication: what the identity provider's access tokens stand for.
/// `oidc::Oidc` implements it; installations without an identity provider pass none.
#[async_trait::async_trait]
pub trait SignIn: Send + Sync + std::fmt::Debug {
    /// The principal of an access token (a bearer shaped like a JWT).
    async fn token(&self, token: &str) -> Result<Arc<Principal>, SignInError>;
}

/// Whether a request without a bearer may be authenticated by its session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCookie {
    /// The inference API: the web chat calls it with its cookie.
    Accepted,
    /// The admin API: a cookie rides along on cross-site requests, so state-changing routes take
    /// explicit credentials only.
    Refused,
}

/// Why no principal could be found.
#[derive(Debug)]
pub enum Refused {
    /// No bearer (and no session, where one is accepted).
    Missing,
    Key(KeyRefused),
    SignIn(SignInError),
}

/// A caller another surface of this process authenticated (its session, its CSRF token) and
/// vouches for, on a request it sends in process to another surface's router: the console's calls
/// to the admin API. A request extension, which no HTTP client can set: only code of this process
/// can make a request carry one.
#[derive(Debug, Clone)]
pub struct Vouched(pub Arc<Principal>);

/// The principal of the request's `Authorization: Bearer` key or token (`x-api-key` is accepted
/// too, as some clients send it), or of its session cookie when `session_cookie` allows it.
pub async fn authenticate(
    directory: &Directory,
    sign_in: Option<&dyn SignIn>,
    headers: &HeaderMap,
    session_cookie: SessionCookie,
) -> Result<Arc<Principal>, Refused> {
    match (bearer(headers), sign_in) {
        (Some(token), Some(sign_in))
            if !token.starts_with(domain::key::KEY_PREFIX) && looks_like_jwt(token) =>
        {
            sign_in.token(token).await.map_err(Refused::SignIn)
        }
        (Some(presented), _) => api_key(directory, presented),
        (None, _) if session_cookie == SessionCookie::Accepted => {
            session_principal(directory, headers).await
        }
        (None, _) => Err(Refused::Missing),
    }
}

/// The principal of an API key, decided in memory with the clock: an expired key is told apart
/// from an unknown one, so its holder knows to ask for a new key rather than check a typo.
fn api_key(directory: &Directory, presented: &str) -> Result<Arc<Principal>, Refused> {
    directory
        .authenticate_at(presented, domain::now_millis())
        .map_err(Refused::Key)
}

/// Whether `token` has the shape of a JWS in compact form (three base64url parts): cheap enough to
/// tell an access token from an API key before doing any work.
pub fn looks_like_jwt(token: &str) -> bool {
    let bytes = token.as_bytes();
    bytes.iter().filter(|&&b| b == b'.').count() == 2
        && bytes
            .iter()
            .all(|&b| b == b'.' || b == b'-' || b == b'_' || b.is_ascii_alphanumeric())
}

/// The bearer of `Authorization` (scheme case-insensitive), else of `x-api-key`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_and_x_api_key() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "k".parse().unwrap());
        assert_eq!(bearer(&h), Some("k"));
    }

    #[test]
    fn jwts_are_told_from_api_keys_by_shape() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"));
        assert!(!looks_like_jwt("fabk_0123456789abcdef"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a.b+/.c"));
    }
}
