//! Who is calling: the bearer key, looked up in the in-memory directory (never the database).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use identity::Principal;

use crate::{AdminError, AdminState};

/// The authenticated caller of an admin route. Extracted before the body is read, so an
/// unauthenticated request is refused without parsing anything it sent.
pub(crate) struct Caller(pub Arc<Principal>);

impl Caller {
    /// The audit actor: the caller's key id (admin routes authenticate keys only, so there is
    /// one; a signed-in user would be named by their user id).
    pub(crate) fn actor(&self) -> String {
        self.0.actor()
    }
}

impl FromRequestParts<AdminState> for Caller {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(AdminError::MissingKey)?;
        let text = value.to_str().map_err(|_| AdminError::UnknownKey)?;
        let key = bearer_token(text).ok_or(AdminError::MissingKey)?;
        state
            .directory
            .authenticate_at(key, domain::now_millis())
            .map(Caller)
            .map_err(|refused| match refused {
                identity::KeyRefused::Unknown => AdminError::UnknownKey,
                identity::KeyRefused::Expired => AdminError::KeyExpired,
            })
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        assert_eq!(bearer_token("Bearer fabk_x"), Some("fabk_x"));
        assert_eq!(bearer_token("bearer  fabk_x "), Some("fabk_x"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("fabk_x"), None);
    }
}
