//! Building SCIM responses: `application/scim+json`, `ETag` and `Location` headers, the base URL
//! that `meta.location` and `$ref` values start with, and the answers for unknown paths and methods.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::ScimError;
use crate::error::SCIM_CONTENT_TYPE;

/// `http(s)://host/scim/v2`, from the request's `Host` (and `X-Forwarded-Proto` behind a proxy).
pub(crate) struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(BaseUrl(base_url(&parts.headers)))
    }
}

pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ']))
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}/scim/v2")
}

/// A SCIM JSON response.
pub(crate) fn scim_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, SCIM_CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

/// A resource response with its `ETag` (and, for a creation, `Location`).
pub(crate) fn resource(status: StatusCode, body: &Value, version: i64) -> Response {
    let mut response = scim_json(status, body);
    if let Ok(etag) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Some(location) = body
            .pointer("/meta/location")
            .and_then(Value::as_str)
            .and_then(|l| HeaderValue::from_str(l).ok())
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The weak entity tag of a resource version.
pub(crate) fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Checks `If-Match` against the current version: `*` or a listed tag passes.
pub(crate) fn check_if_match(headers: &HeaderMap, version: i64) -> Result<(), ScimError> {
    let Some(value) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let current = etag(version);
    let strong = format!("\"{version}\"");
    let matched = value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current || tag == strong);
    if matched {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "If-Match {value} does not match the current version {current}"
        )))
    }
}

pub(crate) async fn unknown_path(uri: axum::http::Uri) -> ScimError {
    ScimError::not_found(format!("no SCIM resource at `{}`", uri.path()))
}

pub(crate) async fn method_not_allowed(method: axum::http::Method) -> ScimError {
    ScimError::method_not_allowed(format!("{method} is not supported here"))
}
