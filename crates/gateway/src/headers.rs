//! The headers of the inference API: the names the gateway reads and writes, the request id, and
//! the response headers built from admission's and scheduling's outcome. A leaf of the crate: no
//! stage is imported here, so every stage and the error type can use it.

use std::fmt::Write as _;
use std::time::Duration;

use admission::{BudgetWarning, RateHeaders, RateStatus};
use http::{HeaderMap, HeaderName, HeaderValue, header};

/// The request's id, the server's, on every response.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";
/// The caller's own id for the request, echoed on the response when it sent one.
pub(crate) const CLIENT_REQUEST_ID_HEADER: &str = "x-client-request-id";
/// The request header a caller uses to label its data.
pub(crate) const CLASSIFICATION_HEADER: &str = "x-fabrique-classification";
/// The request header naming the use case a request serves.
pub(crate) const USE_CASE_HEADER: &str = "x-fabrique-use-case";
/// The use-case version that answered a `usecase/<slug>` request.
pub(crate) const USE_CASE_VERSION_HEADER: &str = "x-fabrique-use-case-version";
/// The header naming a request's priority class: `interactive`, `standard` or `batch`.
pub(crate) const PRIORITY_HEADER: &str = "x-fabrique-priority";
/// The header asking for a shorter wait than the priority class allows, in milliseconds.
pub(crate) const MAX_QUEUE_HEADER: &str = "x-fabrique-max-queue-ms";
/// The response header telling how long the request waited for its sequence, in milliseconds.
pub const QUEUE_WAIT_HEADER: &str = "x-fabrique-queue-ms";
/// The header an admitted request carries when it took a budget past its soft threshold.
pub(crate) const BUDGET_WARNING_HEADER: &str = "x-fabrique-budget-warning";
/// The response header of an answer served from the response cache: `hit`.
pub const CACHE_HEADER: &str = "x-fabrique-cache";
/// The response header telling what the data policy hid from the model, by kind and count, never
/// the values: `pseudonymized IBAN=2 EMAIL=1; redacted PHONE_FR=1`.
pub const PERSONAL_DATA_HEADER: &str = "x-fabrique-personal-data";

/// What the data policy hid from the model in a request's input, counted by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Protected {
    pub pseudonymized: policy::TypeCounts,
    pub redacted: policy::TypeCounts,
}

impl Protected {
    pub fn is_empty(&self) -> bool {
        self.pseudonymized.is_empty() && self.redacted.is_empty()
    }
}

/// The personal-data header: each action that applied, then its kinds and counts.
pub(crate) fn personal_data_header(headers: &mut HeaderMap, protected: &Protected) {
    let mut text = String::new();
    for (action, counts) in [
        ("pseudonymized", &protected.pseudonymized),
        ("redacted", &protected.redacted),
    ] {
        if counts.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(action);
        for (kind, count) in counts.iter() {
            let _ = write!(text, " {}={count}", kind.as_str());
        }
    }
    if let Ok(value) = HeaderValue::try_from(text) {
        headers.insert(PERSONAL_DATA_HEADER, value);
    }
}

/// A fresh request id (a UUIDv7, time-ordered). Records, audit events and traces are keyed by
/// it, so no caller can give two requests one id, or its request another's.
pub fn request_id() -> HeaderValue {
    let id = uuid::Uuid::now_v7().simple().to_string();
    HeaderValue::try_from(id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The caller's own id for the request — `x-client-request-id` (OpenAI's), else `x-request-id` —
/// when it is reasonable: 1 to 128 printable ASCII characters.
pub fn client_request_id(headers: &HeaderMap) -> Option<HeaderValue> {
    [CLIENT_REQUEST_ID_HEADER, REQUEST_ID_HEADER]
        .iter()
        .find_map(|name| headers.get(*name))
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
}

/// Marks a response body as JSON.
pub(crate) fn json_content(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
}

/// Adds the `x-ratelimit-*` headers of the request's tightest limits.
pub(crate) fn rate_headers(headers: &mut HeaderMap, rate: &RateHeaders) {
    for (status, suffix) in [(&rate.requests, "requests"), (&rate.tokens, "tokens")] {
        if let Some(status) = status {
            insert_rate(headers, status, suffix);
        }
    }
}

fn insert_rate(headers: &mut HeaderMap, status: &RateStatus, suffix: &str) {
    let values = [
        ("limit", HeaderValue::from(status.limit)),
        ("remaining", HeaderValue::from(status.remaining)),
        ("reset", reset_value(status.reset)),
    ];
    for (what, value) in values {
        if let Ok(name) = HeaderName::try_from(format!("x-ratelimit-{what}-{suffix}")) {
            headers.insert(name, value);
        }
    }
}

/// A duration as OpenAI writes resets: `250ms`, `12s`, `1m30s`. Seconds are rounded up so a caller
/// that waits that long is not refused again.
fn reset_value(reset: Duration) -> HeaderValue {
    let millis = reset.as_millis();
    let mut text = String::new();
    if millis < 1_000 {
        let _ = write!(text, "{millis}ms");
    } else {
        let seconds = millis.div_ceil(1_000);
        let (minutes, seconds) = (seconds / 60, seconds % 60);
        if minutes > 0 {
            let _ = write!(text, "{minutes}m");
        }
        let _ = write!(text, "{seconds}s");
    }
    HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("0s"))
}

/// The budget warning header: which budget, how much of it is committed.
pub(crate) fn warning_header(headers: &mut HeaderMap, warning: &BudgetWarning) {
    let percent = u128::from(warning.committed) * 100 / u128::from(warning.limit.max(1));
    let text = format!(
        "{} {} budget of {} at {percent}% ({} of {})",
        warning.period.adjective(),
        warning.unit.noun(),
        warning.scope,
        warning.committed,
        warning.limit
    );
    if let Ok(value) = HeaderValue::try_from(text) {
        headers.insert(BUDGET_WARNING_HEADER, value);
    }
}

/// How long the request waited for its sequence of a GPU pool.
pub(crate) fn queue_wait_header(headers: &mut HeaderMap, wait: Duration) {
    let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    headers.insert(QUEUE_WAIT_HEADER, HeaderValue::from(millis));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_read_like_openai_and_round_up() {
        let text = |d| reset_value(d).to_str().unwrap_or("").to_owned();
        assert_eq!(text(Duration::from_millis(250)), "250ms");
        assert_eq!(text(Duration::from_millis(1_001)), "2s");
        assert_eq!(text(Duration::from_secs(90)), "1m30s");
        assert_eq!(text(Duration::from_secs(120)), "2m0s");
    }
}
