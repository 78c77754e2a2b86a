//! Who is at the browser: their language, the person signed in (through `access`, the session
//! mechanism every surface shares), the browser's id for CSRF tokens.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};
use identity::{Directory, Principal, UserRecord};

use crate::cookies;
use crate::csrf::{self, BROWSER_COOKIE, Csrf, Forgery};
use crate::lang::Lang;

/// What a page-serving surface holds to know its visitors: the directory sessions are found in,
/// the identity provider's verifier (its access tokens are accepted too), its CSRF key, and
/// whether its cookies are `Secure`.
pub trait Gate {
    fn directory(&self) -> &Directory;
    fn sign_in(&self) -> Option<&dyn access::SignIn>;
    fn csrf(&self) -> &Csrf;
    fn cookie_secure(&self) -> bool;
}

impl<G: Gate + ?Sized> Gate for Arc<G> {
    fn directory(&self) -> &Directory {
        (**self).directory()
    }
    fn sign_in(&self) -> Option<&dyn access::SignIn> {
        (**self).sign_in()
    }
    fn csrf(&self) -> &Csrf {
        (**self).csrf()
    }
    fn cookie_secure(&self) -> bool {
        (**self).cookie_secure()
    }
}

/// A signed-in person: their directory record, their entity's slug, and the principal their
/// session stands for (their roles).
#[derive(Debug, Clone)]
pub struct Person {
    pub user: Arc<UserRecord>,
    pub entity: Option<Arc<str>>,
    pub principal: Arc<Principal>,
}

/// One request's visitor.
#[derive(Debug)]
pub struct Visitor {
    pub lang: Lang,
    pub person: Option<Person>,
    /// The request carried a session that is no longer honoured (user suspended or deleted).
    pub session_refused: bool,
    browser: String,
    /// The browser had no id yet: the response gives it one.
    new_browser: bool,
    token: String,
}

impl Visitor {
    /// Reads the request's cookies and finds the person signed in, from memory only.
    pub async fn of(gate: &impl Gate, headers: &HeaderMap) -> Visitor {
        let found = access::authenticate(
            gate.directory(),
            gate.sign_in(),
            headers,
            access::SessionCookie::Accepted,
        )
        .await;
        let (person, session_refused) = match found {
            Ok(principal) => {
                let user = principal
                    .user_id()
                    .and_then(|id| gate.directory().user_by_id(id));
                let entity = principal.entity_slug.clone();
                let person = user.map(|user| Person {
                    user,
                    entity,
                    principal,
                });
                (person, false)
            }
            Err(access::Refused::Missing) => (None, false),
            Err(_) => (None, true),
        };
        let (browser, new_browser) = match cookies::get(headers, BROWSER_COOKIE) {
            Some(id) => (id.to_owned(), false),
            None => (csrf::new_browser_id(), true),
        };
        let token = gate
            .csrf()
            .token(&browser, person.as_ref().map(|p| p.user.id));
        Visitor {
            lang: Lang::of_request(headers),
            person,
            session_refused,
            browser,
            new_browser,
            token,
        }
    }

    /// Whether the state change this request asks for may go ahead.
    pub fn check(
        &self,
        gate: &impl Gate,
        headers: &HeaderMap,
        presented: Option<&str>,
    ) -> Result<(), Forgery> {
        let browser = (!self.new_browser).then_some(self.browser.as_str());
        let user = self.person.as_ref().map(|p| p.user.id);
        gate.csrf().check(headers, browser, user, presented)
    }

    /// The CSRF token of this browser and person, for the page's forms.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The signed-in person's user name, for the page's header.
    pub fn user_name(&self) -> Option<&str> {
        self.person.as_ref().map(|p| &*p.user.user_name)
    }

    /// The response, with the browser's new id if it had none; pages are never cached, they
    /// carry a token and a person's data.
    pub fn respond(&self, gate: &impl Gate, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        let headers = response.headers_mut();
        if self.new_browser {
            cookies::set(
                headers,
                BROWSER_COOKIE,
                self.browser.clone(),
                gate.cookie_secure(),
            );
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
