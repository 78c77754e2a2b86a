//! One-time sign-in links, for installations without an identity provider (and for newcomers
//! before their directory account exists): an administrator mints a link for a user
//! (`POST /admin/v1/users/{user}/login-link`), the user opens it (`GET /auth/link/{token}`) and is
//! signed in to the web with a session of their own.
//!
//! A link is 32 random bytes (`fabl_…`), valid [`LINK_LIFETIME`], usable once; only its SHA-256 is
//! stored. Minting is authorized like handing out a key (`auth.login_link.create`, in
//! `hands_out_roles`): an entity administrator mints links for their entity's users only, and
//! never for a user holding rights beyond that entity. Minting is audited
//! `auth.login_link.create`, every use or refused use `auth.sign_in` (method `link`).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::key::{KeySecret, LOGIN_LINK_PREFIX};
use domain::{AuditAction, AuditEvent, KeyHash, KeyOwner, Outcome, UserId, now_millis};
use identity::SignInMethod;
use serde_json::{Value, json};
use store::LoginLinkUse;
use wire::{ErrorBody, ErrorType};

use crate::authorize::{change_event, require_carrying};
use crate::caller::Caller;
use crate::content::permitted_user;
use crate::{AdminAction, AdminError, AdminState};

/// How long a link may wait to be opened.
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Where the browser goes once signed in.
const AFTER_SIGN_IN: &str = "/";

/// `POST /admin/v1/users/{user}/login-link` (id or user name) → 201 with the link's `url` (shown
/// once) and `expires_at`.
#[utoipa::path(
    post, path = "/admin/v1/users/{id}/login-link", tag = "admin",
    params(("id" = String, Path, description = "The user's id or user name")),
    responses(
        (status = 201, description = "Mints a one-time sign-in link for a user (shown once).", body = crate::openapi::Object),
        (status = "4XX", description = "Refused: the error's `code` says why", body = wire::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let action = AdminAction::CreateLoginLink;
    let user = permitted_user(&state, &caller, action, &user).await?;
    let carried = state.store.roles(KeyOwner::User(user.id)).await?;
    require_carrying(&state, &caller, action, Some(user.entity_id), &carried)
        .await
        .map_err(|_| {
            AdminError::Refused(format!(
                "`{}` holds roles beyond yours: you may not sign in as them",
                user.user_name
            ))
        })?;
    let token = KeySecret::generate_with_prefix(LOGIN_LINK_PREFIX);
    let expires_at = now_millis() + i64::try_from(LINK_LIFETIME.as_millis()).unwrap_or(i64::MAX);
    let audit = change_event(
        &caller,
        AuditAction::AuthLoginLinkCreate,
        Some(user.entity_id),
        json!({"user_name": user.user_name, "expires_at": expires_at}),
    );
    state
        .store
        .create_login_link(&token.hash(), user.id, user.entity_id, expires_at, &audit)
        .await?;
    let path = link_path(&token);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "user_id": user.id,
            "user_name": user.user_name,
            "url": format!("{}{path}", origin(&headers)),
            "path": path,
            "expires_at": expires_at,
        })),
    ))
}

/// The path that signs in with `token`.
pub fn link_path(token: &KeySecret) -> String {
    format!("/auth/link/{}", token.expose())
}

/// `scheme://host` as the caller reached this server (a proxy's `X-Forwarded-Proto` counts).
fn origin(headers: &HeaderMap) -> String {
    let value = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let scheme = value("x-forwarded-proto").unwrap_or("http");
    let host = value(header::HOST.as_str()).unwrap_or("127.0.0.1:8080");
    format!("{scheme}://{host}")
}

/// Mints a link for `user` (of `entity`) as Fabrique itself — the bootstrap administrator's link
/// at start — audited as a system action; returns its path.
pub async fn mint_for(
    store: &store::Store,
    user: UserId,
    entity: domain::EntityId,
) -> Result<String, store::StoreError> {
    let token = KeySecret::generate_with_prefix(LOGIN_LINK_PREFIX);
    let expires_at = now_millis() + i64::try_from(LINK_LIFETIME.as_millis()).unwrap_or(i64::MAX);
    let audit = AuditEvent::system(
        AuditAction::AuthLoginLinkCreate,
        json!({"expires_at": expires_at, "at_start": true}).to_string(),
    );
    store
        .create_login_link(&token.hash(), user, entity, expires_at, &audit)
        .await?;
    Ok(link_path(&token))
}

