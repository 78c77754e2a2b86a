//! Fabrique's admission stage (the request path's stage 8): rate limits and budgets
//! per key, user, team and entity, held in memory.
//!
//! - **Rate limits** ([`Limits`]): requests and tokens per minute, enforced with GCRA (smooth, with a
//!   burst of one minute's worth), reported as OpenAI's `x-ratelimit-*` values ([`RateHeaders`]).
//! - **Budgets** ([`Budget`]): tokens or money per calendar day or month in the deployment's time
//!   zone ([`Calendar`]), with a soft warning threshold and a hard limit that counts requests in
//!   flight.
//! - **[`Admission`]**: the table of both, with `check_and_charge` (all scopes or none) at
//!   admission and `settle` with the real consumption at metering (stage 11).
//!
//! Pure logic: no I/O, no async, no clock. Every operation takes `now`, so tests are exact and the
//! caller decides what time it is. Persisting counters ([`Admission::snapshot`] /
//! [`Admission::restore`]) and sharing them between replicas belong to the layers above: for the
//! latter, [`Admission::rules`] reads what applies to a request and [`RateHeaders::from_debts`]
//! reports buckets counted elsewhere (crate `counters`, through Redis).

mod admit;
mod budget;
mod gcra;
mod period;
mod rate;
mod refusal;
mod scope;
mod shared;

pub use admit::{Admission, Admitted, DEFAULT_SHARDS, Request, Ticket};
pub use budget::{Budget, BudgetStatus, BudgetUnit, BudgetWarning, Consumption, SpentRecord};
pub use gcra::{MAX_LIMIT_PER_MINUTE, ticks_to_duration};
pub use period::{Calendar, Period, UnknownTimeZone};
pub use rate::{InvalidLimit, LimitKind, Limits, RateHeaders, RateStatus, estimate_tokens};
pub use refusal::{BUDGET_EXCEEDED, RATE_LIMIT_EXCEEDED, Refusal, Refused, rfc3339};
pub use scope::{Scope, TeamId};
pub use shared::{BudgetRule, Debt, ScopeRules};
