//! Calendar periods of budgets — a day or a month — in the deployment's time zone.
//!
//! A daily budget resets at local midnight and a monthly one at local midnight on the 1st, so the
//! boundaries move with daylight-saving time: in Europe/Paris a day is 23 hours long in late March
//! and 25 hours in late October. Where a zone skips midnight itself (a DST gap at 00:00, as in some
//! American zones), the period starts at the first instant that exists.
//!
//! Time zones come from `jiff` with its `tzdb-bundle-always` feature: the IANA database is compiled
//! into the binary, so no file is read at run time and every replica sees the same rules whatever its
//! host has installed. `jiff` was chosen over `chrono` + `chrono-tz` because its calendar arithmetic
//! on zoned times (start of day, first of month) is DST-correct by construction, with one crate and
//! no `unwrap`-prone `LocalResult` handling in our code.

use domain::UnixMillis;
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// The period over which a budget accumulates before it resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// From local midnight to the next local midnight.
    Day,
    /// From local midnight on the 1st to local midnight on the 1st of the next month.
    Month,
}

impl Period {
    /// `daily` or `monthly`, for messages.
    pub fn adjective(self) -> &'static str {
        match self {
            Period::Day => "daily",
            Period::Month => "monthly",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    pub fn parse(name: &str) -> Option<Period> {
        [Period::Day, Period::Month]
            .into_iter()
            .find(|p| p.as_str() == name)
    }
}

/// A time-zone name that the compiled-in database does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone `{0}` (expected an IANA name such as `Europe/Paris`)")]
pub struct UnknownTimeZone(pub String);

/// The time zone in which budget periods are counted.
#[derive(Debug, Clone)]
pub struct Calendar {
    time_zone: TimeZone,
}

impl Calendar {
    /// The calendar of an IANA time zone such as `Europe/Paris`.
    pub fn new(time_zone: &str) -> Result<Calendar, UnknownTimeZone> {
        TimeZone::get(time_zone)
            .map(|time_zone| Calendar { time_zone })
            .map_err(|_| UnknownTimeZone(time_zone.to_owned()))
    }

    pub fn utc() -> Calendar {
        Calendar {
            time_zone: TimeZone::UTC,
        }
    }

    /// The IANA name of the zone, when it has one.
    pub fn time_zone_name(&self) -> Option<&str> {
        self.time_zone.iana_name()
    }

    /// The period of kind `period` that contains `now`, as `(start, end)`: `start <= now < end`.
    ///
    /// Only instants outside jiff's range (beyond the year 9999) fail; they get a period that never
    /// ends, so a budget then behaves as a lifetime budget rather than failing the request.
    pub fn bounds(&self, period: Period, now: UnixMillis) -> (UnixMillis, UnixMillis) {
        self.try_bounds(period, now)
            .unwrap_or((now, UnixMillis::MAX))
    }

    fn try_bounds(
        &self,
        period: Period,
        now: UnixMillis,
    ) -> Result<(UnixMillis, UnixMillis), jiff::Error> {
        let today = Timestamp::from_millisecond(now)?
            .to_zoned(self.time_zone.clone())
            .date();
        let (first, next) = match period {
            Period::Day => (today, today.tomorrow()?),
            Period::Month => (today.first_of_month(), today.last_of_month().tomorrow()?),
        };
        Ok((self.midnight(first)?, self.midnight(next)?))
    }

    /// The first instant of `date` in this zone: midnight, or the end of a DST gap that skips it.
    fn midnight(&self, date: Date) -> Result<UnixMillis, jiff::Error> {
        let zoned = self
            .time_zone
            .to_zoned(date.to_datetime(Time::midnight()))?;
        Ok(zoned.timestamp().as_millisecond())
    }
}

#[cfg(test)]
mod tests;
