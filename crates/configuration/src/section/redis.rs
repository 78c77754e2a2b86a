//! Section `[redis]`: the Redis server through which replicas share their rate limits and budgets.
//! Absent, a process counts in memory alone, as a single replica should.

use std::time::Duration;

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::{Env, at_least_one, credential};
use crate::section::server::redact_user_info;

/// Section `[redis]`: rate limits and budgets counted in Redis, so that a limit of N holds for the
/// whole group of replicas rather than N per replica (`counters` crate).
///
/// ```toml
/// [redis]
/// url_env = "FABRIQUE_REDIS_URL"   # or url = "redis://redis.internal:6379"
/// key_prefix = "fabrique"
/// replicas = 3
/// timeout_ms = 250
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Key `url` (`redis://host:port/db`, or `rediss://` for TLS), or key `url_env`, the *name* of
    /// the environment variable that holds it, for a URL that carries a password. One is required.
    pub url: String,
    /// Key `key_prefix`: the start of every key Fabrique writes, so that several installations (or
    /// tests) can share one server. Letters, digits, `-`, `_`, `:` and `.`. Default `fabrique`.
    pub key_prefix: String,
    /// Key `replicas`: how many replicas share the limits, at least 1. While Redis cannot be
    /// reached, each replica admits this share of every rate limit alone (a limit of 100 a minute
    /// and 4 replicas: 25 a minute each, rounded up), and, once its lease on the GPU endpoints'
    /// capacity has run out, uses this share of each endpoint (rounded down). Default 1.
    pub replicas: u32,
    /// Key `timeout_ms`: how long a request waits for Redis before it is treated as unreachable,
    /// from 10 to 10000. Default 250.
    pub timeout: Duration,
}

/// The URL's password never shows.
impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_user_info(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("replicas", &self.replicas)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// As written; the keys are documented on [`RedisConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedis {
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub key_prefix: Option<String>,
    pub replicas: Option<u64>,
    pub timeout_ms: Option<u64>,
}

const DEFAULT_KEY_PREFIX: &str = "fabrique";
const DEFAULT_TIMEOUT_MS: u64 = 250;
const TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u64> = 10..=10_000;

pub(crate) fn validate(raw: RawRedis, env: Env<'_>, errors: &mut Collector) -> RedisConfig {
    let url = match (raw.url, raw.url_env) {
        (Some(_), Some(_)) => {
            errors.push("redis.url", "give `url` or `url_env`, not both");
            None
        }
        (Some(url), None) => Some(url),
        (None, Some(variable)) => credential(&variable, "redis.url_env", env, errors),
        (None, None) => {
            errors.push("redis", "`url` or `url_env` is required");
            None
        }
    };
    let url = url.unwrap_or_default();
    let scheme_ok = ["redis://", "rediss://"].iter().any(|s| url.starts_with(s));
    if !url.is_empty() && !scheme_ok {
        // Not echoed: the URL may hold a password.
        errors.push("redis.url", "must start with `redis://` or `rediss://`");
    }
    let key_prefix = raw
        .key_prefix
        .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_owned());
    let prefix_ok = !key_prefix.is_empty()
        && key_prefix.len() <= 64
        && key_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
    if !prefix_ok {
        errors.push(
            "redis.key_prefix",
            format!("`{key_prefix}` must be 1 to 64 letters, digits, `-`, `_`, `:` or `.`"),
        );
    }
    let replicas = at_least_one(raw.replicas, 1, "redis.replicas", errors);
    let replicas = u32::try_from(replicas).unwrap_or_else(|_| {
        errors.push("redis.replicas", format!("{replicas} replicas is too many"));
        1
    });
    let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !TIMEOUT_RANGE_MS.contains(&timeout_ms) {
        errors.push(
            "redis.timeout_ms",
            format!("must be from 10 to 10000, found {timeout_ms}"),
        );
    }
    RedisConfig {
        url,
        key_prefix,
        replicas,
        timeout: Duration::from_millis(timeout_ms),
    }
}
