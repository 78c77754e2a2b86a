//! The web session's cookie: reading it from a request, and the `Set-Cookie` that opens or ends a
//! session. The sessions themselves live in the directory (`identity::Directory::open_session`).
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Lax` (not sent on another site's
//! sub-requests or form posts), `Path=/`, and `Secure` when `[sessions] cookie_secure` says so —
//! or, when it is absent, when the request came over HTTPS (`X-Forwarded-Proto: https`) or the
//! sign-in's redirect URL is `https://`.

use std::sync::Arc;

use configuration::SessionsConfig;
use cookie::{Cookie, SameSite};
use domain::{RoleGrant, SessionId, UserId, now_millis};
use http::{HeaderMap, HeaderValue, header};
use identity::{Directory, Principal, SessionLimits, SessionRefused, SignInMethod};
use store::StoreError;

use crate::{Refused, SignInError};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "fabrique_session";

/// The session cookie's value (the session's secret), if the request carries one.
pub fn session_secret(headers: &HeaderMap) -> Option<&str> {
    cookie_values(headers, COOKIE_NAME).next()
}

/// The non-empty values of the request's cookies named `name`, in order.
pub fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(move |cookie| cookie.name() == name)
        .map(|cookie| cookie.value_raw().map_or("", |v| v).trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The principal of the request's session cookie at the current time (from memory when the
/// directory holds the session, else from the store); a request without a live session is
/// [`Refused::Missing`].
pub async fn session_principal(
    directory: &Directory,
    headers: &HeaderMap,
) -> Result<Arc<Principal>, Refused> {
    let secret = session_secret(headers).ok_or(Refused::Missing)?;
    directory
        .session_principal(secret, now_millis())
        .await
        .map_err(|refused| match refused {
            SessionRefused::NoSession => Refused::Missing,
            SessionRefused::UserGone(id) => {
                Refused::SignIn(SignInError::UnknownUser(id.to_string()))
            }
            SessionRefused::UserSuspended(name) => {
                Refused::SignIn(SignInError::UserSuspended(name.to_string()))
            }
        })
}

/// Opens sessions and writes their cookies, by `[sessions]`. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookies {
    limits: SessionLimits,
    secure: Option<bool>,
    /// The sign-in's redirect URL is `https://`: the site is served over HTTPS.
    https_site: bool,
}

impl SessionCookies {
    /// `https_site`: the site is known to be served over HTTPS (e.g. `[oidc] redirect_url`).
    pub fn new(config: &SessionsConfig, https_site: bool) -> SessionCookies {
        SessionCookies {
            limits: SessionLimits {
                idle: config.idle_timeout,
                absolute: config.absolute_timeout,
                role_ttl: config.role_ttl,
            },
            secure: config.cookie_secure,
            https_site,
        }
    }

    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// Opens (and stores) a session for `user` (with the identity provider's `roles`, if any) and
    /// returns its id and the `Set-Cookie` value that hands it to the browser answering `request`.
    pub async fn open(
        &self,
        directory: &Directory,
        user: UserId,
        roles: Vec<RoleGrant>,
        method: SignInMethod,
        request: &HeaderMap,
    ) -> Result<(SessionId, HeaderValue), StoreError> {
        let (id, secret) = directory
            .open_session(user, roles, method, self.limits, now_millis())
            .await?;
        let max_age = i64::try_from(self.limits.absolute.as_secs()).unwrap_or(i64::MAX);
        let cookie = self.cookie(secret.expose().to_owned(), request, max_age);
        Ok((id, cookie))
    }

    /// The `Set-Cookie` value that makes the browser forget its session cookie.
    pub fn removal(&self, request: &HeaderMap) -> HeaderValue {
        self.cookie(String::new(), request, 0)
    }

    fn cookie(&self, value: String, request: &HeaderMap, max_age_secs: i64) -> HeaderValue {
        let cookie = Cookie::build((COOKIE_NAME, value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.is_secure(request))
            .path("/")
            .max_age(cookie::time::Duration::seconds(max_age_secs))
            .build();
        // A cookie built from a token of base64url or hex characters is always a valid header.
        HeaderValue::try_from(cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
    }

    /// Whether cookies set in answer to `request` get `Secure`.
    pub fn is_secure(&self, request: &HeaderMap) -> bool {
        self.secure.unwrap_or_else(|| {
            self.https_site
                || request
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(secure: Option<bool>, https_site: bool) -> SessionCookies {
        let config = SessionsConfig {
            cookie_secure: secure,
            ..SessionsConfig::default()
        };
        SessionCookies::new(&config, https_site)
    }

    #[tokio::test]
    async fn the_cookie_is_http_only_lax_and_secure_over_https_or_when_configured() {
        let directory = Directory::new();
        let plain = HeaderMap::new();
        let mut forwarded = HeaderMap::new();
        forwarded.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let user = UserId::generate();
        let text = async |c: &SessionCookies, h: &HeaderMap| {
            let (_, value) = c
                .open(&directory, user, vec![], SignInMethod::Link, h)
                .await
                .unwrap();
            value.to_str().unwrap().to_owned()
        };
        let auto = cookies(None, false);
        let cookie = text(&auto, &plain).await;
        assert!(cookie.starts_with("fabrique_session=fabw_"), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.contains("Max-Age=28800"), "{cookie}");
        assert!(!cookie.contains("Secure"), "{cookie}");
        assert!(text(&auto, &forwarded).await.contains("Secure"));
        assert!(text(&cookies(None, true), &plain).await.contains("Secure"));
        assert!(
            text(&cookies(Some(true), false), &plain)
                .await
                .contains("Secure")
        );
        assert!(
            !text(&cookies(Some(false), true), &forwarded)
                .await
                .contains("Secure")
        );
        assert!(auto.removal(&plain).to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn the_secret_is_read_from_the_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; fabrique_session=fabw_abc"),
        );
        assert_eq!(session_secret(&headers), Some("fabw_abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("fabrique_session="),
        );
        assert_eq!(session_secret(&headers), None);
    }
}
