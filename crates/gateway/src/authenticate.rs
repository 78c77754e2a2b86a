//! Stage 1, authenticate: the bearer key, access token or session cookie → the principal.
//!
//! API keys take the same path as ever (one hash, one map lookup). Only when sign-in is configured
//! does a bearer shaped like a JWT (three base64url parts, never a `fabk_` key) go to the sign-in
//! verifier, and a request without any bearer get its session cookie looked at (`access`).

use std::sync::Arc;

use http::HeaderMap;
use identity::{Directory, Principal};

use crate::error::GatewayError;

/// The principal of the request's bearer key or token, or of its session cookie.
pub(crate) async fn authenticate(
    directory: &Directory,
    sign_in: Option<&dyn access::SignIn>,
    headers: &HeaderMap,
) -> Result<Arc<Principal>, GatewayError> {
    access::authenticate(directory, sign_in, headers, access::SessionCookie::Accepted)
        .await
        .map_err(|refused| match refused {
            access::Refused::Missing => GatewayError::MissingKey,
            access::Refused::Key(identity::KeyRefused::Unknown) => GatewayError::InvalidKey,
            access::Refused::Key(identity::KeyRefused::Expired) => GatewayError::KeyExpired,
            // A suspended user is told, as the license stage tells API-key users, that they hold
            // no seat because they are suspended.
            access::Refused::SignIn(access::SignInError::UserSuspended(_)) => {
                GatewayError::SeatRequired(seats::SeatRequired::UserSuspended)
            }
            access::Refused::SignIn(other) => GatewayError::SignIn(other),
        })
}
