//! Section `[sessions]`: how long a web session lives, how long the roles the identity provider's
//! groups grant hold in it, and whether its cookie is sent over HTTPS only.

use std::time::Duration;

use serde::Deserialize;

use crate::error::Collector;

/// Section `[sessions]`: web sessions, opened by a sign-in through the identity provider (`[oidc]`)
/// or by a one-time sign-in link. Administrators list and end them (`/admin/v1/sessions`).
///
/// ```toml
/// [sessions]
/// idle_timeout_secs = 3600
/// absolute_timeout_secs = 28800
/// role_ttl_secs = 900
/// cookie_secure = true
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionsConfig {
    /// Key `idle_timeout_secs`: a session unused for this long ends, from 60 to
    /// `absolute_timeout_secs`. Default 3600 (1 hour), or the absolute timeout if shorter.
    pub idle_timeout: Duration,
    /// Key `absolute_timeout_secs`: a session ends this long after sign-in whatever its use, at
    /// least 60. Default 28800 (8 hours).
    pub absolute_timeout: Duration,
    /// Key `role_ttl_secs`: the roles mapped from the identity provider's groups (`[oidc]
    /// role_map`) hold this long in a session, at least 60 and at most the absolute timeout; then
    /// the session keeps only the user's stored roles until the next sign-in reads the groups
    /// again, so a group removed at the provider takes effect within this time. Default 900.
    pub role_ttl: Duration,
    /// Key `cookie_secure`: send the session cookie with `Secure` (HTTPS only). Absent: `Secure`
    /// when the request came over HTTPS (a proxy's `X-Forwarded-Proto: https`) or `[oidc]
    /// redirect_url` is `https://`; set `true` behind a proxy that does not say so.
    pub cookie_secure: Option<bool>,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        validate(RawSessions::default(), &mut Collector::new(""))
    }
}

/// As written; the keys are documented on [`SessionsConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSessions {
    pub idle_timeout_secs: Option<u64>,
    pub absolute_timeout_secs: Option<u64>,
    pub role_ttl_secs: Option<u64>,
    pub cookie_secure: Option<bool>,
}

const DEFAULT_ABSOLUTE_SECS: u64 = 8 * 3600;
const DEFAULT_IDLE_SECS: u64 = 3600;
const DEFAULT_ROLE_TTL_SECS: u64 = 900;
const AT_LEAST_SECS: u64 = 60;

pub(crate) fn validate(raw: RawSessions, errors: &mut Collector) -> SessionsConfig {
    let absolute = raw.absolute_timeout_secs.unwrap_or(DEFAULT_ABSOLUTE_SECS);
    if absolute < AT_LEAST_SECS {
        errors.push(
            "sessions.absolute_timeout_secs",
            format!("must be at least {AT_LEAST_SECS}, found {absolute}"),
        );
    }
    let ceiling = absolute.max(AT_LEAST_SECS);
    let within = |key: &str, value: u64, errors: &mut Collector| {
        if !(AT_LEAST_SECS..=ceiling).contains(&value) {
            errors.push(
                format!("sessions.{key}"),
                format!(
                    "must be from {AT_LEAST_SECS} to `absolute_timeout_secs` ({absolute}), found {value}"
                ),
            );
        }
    };
    let idle = raw
        .idle_timeout_secs
        .unwrap_or(DEFAULT_IDLE_SECS.min(ceiling));
    within("idle_timeout_secs", idle, errors);
    let role_ttl = raw
        .role_ttl_secs
        .unwrap_or(DEFAULT_ROLE_TTL_SECS.min(ceiling));
    within("role_ttl_secs", role_ttl, errors);
    SessionsConfig {
        idle_timeout: Duration::from_secs(idle),
        absolute_timeout: Duration::from_secs(absolute),
        role_ttl: Duration::from_secs(role_ttl),
        cookie_secure: raw.cookie_secure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validated(raw: RawSessions) -> (SessionsConfig, usize) {
        let mut errors = Collector::new("test");
        let config = validate(raw, &mut errors);
        (config, errors.into_errors().0.len())
    }

    #[test]
    fn defaults_are_an_hour_idle_a_working_day_at_most_and_a_quarter_hour_of_roles() {
        let (config, problems) = validated(RawSessions::default());
        assert_eq!(problems, 0);
        assert_eq!(config.idle_timeout, Duration::from_secs(3600));
        assert_eq!(config.absolute_timeout, Duration::from_secs(28_800));
        assert_eq!(config.role_ttl, Duration::from_secs(900));
        assert_eq!(config.cookie_secure, None);
    }

    #[test]
    fn timeouts_out_of_range_are_refused() {
        let (_, problems) = validated(RawSessions {
            idle_timeout_secs: Some(7200),
            absolute_timeout_secs: Some(3600),
            role_ttl_secs: Some(10),
            cookie_secure: None,
        });
        assert_eq!(problems, 2);
        let (_, problems) = validated(RawSessions {
            absolute_timeout_secs: Some(30),
            ..RawSessions::default()
        });
        assert_eq!(problems, 1);
    }
}
