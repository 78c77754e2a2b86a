//! The page-serving surfaces' own cookies: read from a request, built for a response. All `HttpOnly` and
//! `SameSite`, `Secure` when the installation says so (it does behind HTTPS).

use cookie::{Cookie, SameSite};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

/// The value of cookie `name` in the request, if it has a non-empty one.
pub fn get<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .and_then(|cookie| cookie.value_raw())
        .map(|value| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// Appends a `Set-Cookie` for a cookie that lives a year, on every path.
pub fn set(headers: &mut HeaderMap, name: &'static str, value: String, secure: bool) {
    let cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::days(365))
        .build();
    if let Ok(value) = HeaderValue::try_from(cookie.to_string()) {
        headers.append(SET_COOKIE, value);
    }
}
