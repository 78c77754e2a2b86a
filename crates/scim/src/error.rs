//! SCIM errors (RFC 7644 §3.12), turned into the `urn:ietf:params:scim:api:messages:2.0:Error`
//! body only here, at the edge: `status` as a string, a `scimType` where the RFC defines one.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use store::StoreError;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// A failed SCIM request: the HTTP status, the RFC's `scimType` when one applies, and a detail
/// that says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {scim_type:?}: {detail}")]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidPath"), detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some("noTarget"), detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some("mutability"), detail)
    }

    pub fn too_many(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some("tooMany"), detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::UNAUTHORIZED, None, detail)
    }

    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::PRECONDITION_FAILED, None, detail)
    }

    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::METHOD_NOT_ALLOWED, None, detail)
    }

    pub fn not_implemented(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::NOT_IMPLEMENTED, None, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, detail)
    }
}

impl From<StoreError> for ScimError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(message) => ScimError::uniqueness(message),
            StoreError::NotFound(message) => ScimError::not_found(message),
            StoreError::VersionMismatch(message) => ScimError::precondition_failed(message),
            other => {
                // The details go to the log, not to the directory.
                tracing::error!(error = %other, "SCIM request failed in the store");
                ScimError::internal("the store failed; see the server log")
            }
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, SCIM_CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"fabrique-scim\""),
            );
        }
        response
    }
}
