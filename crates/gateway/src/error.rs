//! The gateway's errors, each knowing its HTTP status, OpenAI error type and code. They become
//! OpenAI-style JSON only here, at the edge.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use wire::{ErrorBody, ErrorType};

use crate::headers::{self, PRIORITY_HEADER};

/// Everything that can end an inference request early. Messages say which stage failed and why.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GatewayError {
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("request body is not valid JSON: {detail}")]
    MalformedJson { detail: String },
    #[error("invalid request: {message}")]
    InvalidField {
        param: &'static str,
        message: String,
    },
    /// A known field of the body out of type or range (`wire::validate`).
    #[error("invalid request: {}", .0.message)]
    InvalidRequest(wire::validate::Invalid),
    #[error(
        "this model's context is {context_length} tokens; this request needs more than {needed} ({prompt_floor} at least for its prompt, {completion} for the completion it allows)"
    )]
    ContextLengthExceeded {
        context_length: u32,
        needed: u64,
        prompt_floor: u64,
        completion: u64,
    },
    #[error("missing API key: send `Authorization: Bearer <key>`")]
    MissingKey,
    #[error("invalid API key")]
    InvalidKey,
    #[error("this API key has expired; ask your administrator for a new one")]
    KeyExpired,
    #[error("this API key may not use the model `{model}`")]
    ModelNotAllowed { model: String },
    #[error(
        "this request may ask for priority `{allowed}` or lower (its API key's or use case's class), not `{asked}` (header `x-fabrique-priority`)"
    )]
    PriorityNotAllowed {
        asked: &'static str,
        allowed: &'static str,
    },
    /// An access token or session was refused; the reason is in the message (and the code).
    #[error("{0}")]
    SignIn(access::SignInError),
    /// The license stage: the user holds no seat and none could be assigned; the message says why.
    #[error("{0}")]
    SeatRequired(seats::SeatRequired),
    #[error("the model `{model}` does not exist or you do not have access to it")]
    ModelNotFound { model: String },
    /// A model the caller's entity may not use: answered exactly as an absent model, so other
    /// entities' models never show, but audited as the access decision it is.
    #[error("the model `{model}` does not exist or you do not have access to it")]
    ModelDeniedToEntity { model: String },
    #[error("the model `{model}` is a {kind} model and cannot serve {route}")]
    WrongModelKind {
        model: String,
        kind: &'static str,
        route: &'static str,
    },
    #[error(
        "the model `{model}` is served by {kind} endpoints, which cannot serve {route}; ask the administrators to serve it with an engine that can"
    )]
    OperationNotServed {
        model: String,
        kind: &'static str,
        route: &'static str,
    },
    #[error("invalid `x-fabrique-classification` header `{given}`: expected one of {expected}")]
    InvalidClassification { given: String, expected: String },
    #[error(
        "invalid `x-fabrique-use-case` header `{given}`: expected a slug (1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-')"
    )]
    InvalidUseCase { given: String },
    #[error(
        "use case `{use_case}` is not open to you: it belongs to another entity, or does not list you among the callers it allows"
    )]
    UseCaseNotPermitted { use_case: String },
    #[error(
        "this request is classified `{level}` and no endpoint serving `{model}` (or its fallbacks) is cleared for that level; nothing was sent"
    )]
    ClassificationNotPermitted { level: String, model: String },
    #[error(
        "inspect stage: the request holds personal data of a blocked type ({types}); nothing was sent"
    )]
    PersonalDataBlocked { types: String },
    #[error("inspect stage: the request contains the blocked term `{term}`; nothing was sent")]
    BlockedTerm { term: String },
    #[error(
        "inspect stage: the request looks like a prompt injection ({pattern}); nothing was sent"
    )]
    PromptInjectionSuspected { pattern: &'static str },
    #[error("route stage: no endpoint serving `{model}` is available (all circuits open)")]
    NoEndpointAvailable { model: String },
    /// `last` says what went wrong with the last endpoint tried: for the log, not the caller.
    #[error("route stage: every endpoint tried for `{model}` failed ({attempts} attempts)")]
    UpstreamFailed {
        model: String,
        attempts: u32,
        last: String,
    },
    #[error("route stage: no endpoint serving `{model}` answered in time ({attempts} attempts)")]
    UpstreamTimeout { model: String, attempts: u32 },
    #[error("route stage: endpoints serving `{model}` are rate limiting; retry later")]
    UpstreamRateLimited {
        model: String,
        retry_after: Option<HeaderValue>,
    },
    #[error("{0}")]
    Refused(Box<admission::Refused>),
    /// A hard budget applies and the replicas' shared counters cannot be reached: fail closed.
    #[error("{0}")]
    CountersUnavailable(counters::Denied),
    #[error("schedule stage: {shed} for `{model}`")]
    CapacityExhausted {
        model: String,
        shed: scheduler::Shed,
    },
    /// The reason is for the log, not the caller.
    #[error("relay stage: the backend's response could not be read")]
    UpstreamBody(String),
    /// A use case's answer broke its version's output schema (the model's tokens are charged).
    #[error(
        "the answer of use case `{use_case}` version {version} does not match its output schema: {detail}"
    )]
    OutputSchemaViolation {
        use_case: String,
        version: u32,
        detail: String,
    },
}

