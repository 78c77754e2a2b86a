//! Reading request bodies and query strings into typed requests, with errors that say what is wrong.

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use serde::de::DeserializeOwned;

use crate::AdminError;

/// A JSON body into `T` (whose fields are checked by serde: missing, unknown or mistyped fields
/// are named in the message).
pub(crate) fn json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, AdminError> {
    let bytes =
        body.map_err(|e| AdminError::bad_request(format!("cannot read the request body: {e}")))?;
    if bytes.is_empty() {
        return Err(AdminError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| AdminError::bad_request(format!("invalid request body: {e}")))
}

/// A query string into `T`.
pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, AdminError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| AdminError::bad_request(format!("invalid query string: {}", e.body_text())))
}

/// Checks a slug: 1 to 63 characters among `a-z`, `0-9` and `-`, starting with a letter or digit.
pub(crate) fn check_slug(param: &'static str, value: &str) -> Result<(), AdminError> {
    if domain::is_slug(value) {
        Ok(())
    } else {
        Err(AdminError::bad_field(
            param,
            format!(
                "`{param}` must be 1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-' (got `{value}`)"
            ),
        ))
    }
}

/// Checks a free-text field: not blank, at most `max` characters, no control characters.
pub(crate) fn check_text(param: &'static str, value: &str, max: usize) -> Result<(), AdminError> {
    if value.trim().is_empty() {
        return Err(AdminError::bad_field(
            param,
            format!("`{param}` must not be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(AdminError::bad_field(
            param,
            format!("`{param}` must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(AdminError::bad_field(
            param,
            format!("`{param}` must not contain control characters"),
        ));
    }
    Ok(())
}

/// Checks an identifier-like field (user name, service account name): no spaces either.
pub(crate) fn check_name(param: &'static str, value: &str, max: usize) -> Result<(), AdminError> {
    check_text(param, value, max)?;
    if value.chars().any(char::is_whitespace) {
        return Err(AdminError::bad_field(
            param,
            format!("`{param}` must not contain spaces"),
        ));
    }
    Ok(())
}

/// A plausible e-mail address: one `@` with something on each side and a dot in the domain.
pub(crate) fn check_email(param: &'static str, value: &str) -> Result<(), AdminError> {
    check_name(param, value, 320)?;
    let plausible = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    });
    if plausible {
        Ok(())
    } else {
        Err(AdminError::bad_field(
            param,
            format!("`{param}` is not an e-mail address (got `{value}`)"),
        ))
    }
}

#[cfg(test)]
mod tests;
