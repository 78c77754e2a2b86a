//! Section `[seats]`: the seat pool's starting size and when idle seats are reclaimed.

use std::time::Duration;

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::at_least_one;

/// Section `[seats]`: seat licensing. The pool and the entities' reserved seats are set at run time
/// through the admin API (`/admin/v1/seats/…`) and kept in the store; this section gives the
/// starting point.
///
/// ```toml
/// [seats]
/// pool = 40000
/// reclaim_after_days = 90
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatsConfig {
    /// Key `pool`: the group's number of seats until a group administrator sets it through
    /// `PUT /admin/v1/seats/pool` (the stored value then wins, across restarts). Absent: unlimited,
    /// so a fresh install works without licensing set up; every user still gets (and is reported
    /// with) a seat.
    pub pool: Option<u64>,
    /// Key `reclaim_after_days`: a seat whose holder made no authenticated request for this many
    /// days (counted from the assignment when never used) is reclaimed by a background job that
    /// runs hourly; the user gets a seat again on their next request if one is free. At least 1.
    /// Default 90.
    pub reclaim_after: Duration,
}

/// As written; the keys are documented on [`SeatsConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSeats {
    pub pool: Option<u64>,
    pub reclaim_after_days: Option<u64>,
}

/// `[seats] reclaim_after_days`: a quarter without use.
pub(crate) const SEATS_RECLAIM_AFTER_DAYS: u64 = 90;

pub(crate) fn validate(raw: RawSeats, errors: &mut Collector) -> SeatsConfig {
    let days = at_least_one(
        raw.reclaim_after_days,
        SEATS_RECLAIM_AFTER_DAYS,
        "seats.reclaim_after_days",
        errors,
    );
    SeatsConfig {
        pool: raw.pool,
        reclaim_after: Duration::from_secs(days.saturating_mul(86_400)),
    }
}
