//! Who is calling: the SCIM bearer token, looked up in the in-memory index (never the database).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use domain::EntityId;
use identity::ScimClient;

use crate::{ScimError, ScimState};

/// The authenticated directory client of a SCIM route, extracted before any body is read.
pub(crate) struct Caller(pub Arc<ScimClient>);

impl Caller {
    pub(crate) fn actor(&self) -> String {
        self.0.actor()
    }

    /// The entity the token is bound to, if any.
    pub(crate) fn entity(&self) -> Option<EntityId> {
        self.0.entity_id
    }

    /// Whether the token may see a resource of `entity`.
    pub(crate) fn sees(&self, entity: EntityId) -> bool {
        self.0.entity_id.is_none_or(|own| own == entity)
    }
}

impl FromRequestParts<ScimState> for Caller {
    type Rejection = ScimError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ScimState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                ScimError::unauthorized("missing SCIM token: send `Authorization: Bearer <token>`")
            })?;
        let token = header
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| ScimError::unauthorized("expected `Authorization: Bearer <token>`"))?;
        state
            .tokens
            .authenticate(token)
            .map(Caller)
            .ok_or_else(|| ScimError::unauthorized("invalid or revoked SCIM token"))
    }
}
