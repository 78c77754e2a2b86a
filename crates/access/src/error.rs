//! Why a token, a session or a sign-in was refused. Each refusal has a stable code (for the API's
//! JSON error and the audit trail) and an HTTP status; the surfaces turn them into responses.

use http::StatusCode;
use wire::ErrorType;

/// Why a JWT (API access token or ID token) is not accepted. A closed set so that every reason has
/// its code and its test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the token is not a well-formed JWT ({0})")]
    Malformed(String),
    #[error("the token's algorithm `{0}` is not accepted")]
    AlgorithmNotAllowed(String),
    #[error("the token is signed by a key the issuer does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (`nbf` is in the future)")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is not meant for this service (`aud`)")]
    WrongAudience,
    #[error("the token lacks the claim `{0}`")]
    MissingClaim(String),
    #[error("the identity provider could not be reached to verify the token")]
    IssuerUnavailable,
    /// No API audience is configured, so no access token is accepted.
    #[error("this installation accepts no access tokens as bearers; use an API key")]
    AccessTokensOff,
    /// `require_access_token_type` is on and the header does not say `typ: at+jwt`.
    #[error("the token is not an access token (its header lacks `typ: at+jwt`)")]
    NotAnAccessToken,
    /// The token was issued to a client outside `authorized_parties`.
    #[error("the token was issued to a client that may not call this API (`azp`)")]
    UnauthorizedParty,
}

impl Rejection {
    /// The reason as one word, shown in API errors and audit events.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            Rejection::UnknownKey => "unknown_key",
            Rejection::BadSignature => "bad_signature",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::WrongIssuer => "wrong_issuer",
            Rejection::WrongAudience => "wrong_audience",
            Rejection::MissingClaim(_) => "missing_claim",
            Rejection::IssuerUnavailable => "issuer_unavailable",
            Rejection::AccessTokensOff => "access_tokens_off",
            Rejection::NotAnAccessToken => "not_an_access_token",
            Rejection::UnauthorizedParty => "unauthorized_party",
        }
    }
}

/// Why a signed-in caller (bearer token, session or web sign-in) is refused.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("invalid token ({reason}): {0}", reason = .0.reason())]
    Token(Rejection),
    #[error("no Fabrique user is named `{0}`, and sign-in does not create users")]
    UnknownUser(String),
    #[error("the user `{0}` is suspended")]
    UserSuspended(String),
    /// The user is bound to another account of the identity provider (another `sub`).
    #[error(
        "the user `{0}` signs in with another account of the identity provider; ask your administrator"
    )]
    SubjectMismatch(String),
    /// The provider places the caller in another entity than the user's.
    #[error(
        "the identity provider places `{user_name}` in the entity `{claimed}`, but the Fabrique user of that name belongs to another entity; ask your administrator"
    )]
    EntityMismatch { user_name: String, claimed: String },
    #[error("no entity is known for the new user `{0}`: {1}")]
    NoEntity(String, String),
    #[error("the sign-in was not started in this browser or has expired; start again")]
    UnknownState,
    #[error("the identity provider refused the sign-in: {0}")]
    ProviderRefused(String),
    #[error("the identity provider's token endpoint failed: {0}")]
    TokenExchange(String),
    #[error("the ID token's nonce does not match the sign-in")]
    NonceMismatch,
    #[error("storage failed: {0}")]
    Store(#[from] store::StoreError),
}

impl SignInError {
    pub fn code(&self) -> &'static str {
        match self {
            SignInError::Token(_) => "invalid_token",
            SignInError::UnknownUser(_) => "unknown_user",
            SignInError::UserSuspended(_) => "user_suspended",
            SignInError::SubjectMismatch(_) => "subject_mismatch",
            SignInError::EntityMismatch { .. } => "entity_mismatch",
            SignInError::NoEntity(..) => "unknown_entity",
            SignInError::UnknownState => "invalid_state",
            SignInError::ProviderRefused(_) => "provider_refused",
            SignInError::TokenExchange(_) => "token_exchange_failed",
            SignInError::NonceMismatch => "nonce_mismatch",
            SignInError::Store(_) => "internal_error",
        }
    }

    /// The code, refined by the token's reason: what the audit trail records.
    pub fn reason(&self) -> &'static str {
        match self {
            SignInError::Token(rejection) => rejection.reason(),
            other => other.code(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            SignInError::Token(Rejection::IssuerUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
            SignInError::Token(_) | SignInError::UnknownUser(_) => StatusCode::UNAUTHORIZED,
            SignInError::UserSuspended(_)
            | SignInError::SubjectMismatch(_)
            | SignInError::EntityMismatch { .. }
            | SignInError::NoEntity(..) => StatusCode::FORBIDDEN,
            SignInError::UnknownState
            | SignInError::ProviderRefused(_)
            | SignInError::NonceMismatch => StatusCode::BAD_REQUEST,
            SignInError::TokenExchange(_) => StatusCode::BAD_GATEWAY,
            SignInError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OpenAI-style error type that goes with [`SignInError::status`].
    pub fn error_type(&self) -> ErrorType {
        match self.status() {
            StatusCode::UNAUTHORIZED => ErrorType::Authentication,
            StatusCode::FORBIDDEN => ErrorType::Permission,
            StatusCode::BAD_REQUEST => ErrorType::InvalidRequest,
            StatusCode::BAD_GATEWAY => ErrorType::Upstream,
            _ => ErrorType::Server,
        }
    }
}

impl From<Rejection> for SignInError {
    fn from(rejection: Rejection) -> Self {
        SignInError::Token(rejection)
    }
}
