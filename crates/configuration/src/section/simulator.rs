//! Section `[simulator]`: the in-process GPU-backend simulator, for trials and tests.

use std::time::Duration;

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::at_least_one;

/// Section `[simulator]`: Fabrique's in-process GPU-backend simulator, for trials and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// Key `embedded`: start the simulator in-process; endpoints of kind `simulator` without a `url`
    /// are served by it. Default `true`.
    pub embedded: bool,
    /// Key `ttft_ms`: simulated time to first token, in milliseconds. Default 20.
    pub ttft: Duration,
    /// Key `tokens_per_second`: simulated decoding speed per sequence; finite and above 0.
    /// Default 200.0.
    pub tokens_per_second: f64,
    /// Key `capacity`: sequences the simulated GPU decodes at once, at least 1. Default 16. Also the
    /// capacity of the built-in `simulator` endpoint.
    pub capacity: usize,
}

/// As written; the keys are documented on [`SimulatorConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSimulator {
    pub embedded: Option<bool>,
    pub ttft_ms: Option<u64>,
    pub tokens_per_second: Option<f64>,
    pub capacity: Option<u64>,
}

pub(crate) const SIMULATOR_EMBEDDED: bool = true;
pub(crate) const SIMULATOR_TTFT_MS: u64 = 20;
pub(crate) const SIMULATOR_TOKENS_PER_SECOND: f64 = 200.0;
pub(crate) const SIMULATOR_CAPACITY: u64 = 16;

pub(crate) fn validate(raw: RawSimulator, errors: &mut Collector) -> SimulatorConfig {
    let tokens_per_second = raw.tokens_per_second.unwrap_or(SIMULATOR_TOKENS_PER_SECOND);
    if !(tokens_per_second.is_finite() && tokens_per_second > 0.0) {
        errors.push(
            "simulator.tokens_per_second",
            format!("must be a finite number above 0, found {tokens_per_second}"),
        );
    }
    let capacity = at_least_one(
        raw.capacity,
        SIMULATOR_CAPACITY,
        "simulator.capacity",
        errors,
    );
    SimulatorConfig {
        embedded: raw.embedded.unwrap_or(SIMULATOR_EMBEDDED),
        ttft: Duration::from_millis(raw.ttft_ms.unwrap_or(SIMULATOR_TTFT_MS)),
        tokens_per_second,
        capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
    }
}
