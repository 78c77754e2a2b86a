//! The circuit breaker of one endpoint: closed → open after consecutive failures → half-open after
//! the open period, where a single probe decides between closed and open again.

use std::time::Instant;

use crate::CircuitPolicy;

/// The breaker's state as reported outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Default)]
pub struct Circuit {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probe_in_flight: bool,
}

impl Circuit {
    pub fn state(&self, now: Instant) -> CircuitState {
        match self.open_until {
            None => CircuitState::Closed,
            Some(until) if now < until => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    /// Whether a request may be sent now.
    pub fn admits(&self, now: Instant) -> bool {
        match self.state(now) {
            CircuitState::Closed => true,
            CircuitState::Open => false,
            CircuitState::HalfOpen => !self.probe_in_flight,
        }
    }

    /// Marks a request as sent; returns true when it is the half-open probe.
    pub fn begin(&mut self, now: Instant) -> bool {
        if self.state(now) == CircuitState::HalfOpen {
            self.probe_in_flight = true;
            true
        } else {
            false
        }
    }

    pub fn record_success(&mut self) {
        self.consecutive_failures = 0;
        self.open_until = None;
        self.probe_in_flight = false;
    }

    pub fn record_failure(&mut self, now: Instant, policy: CircuitPolicy, was_probe: bool) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if was_probe || self.consecutive_failures >= policy.failures.max(1) {
            self.open_until = Some(now + policy.open_for);
            self.probe_in_flight = false;
        }
    }

    /// An active health check passed: an open circuit may be probed right away.
    pub fn health_check_passed(&mut self) {
        if let Some(until) = self.open_until {
            let now = Instant::now();
            if until > now {
                self.open_until = Some(now);
            }
        }
    }

    pub fn probe_abandoned(&mut self) {
        self.probe_in_flight = false;
    }
}
