//! The `/auth` routes: start a sign-in, finish it, sign out, and say who is signed in.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use wire::{ErrorBody, ErrorType};

use crate::sessions::COOKIE_NAME;
use crate::{Oidc, claims, provision, verify};
use access::SignInError;

/// Where the browser goes once signed in.
const AFTER_SIGN_IN: &str = "/";

pub(crate) fn router(oidc: Arc<Oidc>) -> Router {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .with_state(oidc)
}

/// Redirects to the provider's authorization endpoint with a fresh state, nonce and PKCE challenge.
async fn login(State(oidc): State<Arc<Oidc>>) -> Response {
    let metadata = match oidc.provider.require_metadata().await {
        Ok(metadata) => metadata,
        Err(rejection) => return error_response(&SignInError::Token(rejection)),
    };
    let start = match oidc.logins.start(Instant::now()) {
        Ok(start) => start,
        Err(error) => return error_response(&error),
    };
    let settings = &oidc.settings;
    let scope = settings.scopes.join(" ");
    let url = url::Url::parse_with_params(
        &metadata.authorization_endpoint,
        [
            ("response_type", "code"),
            ("client_id", settings.client_id.as_str()),
            ("redirect_uri", settings.redirect_url.as_str()),
            ("scope", scope.as_str()),
            ("state", start.state.as_str()),
            ("nonce", start.nonce.as_str()),
            ("code_challenge", start.code_challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    match url {
        Ok(url) => redirect(url.as_str()),
        Err(error) => error_response(&SignInError::ProviderRefused(format!(
            "the authorization endpoint `{}` is not a URL: {error}",
            metadata.authorization_endpoint
        ))),
    }
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's answer to a token request; only the ID token is used.
#[derive(Debug, Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

/// Checks the state, exchanges the code (with the PKCE verifier), verifies the ID token and its
/// nonce, finds or provisions the user, opens a session. Audited whatever the outcome.
async fn callback(State(oidc): State<Arc<Oidc>>, Query(query): Query<CallbackQuery>) -> Response {
    let mut user_name = None;
    let mut user = None;
    let result = finish_sign_in(&oidc, query, &mut user_name, &mut user).await;
    oidc.audit_sign_in(
        user.as_deref(),
        user_name.as_deref(),
        result.as_ref().map(|_| ()),
    )
    .await;
    match result {
        Ok(session_id) => {
            let mut response = redirect(AFTER_SIGN_IN);
            set_cookie(&mut response, session_cookie_value(&oidc, session_id));
            response
        }
        Err(error) => error_response(&error),
    }
}

async fn finish_sign_in(
    oidc: &Oidc,
    query: CallbackQuery,
    user_name: &mut Option<String>,
    user: &mut Option<Arc<identity::UserRecord>>,
) -> Result<String, SignInError> {
    let pending = query
        .state
        .as_deref()
        .and_then(|state| oidc.logins.finish(state, Instant::now()));
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        return Err(SignInError::ProviderRefused(
            format!("{error} {description}").trim().to_owned(),
        ));
    }
    let pending = pending.ok_or(SignInError::UnknownState)?;
    let code = query
        .code
        .ok_or_else(|| SignInError::ProviderRefused("the callback has no `code`".to_owned()))?;
    let metadata = oidc.provider.require_metadata().await?;
    let settings = &oidc.settings;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", settings.redirect_url.as_str()),
        ("client_id", settings.client_id.as_str()),
        ("code_verifier", pending.code_verifier.as_str()),
    ];
    if let Some(secret) = &settings.client_secret {
        form.push(("client_secret", secret.as_str()));
    }
    let response = oidc
        .provider
        .http
        .post(&metadata.token_endpoint)
        .form(&form)
        .send()
        .await
        .map_err(|e| SignInError::TokenExchange(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        // The provider's OAuth error code, not its whole body, which may echo the request.
        let code = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default();
        return Err(SignInError::TokenExchange(format!(
            "status {status} {code}"
        )));
    }
    let tokens: TokenResponse = response
        .json()
        .await
        .map_err(|e| SignInError::TokenExchange(e.to_string()))?;
    let id_token = tokens
        .id_token
        .ok_or_else(|| SignInError::TokenExchange("no `id_token` in the answer".to_owned()))?;
    let claims = verify::verify(&oidc.provider, settings, verify::TokenUse::Id, &id_token).await?;
    if claims.get("nonce").and_then(|n| n.as_str()) != Some(pending.nonce.as_str()) {
        return Err(SignInError::NonceMismatch);
    }
    let identity = claims::identity(settings, &claims)?;
    *user_name = Some(identity.user_name.clone());
    let found = provision::user_of(&oidc.directory, &oidc.store, settings, &identity).await?;
    *user = Some(Arc::clone(&found));
    provision::require_active(&found)?;
    Ok(oidc.sessions.open(
        found.id,
        identity.roles,
        settings.session_lifetime,
        Instant::now(),
    ))
}

/// Ends the session and clears the cookie. Idempotent.
async fn logout(State(oidc): State<Arc<Oidc>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        oidc.sessions.close(id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let mut cookie = session_cookie_value(&oidc, String::new());
    cookie.make_removal();
    set_cookie(&mut response, cookie);
    response
}

/// Who the session cookie signs in: user, entity and roles.
async fn me(State(oidc): State<Arc<Oidc>>, headers: HeaderMap) -> Response {
    let principal = match oidc.authenticate_session(&headers) {
        Some(Ok(principal)) => principal,
        Some(Err(error)) => return error_response(&error),
        None => {
            return json_error(
                StatusCode::UNAUTHORIZED,
                ErrorType::Authentication,
                "not_signed_in",
                "no live session: sign in at /auth/login",
            );
        }
    };
    let user_name = principal
        .user_id()
        .and_then(|id| oidc.directory.user_by_id(id))
        .map(|user| user.user_name.to_string());
    let roles: Vec<_> = principal
        .roles
        .iter()
        .map(|g| serde_json::json!({"role": g.role.as_str(), "entity_id": g.entity_id}))
        .collect();
    axum::Json(serde_json::json!({
        "user_id": principal.user_id(),
        "user_name": user_name,
        "entity": {"id": principal.entity_id, "slug": principal.entity_slug.as_deref()},
        "roles": roles,
    }))
    .into_response()
}

/// The session id of the request's cookie, if it has one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == COOKIE_NAME)
        .map(|cookie| cookie.value_raw().map_or("", |v| v).trim_matches('"'))
        .filter(|value| !value.is_empty())
}

fn session_cookie_value(oidc: &Oidc, id: String) -> Cookie<'static> {
    let max_age = cookie::time::Duration::seconds(
        i64::try_from(oidc.settings.session_lifetime.as_secs()).unwrap_or(i64::MAX),
    );
    Cookie::build((COOKIE_NAME, id))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(oidc.settings.cookie_secure)
        .path("/")
        .max_age(max_age)
        .build()
}

fn set_cookie(response: &mut Response, cookie: Cookie<'static>) {
    if let Ok(value) = HeaderValue::try_from(cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_response(error: &SignInError) -> Response {
    json_error(
        error.status(),
        error.error_type(),
        error.code(),
        error.to_string(),
    )
}

fn json_error(
    status: StatusCode,
    kind: ErrorType,
    code: &str,
    message: impl Into<String>,
) -> Response {
    let mut response = (status, ErrorBody::new(kind, code, message).to_json()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
