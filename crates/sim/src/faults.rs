//! Failure injection: deciding, per request, whether to fail, stall or cut the stream, as the
//! current `Faults` say.

use std::sync::atomic::{AtomicU64, Ordering};

use http::StatusCode;

use crate::config::Faults;
use crate::error::SimError;
use crate::stats::{Counters, bump};

/// What happens to a request before any work is done on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// Serve it normally.
    Proceed,
    /// Answer this 5xx at once.
    Error(StatusCode),
    /// Hold it without a byte for the stall duration.
    Stall,
}

/// Draws `true` with probability `rate`. No random number is drawn for the common rates 0 and 1,
/// which keeps the fault-free hot path cheap.
pub(crate) fn happens(rate: f64) -> bool {
    if rate >= 1.0 {
        true
    } else if rate > 0.0 {
        rand::random::<f64>() < rate
    } else {
        // Zero, negative and NaN rates never fire.
        false
    }
}

/// Chooses the fate of an inference request on arrival, and counts it if it is a fault.
/// Injected errors alternate between 500 and 503, so clients meet both.
pub(crate) fn on_entry(faults: &Faults, counters: &Counters, alternation: &AtomicU64) -> Entry {
    if happens(faults.error_rate) {
        bump(&counters.errors_injected);
        let status = if alternation
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(2)
        {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Entry::Error(status);
    }
    if happens(faults.rate_limit_rate) {
        bump(&counters.errors_injected);
        return Entry::Error(StatusCode::TOO_MANY_REQUESTS);
    }
    if happens(faults.stall_rate) {
        bump(&counters.stalls_injected);
        return Entry::Stall;
    }
    Entry::Proceed
}

/// Carries out an `Entry`: `Ok` to proceed, or the error to answer after the fault played out.
pub(crate) async fn apply(entry: Entry, faults: &Faults) -> Result<(), SimError> {
    match entry {
        Entry::Proceed => Ok(()),
        Entry::Error(status) => Err(SimError::InjectedError { status }),
        Entry::Stall => {
            // If the client gives up first, hyper drops this future and the stall ends with it.
            tokio::time::sleep(faults.stall).await;
            Err(SimError::StallElapsed)
        }
    }
}

/// How many SSE events a stream chosen for a disconnect sends before it is cut: the role chunk and
/// two content chunks, enough for a client to believe the stream was healthy.
pub(crate) const EVENTS_BEFORE_DISCONNECT: u32 = 3;
