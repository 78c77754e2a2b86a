//! Who a request is charged to, beyond its key, user and entity: the user's teams (from the
//! directory's in-memory index) and the use case the caller names in `x-fabrique-use-case`.
//!
//! The teams are admission scopes (stage 7: every team's limits and budgets apply) and the first
//! of them, by id, is the team the usage record is charged to — ids are time-ordered, so that is
//! the user's oldest team, and joining another team does not move the user's charges. The use case
//! is a label checked for shape; when `[[use_cases]]` declares it for one entity, only that
//! entity's callers may name it.

use std::sync::Arc;

use domain::{TeamId, is_slug};
use http::HeaderMap;
use identity::Principal;

use crate::error::GatewayError;
use crate::state::Gateway;

/// The request header naming the use case a request serves.
pub const USE_CASE_HEADER: &str = "x-fabrique-use-case";

/// A request's chargeback attribution.
#[derive(Debug, Clone, Default)]
pub struct Attribution {
    /// The user's teams, in id order; `None` for service accounts and users in no team.
    pub teams: Option<Arc<[TeamId]>>,
    pub use_case: Option<String>,
}

impl Attribution {
    /// The team the request's usage is charged to.
    pub fn chargeback_team(&self) -> Option<TeamId> {
        self.teams.as_deref().and_then(<[TeamId]>::first).copied()
    }
}

/// The caller's teams, without a use case yet.
pub fn teams(gateway: &Gateway, principal: &Principal) -> Attribution {
    let teams = principal
        .user_id()
        .and_then(|user| gateway.directory.teams_of(&user));
    Attribution {
        teams,
        use_case: None,
    }
}

/// The use-case label. One that is not a slug is refused (400 `invalid_use_case`) rather than
/// recorded, so reports only ever hold well-formed labels; a declared use case of another entity
/// is refused too (403 `use_case_not_permitted`).
pub fn use_case(
    gateway: &Gateway,
    headers: &HeaderMap,
    principal: &Principal,
) -> Result<Option<String>, GatewayError> {
    let Some(value) = headers.get(USE_CASE_HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(text) if is_slug(text) => match gateway.inspector.use_case(text) {
            Some(rules) if !rules.permits(principal) => Err(GatewayError::UseCaseNotPermitted {
                use_case: text.to_owned(),
            }),
            _ => Ok(Some(text.to_owned())),
        },
        _ => Err(GatewayError::InvalidUseCase {
            given: String::from_utf8_lossy(value.as_bytes())
                .chars()
                .take(80)
                .collect(),
        }),
    }
}
