//! Cross-site request forgery: every state change carries a token bound to this browser and to
//! the person signed in, and comes from the surface's own origin.
//!
//! The token is the HMAC-SHA256, under a key drawn at start, of the browser's random id (the
//! `HttpOnly` cookie `fabrique_browser`) and the user's id. Another site can neither read the token
//! nor make one: it would need the key. A token taken from another browser, or from the same
//! browser before another person signed in, does not verify. The pages carry it in their forms
//! (field `csrf`) and in `<meta name="csrf-token">` for the scripts (header `x-csrf-token`). A
//! restart draws a new key, so pages opened before it must be reloaded; sessions do not survive a
//! restart either. Browsers also say where a request comes from (`Sec-Fetch-Site`, `Origin`):
//! anything but the surface's own origin is refused before the token is even read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::UserId;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use http::header::{HOST, ORIGIN};
use rand::RngCore;
use sha2::Sha256;

/// The cookie holding the browser's random id.
pub const BROWSER_COOKIE: &str = "fabrique_browser";
/// The form field carrying the token.
pub const TOKEN_FIELD: &str = "csrf";
/// The header carrying the token on the scripts' requests.
pub const TOKEN_HEADER: &str = "x-csrf-token";

/// Why a state change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// The request came from another site.
    CrossOrigin,
    /// No token, or one not made for this browser and person.
    BadToken,
}

/// Makes and checks tokens under this process's key.
pub struct Csrf {
    key: [u8; 32],
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf { key: <hidden> }")
    }
}

impl Default for Csrf {
    fn default() -> Self {
        let mut key = [0; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Csrf { key }
    }
}

impl Csrf {
    /// The token for this browser and person (`None` when signed out).
    pub fn token(&self, browser: &str, user: Option<UserId>) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(browser, user).finalize().into_bytes())
    }

    /// Whether a state change may go ahead: same origin, and the token made for this browser and
    /// person. The comparison takes the same time whatever the token.
    pub fn check(
        &self,
        headers: &HeaderMap,
        browser: Option<&str>,
        user: Option<UserId>,
        presented: Option<&str>,
    ) -> Result<(), Forgery> {
        if !same_origin(headers) {
            return Err(Forgery::CrossOrigin);
        }
        let (Some(browser), Some(presented)) = (browser, presented) else {
            return Err(Forgery::BadToken);
        };
        let presented = URL_SAFE_NO_PAD
            .decode(presented.trim())
            .map_err(|_| Forgery::BadToken)?;
        self.mac(browser, user)
            .verify_slice(&presented)
            .map_err(|_| Forgery::BadToken)
    }

    fn mac(&self, browser: &str, user: Option<UserId>) -> Hmac<Sha256> {
        // The key is 32 bytes; HMAC takes a key of any length, so this never fails.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"fabrique-csrf\0");
        mac.update(browser.as_bytes());
        mac.update(b"\0");
        if let Some(user) = user {
            mac.update(user.0.as_bytes());
        }
        mac
    }
}

/// A new browser id: 256 random bits.
pub fn new_browser_id() -> String {
    let mut bytes = [0; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether the browser says the request comes from the surface's own origin. `Sec-Fetch-Site` when
/// the browser sends it, else `Origin` against `Host`; a client that sends neither is no browser
/// a forged page could drive, and still needs the token.
fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return site == "same-origin";
    }
    match header(ORIGIN.as_str()) {
        None => true,
        Some(origin) => {
            let authority = origin
                .parse::<http::Uri>()
                .ok()
                .and_then(|uri| uri.authority().map(|a| a.as_str().to_ascii_lowercase()));
            let host = header(HOST.as_str()).map(str::to_ascii_lowercase);
            authority.is_some() && authority == host
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn a_token_verifies_for_its_browser_and_person_only() {
        let csrf = Csrf::default();
        let ada = UserId::generate();
        let token = csrf.token("browser-1", Some(ada));
        let none = HeaderMap::new();
        assert_eq!(
            csrf.check(&none, Some("browser-1"), Some(ada), Some(&token)),
            Ok(())
        );
        let bad = Err(Forgery::BadToken);
        assert_eq!(
            csrf.check(&none, Some("browser-2"), Some(ada), Some(&token)),
            bad
        );
        assert_eq!(
            csrf.check(&none, Some("browser-1"), None, Some(&token)),
            bad
        );
        let bob = UserId::generate();
        assert_eq!(
            csrf.check(&none, Some("browser-1"), Some(bob), Some(&token)),
            bad
        );
        assert_eq!(csrf.check(&none, None, Some(ada), Some(&token)), bad);
        assert_eq!(csrf.check(&none, Some("browser-1"), Some(ada), None), bad);
        assert_eq!(
            csrf.check(&none, Some("browser-1"), Some(ada), Some("!!")),
            bad
        );
        let other = Csrf::default();
        assert_eq!(
            other.check(&none, Some("browser-1"), Some(ada), Some(&token)),
            bad
        );
    }

    #[test]
    fn another_origin_is_refused_before_the_token_is_read() {
        let csrf = Csrf::default();
        let token = csrf.token("b", None);
        let check = |pairs: &[(&'static str, &str)]| {
            csrf.check(&headers(pairs), Some("b"), None, Some(&token))
        };
        assert_eq!(check(&[("sec-fetch-site", "same-origin")]), Ok(()));
        assert_eq!(
            check(&[("sec-fetch-site", "cross-site")]),
            Err(Forgery::CrossOrigin)
        );
        assert_eq!(
            check(&[("sec-fetch-site", "same-site")]),
            Err(Forgery::CrossOrigin)
        );
        let host = ("host", "chat.example:8080");
        assert_eq!(
            check(&[host, ("origin", "http://chat.example:8080")]),
            Ok(())
        );
        assert_eq!(
            check(&[host, ("origin", "https://evil.example")]),
            Err(Forgery::CrossOrigin)
        );
        assert_eq!(
            check(&[host, ("origin", "null")]),
            Err(Forgery::CrossOrigin)
        );
    }
}
