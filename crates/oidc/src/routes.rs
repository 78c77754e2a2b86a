//! The identity provider's `/auth` routes: start a sign-in and finish it, opening a web session.
//! Sign-out and `/auth/me` are the admin crate's, as they work without a provider.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cookie::{Cookie, SameSite};
use domain::{KeyHash, now_millis};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use identity::SignInMethod;
use serde::Deserialize;
use store::SignInFlow;
use wire::{ErrorBody, ErrorType};

use crate::login::{FLOW_COOKIE, PENDING_TTL, pkce_challenge, random_token};
use crate::{Oidc, claims, provision, verify};
use access::SignInError;

/// Where the browser goes once signed in.
const AFTER_SIGN_IN: &str = "/";

pub(crate) fn router(oidc: Arc<Oidc>) -> Router {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .with_state(oidc)
}

/// Redirects to the provider's authorization endpoint with a fresh state, nonce and PKCE
/// challenge, stored for every replica under the hash of the flow secret the browser keeps in its
/// flow cookie.
async fn login(State(oidc): State<Arc<Oidc>>, headers: HeaderMap) -> Response {
    let metadata = match oidc.provider.require_metadata().await {
        Ok(metadata) => metadata,
        Err(rejection) => return error_response(&SignInError::Token(rejection)),
    };
    let now = now_millis();
    let start = crate::login::start(now);
    let flow_secret = random_token();
    if let Err(error) = oidc
        .store
        .start_sign_in_flow(&KeyHash::of(&flow_secret), &start, now)
        .await
    {
        tracing::error!(%error, "could not store a sign-in in progress");
        return error_response(&SignInError::Store(error));
    }
    let code_challenge = pkce_challenge(&start.code_verifier);
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
            ("code_challenge", code_challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    match url {
        Ok(url) => {
            let mut response = redirect(url.as_str());
            let max_age = i64::try_from(PENDING_TTL.as_secs()).unwrap_or(i64::MAX);
            set_flow_cookie(&oidc, &mut response, &headers, flow_secret, max_age);
            response
        }
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
async fn callback(
    State(oidc): State<Arc<Oidc>>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let mut user_name = None;
    let mut user = None;
    let result = finish_sign_in(&oidc, &headers, query, &mut user_name, &mut user).await;
    oidc.audit_sign_in(
        user.as_deref(),
        user_name.as_deref(),
        result.as_ref().map(|_| ()),
    )
    .await;
    let mut response = match result {
        Ok(cookie) => {
            let mut response = redirect(AFTER_SIGN_IN);
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(error) => error_response(&error),
    };
    // The flow is over, whatever its end: the browser forgets it.
    set_flow_cookie(&oidc, &mut response, &headers, String::new(), 0);
    response
}

/// The flow cookie: `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a top-level
/// navigation, which carries it), only for `/auth`, `Secure` as the session cookie is.
fn set_flow_cookie(
    oidc: &Oidc,
    response: &mut Response,
    request: &HeaderMap,
    value: String,
    max_age_secs: i64,
) {
    let cookie = Cookie::build((FLOW_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(oidc.cookies.is_secure(request))
        .path("/auth")
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    if let Ok(value) = HeaderValue::try_from(cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Takes the live flow of the browser's flow cookie whose state is `state`, once.
async fn take_flow(
    oidc: &Oidc,
    headers: &HeaderMap,
    state: Option<&str>,
) -> Result<Option<SignInFlow>, SignInError> {
    let Some(state) = state else {
        return Ok(None);
    };
    for secret in access::cookie_values(headers, FLOW_COOKIE) {
        let taken = oidc
            .store
            .take_sign_in_flow(&KeyHash::of(secret), state, now_millis())
            .await?;
        if taken.is_some() {
            return Ok(taken);
        }
    }
    Ok(None)
}

/// The `Set-Cookie` of the session opened.
async fn finish_sign_in(
    oidc: &Oidc,
    headers: &HeaderMap,
    query: CallbackQuery,
    user_name: &mut Option<String>,
    user: &mut Option<Arc<identity::UserRecord>>,
) -> Result<HeaderValue, SignInError> {
    // The state must be the one of this browser's own flow (its cookie's secret): a callback link
    // made with another browser's flow (login CSRF) or replayed without its cookie is refused.
    let pending = take_flow(oidc, headers, query.state.as_deref()).await?;
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
    let roles = claims::grants(&identity.roles, found.entity_id);
    let (_, cookie) = oidc
        .cookies
        .open(
            &oidc.directory,
            found.id,
            roles,
            SignInMethod::Provider,
            headers,
        )
        .await?;
    Ok(cookie)
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
