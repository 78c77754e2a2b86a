//! The errors of the files and batches routes, each with its status and code, turned into the
//! OpenAI-style error JSON at the edge only.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use wire::{ErrorBody, ErrorType};

/// Why a files or batches request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no API key: send `Authorization: Bearer <key>`")]
    MissingKey,
    #[error("the API key is not valid")]
    InvalidKey,
    #[error("the API key has expired: ask for a new one")]
    KeyExpired,
    #[error("{0}")]
    SignIn(access::SignInError),
    /// The id names nothing the caller owns (whether it exists for someone else is not told).
    #[error("no {what} `{id}`")]
    NotFound { what: &'static str, id: String },
    #[error("{message}")]
    Invalid {
        param: Option<&'static str>,
        message: String,
    },
    #[error("the file is larger than the limit of {limit} bytes")]
    FileTooLarge { limit: u64 },
    #[error(
        "the files of your entity hold {used} bytes of their quota of {quota}; this file of \
         {bytes} bytes would pass it: delete files you no longer need"
    )]
    QuotaExceeded { used: u64, bytes: u64, quota: u64 },
    #[error("{0}")]
    Conflict(String),
    #[error("the request could not be completed now; retry")]
    Internal,
}

impl ApiError {
    /// A bad value of `param`.
    pub(crate) fn invalid(param: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            param: Some(param),
            message: message.into(),
        }
    }

    /// A failure of ours, logged with its cause; the caller is told to retry.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "files and batches: internal error");
        ApiError::Internal
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingKey | ApiError::InvalidKey | ApiError::KeyExpired => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::SignIn(error) => error.status(),
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::FileTooLarge { .. } | ApiError::QuotaExceeded { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingKey => "missing_api_key",
            ApiError::InvalidKey => "invalid_api_key",
            ApiError::KeyExpired => "api_key_expired",
            ApiError::SignIn(error) => error.code(),
            ApiError::NotFound { .. } => "not_found",
            ApiError::Invalid { .. } => "invalid_value",
            ApiError::FileTooLarge { .. } => "file_too_large",
            ApiError::QuotaExceeded { .. } => "file_quota_exceeded",
            ApiError::Conflict(_) => "conflict",
            ApiError::Internal => "unavailable",
        }
    }

    fn error_type(&self) -> ErrorType {
        match self.status() {
            StatusCode::UNAUTHORIZED => ErrorType::Authentication,
            StatusCode::FORBIDDEN => ErrorType::Permission,
            StatusCode::NOT_FOUND => ErrorType::NotFound,
            s if s.is_server_error() => ErrorType::Upstream,
            _ => ErrorType::InvalidRequest,
        }
    }
}

impl From<access::Refused> for ApiError {
    fn from(refused: access::Refused) -> ApiError {
        match refused {
            access::Refused::Missing => ApiError::MissingKey,
            access::Refused::Key(identity::KeyRefused::Unknown) => ApiError::InvalidKey,
            access::Refused::Key(identity::KeyRefused::Expired) => ApiError::KeyExpired,
            access::Refused::SignIn(error) => ApiError::SignIn(error),
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(error: store::StoreError) -> ApiError {
        ApiError::internal(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = ErrorBody::new(self.error_type(), self.code(), self.to_string());
        if let ApiError::Invalid {
            param: Some(param), ..
        } = &self
        {
            body = body.with_param(*param);
        }
        let mut response = (self.status(), body.to_json()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}
