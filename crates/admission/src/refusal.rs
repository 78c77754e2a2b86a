//! Why a request is not admitted, typed; the gateway turns it into an OpenAI error (HTTP 429 with
//! `Retry-After`) at the edge.

use std::time::Duration;

use domain::UnixMillis;

use crate::budget::BudgetUnit;
use crate::period::Period;
use crate::rate::{LimitKind, RateHeaders};
use crate::scope::Scope;

/// The reason for a refusal. When several scopes refuse, the one reported is the one the caller
/// must wait longest for: a request that can never pass, then an exhausted budget, then the longest
/// rate-limit wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A rate limit is exhausted for now; the request would be admitted after `retry_after` if
    /// nothing else were charged meanwhile (every scope's limit included, not only `scope`'s).
    #[error("rate limit of {scope} reached for {}; retry after {retry_after:?}", kind.header_suffix())]
    RateLimited {
        scope: Scope,
        kind: LimitKind,
        retry_after: Duration,
    },
    /// The request alone asks for more than a per-minute limit allows: waiting cannot help.
    #[error("request too large for {scope}: {requested} {} asked, limit {limit} per minute", kind.header_suffix())]
    RequestTooLarge {
        scope: Scope,
        kind: LimitKind,
        limit: u64,
        requested: u64,
    },
    /// A hard budget limit would be exceeded; it resets at `resets_at`.
    #[error(
        "the {} {} budget of {scope} is exhausted; it resets at {}",
        period.adjective(),
        unit.noun(),
        rfc3339(*resets_at)
    )]
    BudgetExceeded {
        scope: Scope,
        period: Period,
        unit: BudgetUnit,
        resets_at: UnixMillis,
    },
}

/// The error code of a refusal by a rate limit, as OpenAI names it.
pub const RATE_LIMIT_EXCEEDED: &str = "rate_limit_exceeded";
/// The error code of a refusal by a hard budget.
pub const BUDGET_EXCEEDED: &str = "budget_exceeded";

impl Refusal {
    /// The OpenAI-style error `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::RateLimited { .. } | Refusal::RequestTooLarge { .. } => RATE_LIMIT_EXCEEDED,
            Refusal::BudgetExceeded { .. } => BUDGET_EXCEEDED,
        }
    }

    pub fn scope(&self) -> &Scope {
        match self {
            Refusal::RateLimited { scope, .. }
            | Refusal::RequestTooLarge { scope, .. }
            | Refusal::BudgetExceeded { scope, .. } => scope,
        }
    }

    /// How long until the request could be admitted, for `Retry-After`; `None` when waiting
    /// cannot help.
    pub fn retry_after(&self, now: UnixMillis) -> Option<Duration> {
        match self {
            Refusal::RateLimited { retry_after, .. } => Some(*retry_after),
            Refusal::RequestTooLarge { .. } => None,
            Refusal::BudgetExceeded { resets_at, .. } => Some(Duration::from_millis(
                u64::try_from(resets_at.saturating_sub(now)).unwrap_or(0),
            )),
        }
    }
}

/// A refused request: the reason, and the rate-limit header values as they stand (nothing was
/// charged), since OpenAI sends `x-ratelimit-*` on 429 answers too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{refusal}")]
pub struct Refused {
    pub refusal: Refusal,
    /// Boxed so that `Result<Admitted, Refused>` stays small on the admitted path; the allocation
    /// is paid only by refusals.
    pub rate: Box<RateHeaders>,
}

impl Refused {
    pub fn code(&self) -> &'static str {
        self.refusal.code()
    }
}

/// A Unix-millisecond instant as RFC 3339 in UTC, for messages people read.
pub fn rfc3339(at: UnixMillis) -> String {
    jiff::Timestamp::from_millisecond(at)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| format!("{at} (Unix ms)"))
}
