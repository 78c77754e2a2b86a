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

use std::num::NonZeroU64;
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
    /// Units per minute, in `1..=MAX_LIMIT_PER_MINUTE`; non-zero so that `Option<Gcra>` costs no
    /// extra word.
    limit: NonZeroU64,
    /// Theoretical arrival time, in ticks since the Unix epoch: at or before `now`, the bucket is
    /// full. An `i128` kept as two words, because `i128`'s 16-byte alignment would pad every scope's
    /// entry by a third, and at 100,000 keys the table's size in cache lines is what costs.
    tat: [u64; 2],
}

/// What a limit looks like from outside at one instant (the `x-ratelimit-*` values).
///
/// The reset duration is derived on demand: it costs two divisions, and a request compares the
/// status of every limit of every scope but reports only the tightest two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GcraStatus {
    pub limit: u64,
    pub remaining: u64,
    /// Ticks until the bucket is full again.
    debt: u64,
}

impl GcraStatus {
    /// The status of a limit of `limit` per minute whose bucket is `debt` ticks from full, for a
    /// bucket counted elsewhere (the replicas' shared counters).
    pub fn of_debt(limit: u64, debt: u64) -> GcraStatus {
        let used = debt.div_ceil(WINDOW_MS as u64);
        GcraStatus {
            limit,
            remaining: limit.saturating_sub(used),
            debt,
        }
    }

    /// Time until the bucket is full again if nothing more is charged.
    pub fn reset(&self) -> Duration {
        ticks_to_duration(self.debt, self.limit)
    }

    /// Whether `self` resets later than `other`; the two may count ticks of different sizes, so
    /// the comparison is of `debt / limit`, cross-multiplied to stay exact.
    pub fn resets_later_than(&self, other: &GcraStatus) -> bool {
        u128::from(self.debt) * u128::from(other.limit)
            > u128::from(other.debt) * u128::from(self.limit)
    }
}

impl Gcra {
    /// A full bucket. `limit` must be at least one (checked where limits are configured).
    pub fn new(limit: u64) -> Self {
        Gcra {
            limit: clamp_limit(limit),
            // The epoch is long past for any real `now`: the bucket starts full.
            tat: [0; 2],
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit.get()
    }

    fn tat(&self) -> i128 {
        let [high, low] = self.tat;
        (i128::from(high as i64) << 64) | i128::from(low)
    }

    fn set_tat(&mut self, tat: i128) {
        self.tat = [(tat >> 64) as u64, tat as u64];
    }

    /// Changes the limit, keeping the TAT's instant: the fraction of the window in use is kept, so a
    /// bucket half-used stays half-used under the new limit.
    pub fn set_limit(&mut self, limit: u64) {
        let limit = clamp_limit(limit);
        if limit == self.limit {
            return;
        }
        let (old, new) = (i128::from(self.limit.get()), i128::from(limit.get()));
        // Split so that `tat × new` never overflows; round up so the debt is never forgiven.
        let tat = self.tat();
        self.set_tat(tat.div_euclid(old) * new + ceil_div(tat.rem_euclid(old) * new, old));
        self.limit = limit;
    }

    /// Whether `units` can be charged at `now`, without charging them.
    pub fn check(&self, units: u64, now: UnixMillis) -> Result<(), Shortfall> {
        if units > self.limit.get() {
            return Err(Shortfall::TooLarge);
        }
        let over = self.debt(now) + i128::from(units) * WINDOW_MS - self.window();
        if over <= 0 {
            Ok(())
        } else {
            let over = u64::try_from(over).unwrap_or(u64::MAX);
            Err(Shortfall::RetryAfter(ticks_to_duration(
                over,
                self.limit.get(),
            )))
        }
    }

    /// Charges `units` at `now`, unconditionally (after a successful `check`, or to record usage
    /// that already happened).
    pub fn charge(&mut self, units: u64, now: UnixMillis) {
        self.set_tat(self.tat().max(self.now_ticks(now)) + i128::from(units) * WINDOW_MS);
    }

    /// Gives back `units` charged earlier. The TAT may fall before `now`, which means no more than a
    /// full bucket: credit cannot be banked for later.
    pub fn refund(&mut self, units: u64) {
        self.set_tat(self.tat() - i128::from(units) * WINDOW_MS);
    }

    /// Empties the debt: the bucket is full from `now` on.
    pub fn reset(&mut self) {
        self.tat = [0; 2];
    }

    pub fn status(&self, now: UnixMillis) -> GcraStatus {
        // The debt fits in 64 bits (it is at most a few windows of at most 6 × 10^16 ticks), and
        // 64-bit arithmetic matters here: this runs for every limit of every request, and 128-bit
        // division is a slow library call.
        let debt = u64::try_from(self.debt(now)).unwrap_or(u64::MAX);
        // `debt` never exceeds the window once admitted, but usage recorded after the fact (a
        // settlement above the estimate) can push it beyond: remaining is then zero, not negative.
        GcraStatus::of_debt(self.limit.get(), debt)
    }

    fn window(&self) -> i128 {
        WINDOW_MS * i128::from(self.limit.get())
    }

    fn now_ticks(&self, now: UnixMillis) -> i128 {
        i128::from(now) * i128::from(self.limit.get())
    }

    /// How far the TAT is ahead of `now`, in ticks; zero for a full bucket.
    fn debt(&self, now: UnixMillis) -> i128 {
        (self.tat() - self.now_ticks(now)).max(0)
    }
}

fn clamp_limit(limit: u64) -> NonZeroU64 {
    NonZeroU64::MIN.saturating_add(limit.clamp(1, MAX_LIMIT_PER_MINUTE) - 1)
}

/// Ticks of `1 / limit` ms (the unit in which a limit of `limit` per minute counts) to a duration, rounded up to the nanosecond so that waiting that long
/// always suffices.
pub fn ticks_to_duration(ticks: u64, limit: u64) -> Duration {
    // Whole milliseconds, then the fraction: `remainder × 10^6` stays below 10^18 since the limit
    // is at most 10^12.
    let millis = ticks / limit;
    let fraction = (ticks % limit * 1_000_000).div_ceil(limit);
    Duration::from_nanos(millis.saturating_mul(1_000_000).saturating_add(fraction))
}

/// `a / b` rounded up, for `a >= 0` and `b > 0` (`i128::div_ceil` is not stable yet).
fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}

#[cfg(test)]
mod tests;
