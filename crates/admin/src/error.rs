//! The admin API's errors, turned into OpenAI-style JSON (`wire::ErrorBody`) only here, at the edge.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use store::StoreError;
use wire::{ErrorBody, ErrorType};

use knowledge::{LibraryError, Unreadable};

use crate::AdminAction;

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("missing API key: send `Authorization: Bearer <key>`")]
    MissingKey,
    #[error("invalid API key")]
    UnknownKey,
    #[error("this API key has expired")]
    KeyExpired,
    /// An access token from the identity provider, refused (`SignInError::code` says why).
    #[error("{0}")]
    SignIn(access::SignInError),
    #[error("this key is not allowed to {}", action.describe())]
    Forbidden { action: AdminAction },
    /// Refused for a reason more specific than the action alone (`permission_denied` too).
    #[error("{0}")]
    Refused(String),
    /// A malformed body or query, or a field with a bad value (`param` names it).
    #[error("{message}")]
    BadRequest {
        param: Option<&'static str>,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A document larger than its route takes (`document_too_large`, 413).
    #[error("{0}")]
    TooLarge(String),
    /// The content to erase is under a legal hold (`legal_hold`, 409).
    #[error("{0}")]
    LegalHold(String),
    #[error(transparent)]
    Store(StoreError),
    /// A knowledge library's document could not be taken, or its embeddings made.
    #[error(transparent)]
    Library(knowledge::LibraryError),
    /// The group's shared counters (Redis) cannot be reached: what they hold can be neither
    /// shown nor reset (503, `counters_unavailable`).
    #[error(transparent)]
    Counters(#[from] counters::Unreachable),
}

impl AdminError {
    pub(crate) fn bad_field(param: &'static str, message: impl Into<String>) -> Self {
        AdminError::BadRequest {
            param: Some(param),
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        AdminError::BadRequest {
            param: None,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::MissingKey | AdminError::UnknownKey | AdminError::KeyExpired => {
                StatusCode::UNAUTHORIZED
            }
            AdminError::SignIn(error) => error.status(),
            AdminError::Forbidden { .. } | AdminError::Refused(_) => StatusCode::FORBIDDEN,
            AdminError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AdminError::Conflict(_) | AdminError::LegalHold(_) => StatusCode::CONFLICT,
            AdminError::Store(error) if error.is_unreachable() => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AdminError::Library(error) => library_status(error),
            AdminError::Counters(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn body(&self) -> ErrorBody {
        match self {
            AdminError::MissingKey | AdminError::UnknownKey => ErrorBody::new(
                ErrorType::Authentication,
                "invalid_api_key",
                self.to_string(),
            ),
            AdminError::KeyExpired => ErrorBody::new(
                ErrorType::Authentication,
                "api_key_expired",
                self.to_string(),
            ),
            AdminError::SignIn(error) => {
                ErrorBody::new(error.error_type(), error.code(), self.to_string())
            }
            AdminError::Forbidden { .. } | AdminError::Refused(_) => {
                ErrorBody::new(ErrorType::Permission, "permission_denied", self.to_string())
            }
            AdminError::BadRequest { param, message } => {
                let body = ErrorBody::new(
                    ErrorType::InvalidRequest,
                    "invalid_request",
                    message.clone(),
                );
                match param {
                    Some(param) => body.with_param(*param),
                    None => body,
                }
            }
            AdminError::NotFound(message) => {
                ErrorBody::new(ErrorType::NotFound, "not_found", message.clone())
            }
            AdminError::Conflict(message) => {
                ErrorBody::new(ErrorType::InvalidRequest, "conflict", message.clone())
            }
            AdminError::TooLarge(message) => ErrorBody::new(
                ErrorType::InvalidRequest,
                "document_too_large",
                message.clone(),
            ),
            AdminError::LegalHold(message) => {
                ErrorBody::new(ErrorType::InvalidRequest, "legal_hold", message.clone())
            }
            AdminError::Store(error) if error.is_unreachable() => ErrorBody::new(
                ErrorType::Server,
                "store_unavailable",
                "the database cannot be reached; retry shortly",
            ),
            // The details go to the log, not to the caller.
            AdminError::Store(_) => ErrorBody::new(
                ErrorType::Server,
                "internal_error",
                "the administration store failed; see the server log",
            ),
            AdminError::Library(error) => library_body(error),
            AdminError::Counters(_) => ErrorBody::new(
                ErrorType::Server,
                "counters_unavailable",
                format!("{self}; retry shortly"),
            ),
        }
    }
}

fn library_status(error: &LibraryError) -> StatusCode {
    match error {
        LibraryError::Unreadable(Unreadable::Kind) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        LibraryError::Unreadable(Unreadable::Size) => StatusCode::PAYLOAD_TOO_LARGE,
        LibraryError::Unreadable(Unreadable::Damaged | Unreadable::Empty)
        | LibraryError::PersonalData(_) => StatusCode::UNPROCESSABLE_ENTITY,
        LibraryError::Embedding(_) | LibraryError::Reranking(_) => StatusCode::BAD_GATEWAY,
        LibraryError::Index(_) | LibraryError::Store(_) | LibraryError::Task => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn library_body(error: &LibraryError) -> ErrorBody {
    let (kind, code) = match error {
        LibraryError::Unreadable(Unreadable::Kind) => {
            (ErrorType::InvalidRequest, "unsupported_document")
        }
        LibraryError::Unreadable(Unreadable::Size) => {
            (ErrorType::InvalidRequest, "document_too_large")
        }
        LibraryError::Unreadable(Unreadable::Damaged | Unreadable::Empty) => {
            (ErrorType::InvalidRequest, "unreadable_document")
        }
        LibraryError::PersonalData(_) => (ErrorType::InvalidRequest, "personal_data"),
        LibraryError::Embedding(_) => (ErrorType::Upstream, "embedding_failed"),
        LibraryError::Reranking(_) => (ErrorType::Upstream, "reranking_failed"),
        // The details go to the log, not to the caller.
        LibraryError::Index(_) | LibraryError::Store(_) | LibraryError::Task => {
            return ErrorBody::new(
                ErrorType::Server,
                "internal_error",
                "the library's index or store failed; see the server log",
            );
        }
    };
    ErrorBody::new(kind, code, error.to_string())
}

impl From<LibraryError> for AdminError {
    fn from(error: LibraryError) -> Self {
        match error {
            LibraryError::Store(error) => error.into(),
            other => AdminError::Library(other),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(message) => AdminError::Conflict(message),
            StoreError::NotFound(message) => AdminError::NotFound(message),
            other => AdminError::Store(other),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        if let AdminError::Store(err) = &self {
            tracing::error!(error = %err, "admin request failed in the store");
        }
        if let AdminError::Library(err) = &self {
            tracing::warn!(error = %err, "a knowledge library request failed");
        }
        let status = self.status();
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body().to_json(),
        )
            .into_response()
    }
}
