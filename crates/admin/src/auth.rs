//! The web sign-in routes that need no identity provider: a one-time sign-in link
//! (`GET /auth/link/{token}`, `login_links.rs`), sign out (`POST /auth/logout`) and who is signed
//! in (`GET /auth/me`). The provider's own (`/auth/login`, `/auth/callback`) are the
//! `oidc` crate's; both open sessions in the directory through `access::SessionCookies`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use wire::{ErrorBody, ErrorType};

use crate::AdminState;

/// The `/auth/…` routes served with or without an identity provider.
pub fn auth_router(state: AdminState) -> Router {
    Router::new()
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/auth/link/{token}", get(crate::login_links::sign_in))
        .with_state(state)
}

/// Ends the session and clears the cookie. Idempotent; a session the store could not end stays
/// open, and the answer says so (503) rather than clear the cookie.
async fn logout(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(secret) = access::session_secret(&headers)
        && let Err(error) = state
            .directory
            .end_session_of_secret(secret, domain::now_millis())
            .await
    {
        return crate::AdminError::Store(error).into_response();
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.cookies.removal(&headers));
    response
}

/// Who the session cookie signs in: user, entity and roles.
async fn me(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    let principal = match access::session_principal(&state.directory, &headers).await {
        Ok(principal) => principal,
        Err(access::Refused::SignIn(error)) => {
            let body = ErrorBody::new(error.error_type(), error.code(), error.to_string());
            return json_error(error.status(), body);
        }
        Err(_) => {
            let body = ErrorBody::new(
                ErrorType::Authentication,
                "not_signed_in",
                "no live session: sign in first",
            );
            return json_error(StatusCode::UNAUTHORIZED, body);
        }
    };
    let user_name = principal
        .user_id()
        .and_then(|id| state.directory.user_by_id(id))
        .map(|user| user.user_name.to_string());
    let roles: Vec<_> = principal
        .roles
        .iter()
        .map(|g| json!({"role": g.role.as_str(), "entity_id": g.entity_id}))
        .collect();
    axum::Json(json!({
        "user_id": principal.user_id(),
        "user_name": user_name,
        "entity": {"id": principal.entity_id, "slug": principal.entity_slug.as_deref()},
        "roles": roles,
    }))
    .into_response()
}

fn json_error(status: StatusCode, body: ErrorBody) -> Response {
    let mut response = (status, body.to_json()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
