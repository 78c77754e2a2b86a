//! The simulator's errors and their OpenAI-shaped HTTP answers, built only here at the edge.

use std::borrow::Cow;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use wire::{ErrorBody, ErrorType};

/// Why a request was not served normally.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SimError {
    /// The caller's fault: malformed JSON, a missing field, an out-of-range value.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<Cow<'static, str>>,
    },
    /// `Faults::error_rate` chose this request to fail with `status`.
    #[error("simulated backend failure (fault injection)")]
    InjectedError { status: StatusCode },
    /// `Faults::stall_rate` held this request until the stall ran out.
    #[error("simulated stall: the backend never answered (fault injection)")]
    StallElapsed,
    /// The decoding slots are gone; cannot happen while the simulator lives.
    #[error(transparent)]
    SlotsClosed(#[from] crate::capacity::SlotsClosed),
    /// A response failed to serialize; cannot happen with the types the simulator writes.
    #[error("could not serialize the response: {0}")]
    Serialize(serde_json::Error),
    /// No such route.
    #[error("no route for {path}")]
    NotFound { path: String },
}

impl From<wire::validate::Invalid> for SimError {
    fn from(invalid: wire::validate::Invalid) -> Self {
        SimError::InvalidRequest {
            message: invalid.message,
            param: Some(invalid.param),
        }
    }
}

impl SimError {
    pub(crate) fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        SimError::InvalidRequest {
            message: message.into(),
            param: param.map(Cow::Borrowed),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            SimError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            SimError::InjectedError { status } => *status,
            SimError::StallElapsed => StatusCode::SERVICE_UNAVAILABLE,
            SimError::SlotsClosed(_) | SimError::Serialize(_) => StatusCode::INTERNAL_SERVER_ERROR,
            SimError::NotFound { .. } => StatusCode::NOT_FOUND,
        }
    }

    fn body(&self) -> ErrorBody {
        let message = self.to_string();
        match self {
            SimError::InvalidRequest { param, .. } => {
                let body = ErrorBody::new(ErrorType::InvalidRequest, "invalid_request", message);
                match param {
                    Some(param) => body.with_param(param.as_ref()),
                    None => body,
                }
            }
            SimError::InjectedError { status } if *status == StatusCode::TOO_MANY_REQUESTS => {
                ErrorBody::new(ErrorType::RateLimit, "simulated_rate_limit", message)
            }
            SimError::InjectedError { .. } => {
                ErrorBody::new(ErrorType::Server, "simulated_failure", message)
            }
            SimError::StallElapsed => ErrorBody::new(ErrorType::Server, "simulated_stall", message),
            SimError::SlotsClosed(_) | SimError::Serialize(_) => {
                ErrorBody::new(ErrorType::Server, "internal_error", message)
            }
            SimError::NotFound { .. } => ErrorBody::new(ErrorType::NotFound, "not_found", message),
        }
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status(), self.body().to_json());
        if self.status() == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A response with a JSON body already serialized.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
