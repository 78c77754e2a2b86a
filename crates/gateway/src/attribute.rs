//! Stage 4, attribute: who a request is charged to beyond its key, user and entity, and what the
//! caller asks of the later stages in its headers — before the body is read, so a malformed header
//! costs no read and no parse.
//!
//! - **Teams.** The user's teams (from the directory's in-memory index), looked up as soon as the
//!   caller is known: they are admission scopes (every team's limits and budgets apply), and the
//!   first of them, by id, is the team the usage record is charged to — ids are time-ordered, so
//!   that is the user's oldest team, and joining another team does not move the user's charges. A
//!   refusal is charged to them too.
//! - **Use case.** `x-fabrique-use-case` names the use case a request serves: a label checked for
//!   shape (400 `invalid_use_case`), so reports only ever hold well-formed labels. A use case
//!   `[[use_cases]]` declares may be named only by the callers it permits
//!   (`policies::UseCaseRules::permits`: its entity's, those its `allowed` lists, and none where
//!   it would relax their policy unlisted); others get 403 `use_case_not_permitted`.
//! - **Priority.** `x-fabrique-priority` and `x-fabrique-max-queue-ms`, for the schedule stage
//!   (`schedule::wanted`).

use std::sync::Arc;

use domain::{TeamId, is_slug};
use factory::LiveUseCase;
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
    /// The use case the request names or invokes, as the AI Factory's registry holds it, when it
    /// is registered: looked up once (`invoke::check_label`, `invoke::attribute`), read by the
    /// classify and inspect stages.
    pub registered: Option<Arc<LiveUseCase>>,
}

impl Caller {
    /// The use case the request is for: its label, and the registry's entry when it has one.
    pub fn use_case(&self) -> (Option<&str>, Option<&LiveUseCase>) {
        (self.attribution.use_case(), self.registered.as_deref())
    }
}

/// A request's chargeback attribution.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attribution {
    /// The user's teams, in id order; `None` for service accounts and users in no team.
    pub teams: Option<Arc<[TeamId]>>,
    pub use_case: Option<UseCase>,
    /// The use-case version that serves the request, when it invokes `usecase/<slug>` (resolve,
    /// `invoke`, which also names the use case).
    pub version: Option<u32>,
}

/// A use-case label the caller named, checked to be a slug. Kept as the header's value, which
/// shares the request's buffer: cloning it copies no text.
#[derive(Debug, Clone)]
pub(crate) struct UseCase(HeaderValue);

impl UseCase {
    /// The use case named `slug` (a registered one, so a slug: ASCII, a valid header value).
    pub fn named(slug: &str) -> Option<UseCase> {
        HeaderValue::from_str(slug).ok().map(UseCase)
    }

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

/// The user's teams, in id order; `None` for service accounts and users in no team.
pub(crate) fn teams(directory: &Directory, principal: &Principal) -> Option<Arc<[TeamId]>> {
    principal
        .user_id()
        .and_then(|user| directory.teams_of(&user))
}

/// The caller, with what their headers name.
pub(crate) fn attribute(
    inspector: &Inspector,
    headers: &HeaderMap,
    principal: Arc<Principal>,
    teams: Option<Arc<[TeamId]>>,
) -> Result<Caller, GatewayError> {
    let use_case = use_case(inspector, headers, &principal, teams.as_deref())?;
    let use_case_class = use_case
        .as_ref()
        .and_then(|named| inspector.use_case(named.as_str()))
        .and_then(|rules| rules.priority());
    let wanted = schedule::wanted(headers, principal.priority, use_case_class)?;
    Ok(Caller {
        principal,
        attribution: Attribution {
            teams,
            use_case,
            version: None,
        },
        wanted,
        registered: None,
    })
}

/// The use-case label, if the caller names one they may name.
fn use_case(
    inspector: &Inspector,
    headers: &HeaderMap,
    principal: &Principal,
    teams: Option<&[TeamId]>,
) -> Result<Option<UseCase>, GatewayError> {
    let Some(value) = headers.get(USE_CASE_HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(text) if is_slug(text) => match inspector.use_case(text) {
            Some(rules) if !rules.permits(principal, teams) => {
                Err(GatewayError::UseCaseNotPermitted {
                    use_case: text.to_owned(),
                })
            }
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
