//! Stage 2, authenticate: the bearer key, access token or session cookie → the principal.
//!
//! API keys take the same path as ever (one hash, one map lookup). Only when sign-in is configured
//! does a bearer shaped like a JWT (three base64url parts, never a `fabk_` key) go to the OIDC
//! verifier, and a request without any bearer get its session cookie looked at.

use std::sync::Arc;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use identity::Principal;

use crate::error::GatewayError;
use crate::state::Gateway;

/// The principal of the request's `Authorization: Bearer` key or token (`x-api-key` is accepted
/// too, as some clients send it), or of its session cookie.
pub async fn authenticate(
    gateway: &Gateway,
    headers: &HeaderMap,
) -> Result<Arc<Principal>, GatewayError> {
    let Some(oidc) = gateway.oidc.as_deref() else {
        let presented = bearer(headers).ok_or(GatewayError::MissingKey)?;
        return api_key(gateway, presented);
    };
    match bearer(headers) {
        Some(token)
            if !token.starts_with(domain::key::KEY_PREFIX) && oidc::looks_like_jwt(token) =>
        {
            oidc.authenticate_token(token).await.map_err(refused)
        }
        Some(presented) => api_key(gateway, presented),
        None => match oidc.authenticate_session(headers) {
            Some(result) => result.map_err(refused),
            None => Err(GatewayError::MissingKey),
        },
    }
}

/// The principal of an API key, decided in memory with the clock: an expired key is told apart
/// from an unknown one, so its holder knows to ask for a new key rather than check a typo.
fn api_key(gateway: &Gateway, presented: &str) -> Result<Arc<Principal>, GatewayError> {
    gateway
        .directory
        .authenticate_at(presented, domain::now_millis())
        .map_err(|refused| match refused {
            identity::KeyRefused::Unknown => GatewayError::InvalidKey,
            identity::KeyRefused::Expired => GatewayError::KeyExpired,
        })
}

/// A refused sign-in; a suspended user is told, as stage 3 tells API-key users, that they hold no
/// seat because they are suspended.
fn refused(error: oidc::SignInError) -> GatewayError {
    match error {
        oidc::SignInError::UserSuspended(_) => {
            GatewayError::SeatRequired(seats::SeatRequired::UserSuspended)
        }
        other => GatewayError::SignIn(other),
    }
}

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
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "k".parse().unwrap());
        assert_eq!(bearer(&h), Some("k"));
    }
}
