//! Stage 2, authenticate: the bearer key → the principal, from the in-memory directory.

use std::sync::Arc;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use identity::{Directory, Principal};

use crate::error::GatewayError;

/// The principal of the request's `Authorization: Bearer` key (`x-api-key` is accepted too, as some
/// clients send it).
pub fn authenticate(
    directory: &Directory,
    headers: &HeaderMap,
) -> Result<Arc<Principal>, GatewayError> {
    let presented = bearer(headers).ok_or(GatewayError::MissingKey)?;
    directory
        .authenticate(presented)
        .ok_or(GatewayError::InvalidKey)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_and_x_api_key() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "k".parse().unwrap());
        assert_eq!(bearer(&h), Some("k"));
    }
}
