//! Who is at the browser: their language, the person signed in (through `access`, the session
//! mechanism every surface shares), the browser's id for CSRF tokens.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};
use identity::UserRecord;

use crate::csrf::{self, BROWSER_COOKIE, Forgery};
use crate::lang::Lang;
use crate::pages::Frame;
use crate::{Web, cookies};

/// A signed-in person: their directory record and their entity's slug.
#[derive(Debug, Clone)]
pub struct Person {
    pub user: Arc<UserRecord>,
    pub entity: Option<Arc<str>>,
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
    pub async fn of(web: &Web, headers: &HeaderMap) -> Visitor {
        let found = access::authenticate(
            &web.directory,
            web.sign_in.as_deref(),
            headers,
            access::SessionCookie::Accepted,
        )
        .await;
        let (person, session_refused) = match found {
            Ok(principal) => {
                let user = principal
                    .user_id()
                    .and_then(|id| web.directory.user_by_id(id));
                let entity = principal.entity_slug.clone();
                (user.map(|user| Person { user, entity }), false)
            }
            Err(access::Refused::Missing) => (None, false),
            Err(_) => (None, true),
        };
        let (browser, new_browser) = match cookies::get(headers, BROWSER_COOKIE) {
            Some(id) => (id.to_owned(), false),
            None => (csrf::new_browser_id(), true),
        };
        let token = web.csrf.token(&browser, person.as_ref().map(|p| p.user.id));
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
        web: &Web,
        headers: &HeaderMap,
        presented: Option<&str>,
    ) -> Result<(), Forgery> {
        let browser = (!self.new_browser).then_some(self.browser.as_str());
        let user = self.person.as_ref().map(|p| p.user.id);
        web.csrf.check(headers, browser, user, presented)
    }

    /// The frame of a page for this visitor.
    pub fn frame(&self) -> Frame<'_> {
        Frame {
            lang: self.lang,
            token: &self.token,
            user_name: self.person.as_ref().map(|p| &*p.user.user_name),
        }
    }

    /// The response, with the browser's new id if it had none; pages are never cached, they
    /// carry a token and a person's data.
    pub fn respond(&self, web: &Web, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        let headers = response.headers_mut();
        if self.new_browser {
            cookies::set(
                headers,
                BROWSER_COOKIE,
                self.browser.clone(),
                web.settings.cookie_secure,
            );
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
