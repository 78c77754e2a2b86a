//! The group's time zone for reports: reading the instants people type, cutting a range into
//! calendar buckets, writing instants back with their offset.

use std::fmt;

use domain::UnixMillis;
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

/// The most buckets one query may ask for: a month of hours (744) fits, a year of hours does not.
pub const MAX_BUCKETS: usize = 2_000;

/// The width of a time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
    Month,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
            Interval::Month => "month",
        }
    }

    pub fn parse(text: &str) -> Option<Interval> {
        [Interval::Hour, Interval::Day, Interval::Month]
            .into_iter()
            .find(|i| i.as_str() == text)
    }
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    first: Date,
}

impl Month {
    /// Reads `YYYY-MM` (years 1970 to 9998).
    pub fn parse(text: &str) -> Result<Month, ReportError> {
        let bad = || ReportError::BadMonth(text.to_owned());
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: i16 = year.parse().map_err(|_| bad())?;
        let month: i8 = month.parse().map_err(|_| bad())?;
        if !(1970..=9998).contains(&year) {
            return Err(bad());
        }
        let first = Date::new(year, month, 1).map_err(|_| bad())?;
        Ok(Month { first })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.first.year(), self.first.month())
    }
}

/// Why a report's parameters cannot be used; each message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error(
        "`{0}` is not an instant: expected RFC 3339 (`2026-11-01T00:00:00Z`, `2026-11-01T08:00:00+01:00`) or a date (`2026-11-01`, midnight in the group's time zone)"
    )]
    BadInstant(String),
    #[error("`{0}` is not a month: expected `YYYY-MM`")]
    BadMonth(String),
    #[error("`from` must be before `to`")]
    EmptyRange,
    #[error("the range is too long: at most {max_days} days")]
    RangeTooLong { max_days: i64 },
    #[error(
        "{count} or more {interval} buckets asked; at most {MAX_BUCKETS}: use a wider interval or a shorter range",
        interval = interval.as_str()
    )]
    TooManyBuckets { interval: Interval, count: usize },
}

/// The group's time zone, as reports use it.
#[derive(Debug, Clone)]
pub struct Zone {
    time_zone: TimeZone,
}

impl Zone {
    /// The zone named by an IANA name (the configuration has already checked it).
    pub fn new(name: &str) -> Option<Zone> {
        TimeZone::get(name).ok().map(|time_zone| Zone { time_zone })
    }

    pub fn utc() -> Zone {
        Zone {
            time_zone: TimeZone::UTC,
        }
    }

    /// The IANA name, for reports to say in which zone their buckets are cut.
    pub fn name(&self) -> &str {
        self.time_zone.iana_name().unwrap_or("UTC")
    }

    /// Reads an RFC 3339 instant, or a date meaning its midnight in this zone.
    pub fn parse_instant(&self, text: &str) -> Result<UnixMillis, ReportError> {
        if let Ok(timestamp) = text.parse::<Timestamp>() {
            return Ok(timestamp.as_millisecond());
        }
        let date: Date = text
            .parse()
            .map_err(|_| ReportError::BadInstant(text.to_owned()))?;
        self.midnight(date)
            .ok_or_else(|| ReportError::BadInstant(text.to_owned()))
    }

    /// `at` as RFC 3339 with this zone's offset at that instant, e.g. `2026-11-01T00:00:00+01:00`.
    pub fn format(&self, at: UnixMillis) -> String {
        match Timestamp::from_millisecond(at) {
            Ok(timestamp) => timestamp
                .to_zoned(self.time_zone.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            Err(_) => at.to_string(),
        }
    }

    /// The month containing `at` here.
    pub fn month_of(&self, at: UnixMillis) -> Option<Month> {
        let date = Timestamp::from_millisecond(at)
            .ok()?
            .to_zoned(self.time_zone.clone())
            .date();
        Some(Month {
            first: date.first_of_month(),
        })
    }

    /// The month's first instant and the next month's: `[start, end)`.
    pub fn month_bounds(&self, month: Month) -> Result<(UnixMillis, UnixMillis), ReportError> {
        let bad = || ReportError::BadMonth(month.to_string());
        let next = month.first.last_of_month().tomorrow().map_err(|_| bad())?;
        let start = self.midnight(month.first).ok_or_else(bad)?;
        let end = self.midnight(next).ok_or_else(bad)?;
        Ok((start, end))
    }

    /// Cuts `[from, to)` at every start of an `interval` in this zone: returns the boundaries
    /// `from = b0 < b1 < … < bn = to`, bucket `i` being `[b_i, b_{i+1})`. The first and last
    /// buckets are partial when `from` or `to` falls inside an interval.
    pub fn buckets(
        &self,
        interval: Interval,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<UnixMillis>, ReportError> {
        if from >= to {
            return Err(ReportError::EmptyRange);
        }
        let too_long = || ReportError::TooManyBuckets {
            interval,
            count: MAX_BUCKETS + 1,
        };
        let mut boundaries = vec![from];
        let mut start = self.start_of(interval, from).ok_or_else(too_long)?;
        loop {
            start = self.next(interval, start).ok_or_else(too_long)?;
            if start >= to {
                break;
            }
            if boundaries.len() >= MAX_BUCKETS {
                return Err(too_long());
            }
            boundaries.push(start);
        }
        boundaries.push(to);
        Ok(boundaries)
    }

    /// The days of this zone that lie wholly inside `[from, to)`, at most `limit` of them, as
    /// `[start, end)`: what the usage roll-up job sums into daily roll-ups.
    pub fn whole_days(
        &self,
        from: UnixMillis,
        to: UnixMillis,
        limit: usize,
    ) -> Vec<(UnixMillis, UnixMillis)> {
        let mut days = Vec::new();
        let Some(mut start) = self.start_of(Interval::Day, from) else {
            return days;
        };
        while days.len() < limit {
            let Some(end) = self.next(Interval::Day, start) else {
                break;
            };
            if end > to {
                break;
            }
            if start >= from {
                days.push((start, end));
            }
            start = end;
        }
        days
    }

    /// The start of the interval containing `at`.
    fn start_of(&self, interval: Interval, at: UnixMillis) -> Option<UnixMillis> {
        let zoned = Timestamp::from_millisecond(at)
            .ok()?
            .to_zoned(self.time_zone.clone());
        match interval {
            // Back to the local hour's start in real time, so the two 02:00 hours of an autumn
            // night stay two hours.
            Interval::Hour => {
                let into_hour = i64::from(zoned.minute()) * 60_000
                    + i64::from(zoned.second()) * 1_000
                    + i64::from(zoned.millisecond());
                Some(at - into_hour)
            }
            Interval::Day => self.midnight(zoned.date()),
            Interval::Month => self.midnight(zoned.date().first_of_month()),
        }
    }

    /// The start of the interval after the one starting at `start`.
    fn next(&self, interval: Interval, start: UnixMillis) -> Option<UnixMillis> {
        let date = Timestamp::from_millisecond(start)
            .ok()?
            .to_zoned(self.time_zone.clone())
            .date();
        match interval {
            Interval::Hour => start.checked_add(3_600_000),
            Interval::Day => self.midnight(date.tomorrow().ok()?),
            Interval::Month => self.midnight(date.last_of_month().tomorrow().ok()?),
        }
    }

    /// The first instant of `date` here: midnight, or the end of a DST gap that skips it.
    fn midnight(&self, date: Date) -> Option<UnixMillis> {
        self.time_zone
            .to_zoned(date.to_datetime(Time::midnight()))
            .ok()
            .map(|zoned| zoned.timestamp().as_millisecond())
    }
}

#[cfg(test)]
mod tests;
