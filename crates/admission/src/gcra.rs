//! The generic cell rate algorithm (GCRA, "virtual scheduling") for one per-minute limit.
//!
//! The state is one number, the theoretical arrival time (TAT): the instant at which the bucket would
//! be full again if nothing more were charged. A charge of `n` units moves the TAT forward by `n`
//! emission intervals (one interval = a minute / limit). The burst tolerance equals the limit, so a
//! full bucket admits `limit` units at once, and then one unit per interval: the rate is smooth, with
//! no window edge at which twice the limit can pass.
//!
//! Time is counted in *ticks* of `1 / limit` millisecond, so that one unit costs exactly
//! `WINDOW_MS` ticks and every computation is an exact integer one: 60 requests per minute is exactly
//! one per second, and 7 per minute never drifts. Ticks are `i128` because `now × limit` overflows
//! `i64` for large token limits; limits are capped at [`MAX_LIMIT_PER_MINUTE`] so nothing overflows
//! `i128` until the year 5,000,000.

use std::time::Duration;

use domain::UnixMillis;

/// The limit's window: limits are per minute.
pub(crate) const WINDOW_MS: i128 = 60_000;

/// The largest per-minute limit accepted (a trillion units a minute is far above any GPU pool).
pub const MAX_LIMIT_PER_MINUTE: u64 = 1_000_000_000_000;

/// Why a charge cannot be admitted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shortfall {
    /// Admitted after this wait, if nothing else is charged meanwhile.
    RetryAfter(Duration),
    /// More units than the limit: never admitted, however long the caller waits.
    TooLarge,
}

/// The state of one limit.
#[derive(Debug, Clone)]
pub(crate) struct Gcra {
    /// Units per minute, in `1..=MAX_LIMIT_PER_MINUTE`.
    limit: u64,
    /// Theoretical arrival time, in ticks since the Unix epoch. At or before `now`, the bucket is full.
    tat: i128,
}

/// What a limit looks like from outside at one instant (the `x-ratelimit-*` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GcraStatus {
    pub limit: u64,
    pub remaining: u64,
    pub reset: Duration,
}

impl Gcra {
    /// A full bucket. `limit` must be at least one (checked where limits are configured).
    pub fn new(limit: u64) -> Self {
        Gcra {
            limit: limit.clamp(1, MAX_LIMIT_PER_MINUTE),
            // The epoch is long past for any real `now`: the bucket starts full.
            tat: 0,
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Changes the limit, keeping the TAT's instant: the fraction of the window in use is kept, so a
    /// bucket half-used stays half-used under the new limit.
    pub fn set_limit(&mut self, limit: u64) {
        let limit = limit.clamp(1, MAX_LIMIT_PER_MINUTE);
        if limit == self.limit {
            return;
        }
        let (old, new) = (i128::from(self.limit), i128::from(limit));
        // Split so that `tat × new` never overflows; round up so the debt is never forgiven.
        self.tat = self.tat.div_euclid(old) * new + ceil_div(self.tat.rem_euclid(old) * new, old);
        self.limit = limit;
    }

    /// Whether `units` can be charged at `now`, without charging them.
    pub fn check(&self, units: u64, now: UnixMillis) -> Result<(), Shortfall> {
        if units > self.limit {
            return Err(Shortfall::TooLarge);
        }
        let over = self.debt(now) + i128::from(units) * WINDOW_MS - self.window();
        if over <= 0 {
            Ok(())
        } else {
            Err(Shortfall::RetryAfter(self.ticks_to_duration(over)))
        }
    }

    /// Charges `units` at `now`, unconditionally (after a successful `check`, or to record usage
    /// that already happened).
    pub fn charge(&mut self, units: u64, now: UnixMillis) {
        self.tat = self.tat.max(self.now_ticks(now)) + i128::from(units) * WINDOW_MS;
    }

    /// Gives back `units` charged earlier. The TAT may fall before `now`, which means no more than a
    /// full bucket: credit cannot be banked for later.
    pub fn refund(&mut self, units: u64) {
        self.tat -= i128::from(units) * WINDOW_MS;
    }

    /// Empties the debt: the bucket is full from `now` on.
    pub fn reset(&mut self) {
        self.tat = 0;
    }

    pub fn status(&self, now: UnixMillis) -> GcraStatus {
        let debt = self.debt(now);
        // `debt` never exceeds the window once admitted, but usage recorded after the fact (a
        // settlement above the estimate) can push it beyond: remaining is then zero, not negative.
        let used = (debt + WINDOW_MS - 1).div_euclid(WINDOW_MS);
        let remaining = (i128::from(self.limit) - used).max(0);
        GcraStatus {
            limit: self.limit,
            remaining: u64::try_from(remaining).unwrap_or(0),
            reset: self.ticks_to_duration(debt),
        }
    }

    fn window(&self) -> i128 {
        WINDOW_MS * i128::from(self.limit)
    }

    fn now_ticks(&self, now: UnixMillis) -> i128 {
        i128::from(now) * i128::from(self.limit)
    }

    /// How far the TAT is ahead of `now`, in ticks; zero for a full bucket.
    fn debt(&self, now: UnixMillis) -> i128 {
        (self.tat - self.now_ticks(now)).max(0)
    }

    /// Ticks to a duration, rounded up to the nanosecond so that waiting that long always suffices.
    fn ticks_to_duration(&self, ticks: i128) -> Duration {
        let nanos = ceil_div(ticks.max(0) * 1_000_000, i128::from(self.limit));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// `a / b` rounded up, for `a >= 0` and `b > 0` (`i128::div_ceil` is not stable yet).
fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}

#[cfg(test)]
mod tests;
