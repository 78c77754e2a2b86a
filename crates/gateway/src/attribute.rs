//! Stage 3, attribute: who a request is charged to beyond its key, user and entity, and what the
//! caller asks of the later stages in its headers — before the body is read, so a malformed header
//! is refused uncharged.
//!
//! - **Teams.** The user's teams (from the directory's in-memory index) are admission scopes
//!   (stage 8: every team's limits and budgets apply), and the first of them, by id, is the team
//!   the usage record is charged to — ids are time-ordered, so that is the user's oldest team, and
//!   joining another team does not move the user's charges. They are known even when the request
//!   is refused from here on, so a refusal is charged to them too.
//! - **Use case.** `x-fabrique-use-case` names the use case a request serves: a label checked for
//!   shape (400 `invalid_use_case`), so reports only ever hold well-formed labels; when
//!   `[[use_cases]]` declares it for one entity, only that entity's callers may name it (403
//!   `use_case_not_permitted`).
//! - **Priority.** `x-fabrique-priority` and `x-fabrique-max-queue-ms`, for the schedule stage
//!   (`schedule::wanted`).

use std::sync::Arc;

use domain::{TeamId, is_slug};
use http::{HeaderMap, HeaderValue};
use identity::{Directory, Principal};

use crate::error::GatewayError;
use crate::headers::USE_CASE_HEADER;
use crate::policies::Inspector;
use crate::schedule::{self, Wanted};

/// The caller as the stages after attribution know it.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub principal: Arc<Principal>,
    pub attribution: Attribution,
    /// What the caller asks of the schedule stage.
    pub wanted: Wanted,
}

/// A request's chargeback attribution.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attribution {
    /// The user's teams, in id order; `None` for service accounts and users in no team.
    pub teams: Option<Arc<[TeamId]>>,
    pub use_case: Option<UseCase>,
}

/// A use-case label the caller named, checked to be a slug. Kept as the header's value, which
/// shares the request's buffer: cloning it copies no text.
#[derive(Debug, Clone)]
pub(crate) struct UseCase(HeaderValue);

impl UseCase {
    pub fn as_str(&self) -> &str {
        // Checked to be a slug, hence ASCII, when it was made.
        self.0.to_str().unwrap_or_default()
    }
}

impl Attribution {
    /// The team the request's usage is charged to.
    pub fn chargeback_team(&self) -> Option<TeamId> {
        self.teams.as_deref().and_then(<[TeamId]>::first).copied()
    }

    pub fn use_case(&self) -> Option<&str> {
        self.use_case.as_ref().map(UseCase::as_str)
    }
}

/// The caller with their teams, and what their headers name. The caller comes back even when a
/// header is refused, so the refusal is charged to their teams.
pub(crate) fn attribute(
    directory: &Directory,
    inspector: &Inspector,
    headers: &HeaderMap,
    principal: Arc<Principal>,
) -> (Caller, Result<(), GatewayError>) {
    let teams = principal
        .user_id()
        .and_then(|user| directory.teams_of(&user));
    let mut caller = Caller {
        attribution: Attribution {
            teams,
            use_case: None,
        },
        wanted: Wanted::default(),
        principal,
    };
    let named = named(inspector, headers, &mut caller);
    (caller, named)
}

/// Reads the use case and the scheduling headers into `caller`.
fn named(
    inspector: &Inspector,
    headers: &HeaderMap,
    caller: &mut Caller,
) -> Result<(), GatewayError> {
    caller.attribution.use_case = use_case(inspector, headers, &caller.principal)?;
    let use_case_class = caller
        .attribution
        .use_case()
        .and_then(|slug| inspector.use_case(slug))
        .and_then(|rules| rules.priority());
    caller.wanted = schedule::wanted(headers, caller.principal.priority, use_case_class)?;
    Ok(())
}

/// The use-case label, if the caller names one they may name.
fn use_case(
    inspector: &Inspector,
    headers: &HeaderMap,
    principal: &Principal,
) -> Result<Option<UseCase>, GatewayError> {
    let Some(value) = headers.get(USE_CASE_HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(text) if is_slug(text) => match inspector.use_case(text) {
            Some(rules) if !rules.permits(principal) => Err(GatewayError::UseCaseNotPermitted {
                use_case: text.to_owned(),
            }),
            _ => Ok(Some(UseCase(value.clone()))),
        },
        _ => Err(GatewayError::InvalidUseCase {
            given: String::from_utf8_lossy(value.as_bytes())
                .chars()
                .take(80)
                .collect(),
        }),
    }
}
