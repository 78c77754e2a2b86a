//! Usage reports, the pure part: what the admin API's usage queries and the monthly chargeback
//! compute around the store's sums.
//!
//! - [`Zone`]: instants and calendar buckets (hour, day, month) in the group's time zone
//!   (`[admission] time_zone`), DST-correct: a bucket is a real interval between two instants, so
//!   the late-October day in Paris lasts 25 hours and its repeated 02:00 hour is two buckets.
//! - [`money`]: micro-units shown as currency units and shares of a total as fixed decimals, with
//!   integer arithmetic only.
//! - [`chargeback`]: the per-entity, per-line report and its CSV form.
//!
//! **Invariant:** no I/O and no clock; every input is passed in, so every result is tested exactly.

pub mod chargeback;
pub mod csv;
pub mod money;
mod zone;

pub use chargeback::{Chargeback, ChargebackLine};
pub use zone::MAX_BUCKETS;
pub use zone::{Interval, Month, ReportError, Zone};
