//! The caller of a request, one way for every surface: an API key (one hash, one map lookup), an
//! access token from the configured issuer (a bearer shaped like a JWT, never a `fabk_` key), or,
//! where the surface allows it, the web session's cookie.

use std::sync::Arc;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use identity::{Directory, KeyRefused, Principal};

use crate::{Oidc, SignInError, looks_like_jwt};

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

/// The principal of the request's `Authorization: Bearer` key or token (`x-api-key` is accepted
/// too, as some clients send it), or of its session cookie when `session_cookie` allows it.
pub async fn authenticate(
    directory: &Directory,
    oidc: Option<&Oidc>,
    headers: &HeaderMap,
    session_cookie: SessionCookie,
) -> Result<Arc<Principal>, Refused> {
    let presented = bearer(headers);
    let Some(oidc) = oidc else {
        return api_key(directory, presented.ok_or(Refused::Missing)?);
    };
    match presented {
        Some(token) if !token.starts_with(domain::key::KEY_PREFIX) && looks_like_jwt(token) => oidc
            .authenticate_token(token)
            .await
            .map_err(Refused::SignIn),
        Some(presented) => api_key(directory, presented),
        None if session_cookie == SessionCookie::Accepted => {
            match oidc.authenticate_session(headers) {
                Some(result) => result.map_err(Refused::SignIn),
                None => Err(Refused::Missing),
            }
        }
        None => Err(Refused::Missing),
    }
}

/// The principal of an API key, decided in memory with the clock: an expired key is told apart
/// from an unknown one, so its holder knows to ask for a new key rather than check a typo.
fn api_key(directory: &Directory, presented: &str) -> Result<Arc<Principal>, Refused> {
    directory
        .authenticate_at(presented, domain::now_millis())
        .map_err(Refused::Key)
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
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

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
}
