//! The batch headroom: how many sequences `batch` requests may hold, so that a person's question
//! finds a free sequence instead of waiting for a batch line to end (the scheduler does not
//! preempt). Batches fill what the pool's interactive and standard work left idle at its recent
//! peak, less `PoolSettings::batch_headroom` for that work to grow:
//! `batch held + recent urgent peak < PoolSettings::batch_limit`, and one batch request at least
//! whenever a sequence is free, so batches always progress. The recent peak is the most
//! interactive and standard sequences held at once in the current and the previous window of
//! [`PEAK_WINDOW`]: when people stop asking, batches take the pool back within two windows.

use std::time::Duration;

use tokio::time::Instant;

/// How long an urgent peak keeps sequences from batches, one to two of these.
pub(crate) const PEAK_WINDOW: Duration = Duration::from_secs(10);

/// Interactive and standard sequences held now and at their recent peak.
#[derive(Debug, Default)]
pub(crate) struct UrgentLoad {
    pub(crate) in_flight: u32,
    peak: u32,
    previous_peak: u32,
    window_started: Option<Instant>,
}

impl UrgentLoad {
    pub(crate) fn dispatched(&mut self, now: Instant) {
        self.in_flight += 1;
        self.roll(now);
        self.peak = self.peak.max(self.in_flight);
    }

    pub(crate) fn finished(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Moves to the window `now` is in.
    pub(crate) fn roll(&mut self, now: Instant) {
        let Some(started) = self.window_started else {
            self.window_started = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(started);
        if elapsed < PEAK_WINDOW {
            return;
        }
        // Past two windows nothing urgent was dispatched in the last one: what is held now was
        // held all along, and is the most that was.
        self.previous_peak = if elapsed < 2 * PEAK_WINDOW {
            self.peak
        } else {
            self.in_flight
        };
        self.peak = self.in_flight;
        self.window_started = Some(now);
    }

    pub(crate) fn recent_peak(&self) -> u32 {
        self.peak.max(self.previous_peak).max(self.in_flight)
    }
}
