//! Section `[admission]`: how rate limits and budgets count; the limits and budgets themselves
//! are set through the admin API and kept in the store.

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::at_least_one;

/// Section `[admission]`. The limits and budgets themselves are set through the admin API
/// (`/admin/v1/limits`, `/admin/v1/budgets`) and kept in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Key `time_zone`: the IANA time zone in which daily and monthly budgets reset at midnight,
    /// usage reports cut their hour, day and month buckets, and chargeback months begin.
    /// Default `UTC`.
    pub time_zone: String,
    /// Key `default_completion_tokens`: the completion length admission reserves for a request that
    /// sets no `max_tokens`, at least 1. Default 1024. Settlement corrects it with the real count.
    pub default_completion_tokens: u64,
}

/// As written; the keys are documented on [`AdmissionConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmission {
    pub time_zone: Option<String>,
    pub default_completion_tokens: Option<u64>,
}

pub(crate) const ADMISSION_TIME_ZONE: &str = "UTC";
pub(crate) const ADMISSION_DEFAULT_COMPLETION_TOKENS: u64 = 1024;

pub(crate) fn validate(raw: RawAdmission, errors: &mut Collector) -> AdmissionConfig {
    let time_zone = raw
        .time_zone
        .unwrap_or_else(|| ADMISSION_TIME_ZONE.to_owned());
    if jiff::tz::TimeZone::get(&time_zone).is_err() {
        errors.push(
            "admission.time_zone",
            format!(
                "unknown time zone `{time_zone}` (expected an IANA name such as `Europe/Paris`)"
            ),
        );
    }
    let default_completion_tokens = at_least_one(
        raw.default_completion_tokens,
        ADMISSION_DEFAULT_COMPLETION_TOKENS,
        "admission.default_completion_tokens",
        errors,
    );
    AdmissionConfig {
        time_zone,
        default_completion_tokens,
    }
}