impl GatewayError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            GatewayError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::BodyRead(_)
            | GatewayError::MalformedJson { .. }
            | GatewayError::InvalidField { .. }
            | GatewayError::InvalidRequest(_)
            | GatewayError::ContextLengthExceeded { .. } => StatusCode::BAD_REQUEST,
            GatewayError::WrongModelKind { .. }
            | GatewayError::OperationNotServed { .. }
            | GatewayError::InvalidClassification { .. }
            | GatewayError::PersonalDataBlocked { .. }
            | GatewayError::BlockedTerm { .. }
            | GatewayError::PromptInjectionSuspected { .. }
            | GatewayError::InvalidUseCase { .. } => StatusCode::BAD_REQUEST,
            GatewayError::SeatRequired(seats::SeatRequired::StoreUnreachable) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            GatewayError::ClassificationNotPermitted { .. }
            | GatewayError::SeatRequired(_)
            | GatewayError::UseCaseNotPermitted { .. }
            | GatewayError::ModelNotAllowed { .. }
            | GatewayError::PriorityNotAllowed { .. } => StatusCode::FORBIDDEN,
            GatewayError::MissingKey | GatewayError::InvalidKey | GatewayError::KeyExpired => {
                StatusCode::UNAUTHORIZED
            }
            GatewayError::SignIn(error) => error.status(),
            GatewayError::ModelNotFound { .. } | GatewayError::ModelDeniedToEntity { .. } => {
                StatusCode::NOT_FOUND
            }
            GatewayError::NoEndpointAvailable { .. } | GatewayError::CountersUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            GatewayError::UpstreamFailed { .. }
            | GatewayError::UpstreamBody(_)
            | GatewayError::OutputSchemaViolation { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::UpstreamRateLimited { .. }
            | GatewayError::Refused(_)
            | GatewayError::CapacityExhausted { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Refusals that are access decisions, audited as such (who, which model, never the content):
    /// the data policy's and the classification's, and who may use which model, use case and
    /// priority.
    pub(crate) fn is_audited_refusal(&self) -> bool {
        matches!(
            self,
            GatewayError::ClassificationNotPermitted { .. }
                | GatewayError::PersonalDataBlocked { .. }
                | GatewayError::BlockedTerm { .. }
                | GatewayError::PromptInjectionSuspected { .. }
                | GatewayError::ModelNotAllowed { .. }
                | GatewayError::ModelDeniedToEntity { .. }
                | GatewayError::UseCaseNotPermitted { .. }
                | GatewayError::PriorityNotAllowed { .. }
        )
    }

    /// What the backend said or did, kept out of the caller's message (it names endpoints and
    /// carries their error chains) and written to the log instead.
    pub(crate) fn backend_detail(&self) -> Option<&str> {
        match self {
            GatewayError::UpstreamFailed { last, .. } => Some(last),
            GatewayError::UpstreamBody(detail) => Some(detail),
            _ => None,
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            GatewayError::BodyTooLarge { .. } => "request_too_large",
            GatewayError::BodyRead(_) => "body_unreadable",
            GatewayError::MalformedJson { .. } => "invalid_json",
            GatewayError::InvalidField { .. } | GatewayError::InvalidRequest(_) => "invalid_value",
            GatewayError::ContextLengthExceeded { .. } => "context_length_exceeded",
            GatewayError::MissingKey => "missing_api_key",
            GatewayError::InvalidKey => "invalid_api_key",
            GatewayError::KeyExpired => "api_key_expired",
            GatewayError::ModelNotAllowed { .. } => "model_not_allowed",
            GatewayError::PriorityNotAllowed { .. } => "priority_not_allowed",
            GatewayError::SignIn(error) => error.code(),
            GatewayError::SeatRequired(_) => "seat_required",
            GatewayError::ModelNotFound { .. } | GatewayError::ModelDeniedToEntity { .. } => {
                "model_not_found"
            }
            GatewayError::WrongModelKind { .. } => "model_kind_mismatch",
            GatewayError::OperationNotServed { .. } => "operation_not_served",
            GatewayError::InvalidClassification { .. } => "invalid_classification",
            GatewayError::InvalidUseCase { .. } => "invalid_use_case",
            GatewayError::OutputSchemaViolation { .. } => "output_schema_violation",
            GatewayError::UseCaseNotPermitted { .. } => "use_case_not_permitted",
            GatewayError::ClassificationNotPermitted { .. } => "classification_not_permitted",
            GatewayError::PersonalDataBlocked { .. } => "personal_data_blocked",
            GatewayError::BlockedTerm { .. } => "blocked_term",
            GatewayError::PromptInjectionSuspected { .. } => "prompt_injection_suspected",
            GatewayError::NoEndpointAvailable { .. } => "no_endpoint_available",
            GatewayError::UpstreamFailed { .. } => "upstream_error",
            GatewayError::UpstreamTimeout { .. } => "upstream_timeout",
            GatewayError::UpstreamRateLimited { .. } => "upstream_rate_limited",
            GatewayError::UpstreamBody(_) => "upstream_body_error",
            GatewayError::Refused(refused) => refused.code(),
            GatewayError::CountersUnavailable(_) => "budget_unavailable",
            GatewayError::CapacityExhausted { .. } => "capacity_exhausted",
        }
    }

    fn error_type(&self) -> ErrorType {
        match self.status() {
            StatusCode::UNAUTHORIZED => ErrorType::Authentication,
            StatusCode::FORBIDDEN => ErrorType::Permission,
            StatusCode::NOT_FOUND => ErrorType::NotFound,
            StatusCode::TOO_MANY_REQUESTS => ErrorType::RateLimit,
            s if s.is_server_error() => ErrorType::Upstream,
            _ => ErrorType::InvalidRequest,
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            GatewayError::InvalidField { param, .. } => Some(param),
            GatewayError::InvalidRequest(invalid) => Some(&invalid.param),
            GatewayError::ContextLengthExceeded { .. } => Some("messages"),
            GatewayError::ModelNotFound { .. }
            | GatewayError::ModelDeniedToEntity { .. }
            | GatewayError::WrongModelKind { .. }
            | GatewayError::OperationNotServed { .. }
            | GatewayError::ModelNotAllowed { .. } => Some("model"),
            GatewayError::PriorityNotAllowed { .. } => Some(PRIORITY_HEADER),
            _ => None,
        }
    }

    /// The endpoints tried before the request failed, when routing failed.
    pub(crate) fn attempts(&self) -> Option<u32> {
        match self {
            GatewayError::UpstreamFailed { attempts, .. }
            | GatewayError::UpstreamTimeout { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }

    /// The error's JSON body, for an answer built outside `into_response`.
    pub(crate) fn body_json(&self) -> Vec<u8> {
        self.body().to_json()
    }

    fn body(&self) -> ErrorBody {
        let body = ErrorBody::new(self.error_type(), self.code(), self.to_string());
        match self.param() {
            Some(param) => body.with_param(param),
            None => body,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.body().to_json()).into_response();
        let headers = response.headers_mut();
        headers::json_content(headers);
        match &self {
            GatewayError::UpstreamRateLimited {
                retry_after: Some(value),
                ..
            } => {
                headers.insert(header::RETRY_AFTER, value.clone());
            }
            GatewayError::Refused(refused) => {
                headers::rate_headers(headers, &refused.rate);
                if let Some(wait) = refused.refusal.retry_after(domain::now_millis()) {
                    // Whole seconds, rounded up: retrying after that is never too early.
                    let seconds = wait.as_millis().div_ceil(1_000).max(1);
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds as u64));
                }
            }
            GatewayError::CountersUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            }
            GatewayError::CapacityExhausted { shed, .. } => {
                let seconds = shed.retry_after().map_or(1, |wait| wait.as_secs().max(1));
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            _ => {}
        }
        response
    }
}

/// An OpenAI-style JSON error response for the routes outside the inference pipeline.
pub fn json_error(
    status: StatusCode,
    kind: ErrorType,
    code: &str,
    message: impl Into<String>,
) -> Response {
    let mut response = (status, ErrorBody::new(kind, code, message).to_json()).into_response();
    headers::json_content(response.headers_mut());
    response
}