/// Why a link signs nobody in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkRefused {
    Used,
    Expired,
    Unknown,
    UserGone,
    UserSuspended,
}

impl LinkRefused {
    fn code(self) -> &'static str {
        match self {
            LinkRefused::Used => "login_link_used",
            LinkRefused::Expired => "login_link_expired",
            LinkRefused::Unknown => "login_link_unknown",
            LinkRefused::UserGone => "unknown_user",
            LinkRefused::UserSuspended => "user_suspended",
        }
    }

    fn answer(self) -> (StatusCode, ErrorType, &'static str) {
        let ask = "ask your administrator for a new one";
        match self {
            LinkRefused::Used => (StatusCode::GONE, ErrorType::InvalidRequest, ask),
            LinkRefused::Expired => (StatusCode::GONE, ErrorType::InvalidRequest, ask),
            LinkRefused::Unknown | LinkRefused::UserGone => (
                StatusCode::NOT_FOUND,
                ErrorType::NotFound,
                "no such sign-in link",
            ),
            LinkRefused::UserSuspended => (
                StatusCode::FORBIDDEN,
                ErrorType::Permission,
                "this account is suspended",
            ),
        }
    }

    fn into_response(self) -> Response {
        let (status, kind, message) = self.answer();
        let message = match self {
            LinkRefused::Used => format!("this sign-in link was used already; {message}"),
            LinkRefused::Expired => format!("this sign-in link has expired; {message}"),
            _ => message.to_owned(),
        };
        let body = ErrorBody::new(kind, self.code(), message).to_json();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// `GET /auth/link/{token}` → 303 to `/` with the session cookie; a used or expired link is
/// refused with 410, an unknown one with 404, a suspended user's with 403. Audited either way.
pub(crate) async fn sign_in(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let used = state
        .store
        .consume_login_link(&KeyHash::of(&token), now_millis())
        .await;
    let (user, refused) = match used {
        Ok(LoginLinkUse::SignIn(id)) => match state.directory.user_by_id(id) {
            Some(user) if user.is_active() => (Some(user), None),
            Some(user) => (Some(user), Some(LinkRefused::UserSuspended)),
            None => (None, Some(LinkRefused::UserGone)),
        },
        Ok(LoginLinkUse::Used) => (None, Some(LinkRefused::Used)),
        Ok(LoginLinkUse::Expired) => (None, Some(LinkRefused::Expired)),
        Ok(LoginLinkUse::Unknown) => (None, Some(LinkRefused::Unknown)),
        Err(error) => return AdminError::Store(error).into_response(),
    };
    audit_sign_in(&state, user.as_deref(), refused).await;
    match (user, refused) {
        (Some(user), None) => {
            let opened = state
                .cookies
                .open(
                    &state.directory,
                    user.id,
                    Vec::new(),
                    SignInMethod::Link,
                    &headers,
                )
                .await;
            let cookie = match opened {
                Ok((_, cookie)) => cookie,
                Err(error) => return AdminError::Store(error).into_response(),
            };
            let mut response = StatusCode::SEE_OTHER.into_response();
            let headers = response.headers_mut();
            headers.insert(header::LOCATION, HeaderValue::from_static(AFTER_SIGN_IN));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.append(header::SET_COOKIE, cookie);
            response
        }
        (_, refused) => refused.unwrap_or(LinkRefused::Unknown).into_response(),
    }
}

/// Audits a use of a link: `auth.sign_in`, success or denial with its reason, method `link`.
async fn audit_sign_in(
    state: &AdminState,
    user: Option<&identity::UserRecord>,
    refused: Option<LinkRefused>,
) {
    let event = AuditEvent {
        at: now_millis(),
        actor: user.map_or_else(|| "anonymous".to_owned(), |u| u.id.to_string()),
        action: AuditAction::AuthSignIn,
        entity_id: user.map(|u| u.entity_id),
        target: user.map_or_else(String::new, |u| u.id.to_string()),
        outcome: match refused {
            None => Outcome::Success,
            Some(_) => Outcome::Denied,
        },
        detail: json!({
            "reason": refused.map_or("signed_in", LinkRefused::code),
            "method": "link",
        })
        .to_string(),
    };
    if let Err(error) = state.store.append_audit(&event).await {
        tracing::error!(%error, "could not audit a sign-in");
    }
}
