//! Section `[routing]`: how a request finds a backend, retries and avoids failing ones.

use std::time::Duration;

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::at_least_one;

/// Section `[routing]`: how a request finds a backend, retries and avoids failing ones.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingConfig {
    /// Key `max_attempts`: how many endpoints are tried for one request, counting the endpoints of
    /// fallback models too; 1 to 10. Default 3.
    pub max_attempts: u32,
    /// Key `deadline_ms`: the total time allowed to get the first byte from some backend, across all
    /// attempts, in milliseconds, at least 1. Default 30000.
    pub deadline: Duration,
    /// Key `first_byte_timeout_ms`: per attempt, the time allowed until response headers, in
    /// milliseconds, at least 1. Default 15000.
    pub first_byte_timeout: Duration,
    /// Key `connect_timeout_ms`: per attempt, the time allowed to open the connection, in
    /// milliseconds, at least 1. Default 2000.
    pub connect_timeout: Duration,
    /// Key `circuit_failures`: consecutive failures that open an endpoint's circuit, at least 1.
    /// Default 5.
    pub circuit_failures: u32,
    /// Key `circuit_open_ms`: how long a circuit stays open before one half-open probe request, in
    /// milliseconds, at least 1. Default 10000.
    pub circuit_open: Duration,
    /// Key `health_check_interval_ms`: the period of active health checks, in milliseconds; `0`
    /// disables them (`None`). Default 5000.
    pub health_check_interval: Option<Duration>,
}

/// As written; the keys are documented on [`RoutingConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouting {
    pub max_attempts: Option<u32>,
    pub deadline_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub circuit_failures: Option<u32>,
    pub circuit_open_ms: Option<u64>,
    pub health_check_interval_ms: Option<u64>,
}

pub(crate) const MAX_ATTEMPTS: u32 = 3;
/// `max_attempts` bounds: more than ten attempts only lengthens the wait for a failure.
pub(crate) const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u32> = 1..=10;
pub(crate) const DEADLINE_MS: u64 = 30_000;
pub(crate) const FIRST_BYTE_TIMEOUT_MS: u64 = 15_000;
pub(crate) const CONNECT_TIMEOUT_MS: u64 = 2_000;
pub(crate) const CIRCUIT_FAILURES: u32 = 5;
pub(crate) const CIRCUIT_OPEN_MS: u64 = 10_000;
pub(crate) const HEALTH_CHECK_INTERVAL_MS: u64 = 5_000;

pub(crate) fn validate(raw: RawRouting, errors: &mut Collector) -> RoutingConfig {
    let max_attempts = raw.max_attempts.unwrap_or(MAX_ATTEMPTS);
    if !MAX_ATTEMPTS_RANGE.contains(&max_attempts) {
        errors.push(
            "routing.max_attempts",
            format!(
                "must be between {} and {}, found {max_attempts}",
                MAX_ATTEMPTS_RANGE.start(),
                MAX_ATTEMPTS_RANGE.end()
            ),
        );
    }
    let millis = |value: Option<u64>, default: u64, key: &str, errors: &mut Collector| {
        Duration::from_millis(at_least_one(value, default, key, errors))
    };
    let circuit_failures = at_least_one(
        raw.circuit_failures.map(u64::from),
        u64::from(CIRCUIT_FAILURES),
        "routing.circuit_failures",
        errors,
    );
    RoutingConfig {
        max_attempts,
        deadline: millis(raw.deadline_ms, DEADLINE_MS, "routing.deadline_ms", errors),
        first_byte_timeout: millis(
            raw.first_byte_timeout_ms,
            FIRST_BYTE_TIMEOUT_MS,
            "routing.first_byte_timeout_ms",
            errors,
        ),
        connect_timeout: millis(
            raw.connect_timeout_ms,
            CONNECT_TIMEOUT_MS,
            "routing.connect_timeout_ms",
            errors,
        ),
        circuit_failures: u32::try_from(circuit_failures).unwrap_or(u32::MAX),
        circuit_open: millis(
            raw.circuit_open_ms,
            CIRCUIT_OPEN_MS,
            "routing.circuit_open_ms",
            errors,
        ),
        // Zero is the documented way to turn active health checks off.
        health_check_interval: match raw
            .health_check_interval_ms
            .unwrap_or(HEALTH_CHECK_INTERVAL_MS)
        {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
    }
}
