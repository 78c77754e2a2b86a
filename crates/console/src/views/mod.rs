//! The console's pages, one module per section; what they share: finding the person signed in
//! (the [`SignedIn`] extractor, which answers the sign-in page itself when nobody is), checking
//! a form's origin and token, refusing a forged one.

pub(crate) mod audit;
pub(crate) mod content;
pub(crate) mod directory;
pub(crate) mod keys;
pub(crate) mod overview;
pub(crate) mod policies;
pub(crate) mod pools;
pub(crate) mod roles;
pub(crate) mod scim_tokens;
pub(crate) mod seats;
pub(crate) mod teams;
pub(crate) mod use_case_documents;
pub(crate) mod use_cases;

use std::sync::Arc;

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Redirect, Response};
use browser::{Lang, Person, Visitor};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::Console;
use crate::admin_api::Answer;
use crate::pages::{self, Section};
use crate::reach::Reach;

/// The visitor and the person signed in, taken from the request before a page's handler runs;
/// when nobody is signed in, the handler does not run and the page asking them to sign in first
/// is the answer.
pub(crate) struct SignedIn {
    pub visitor: Visitor,
    pub person: Person,
}

impl FromRequestParts<Arc<Console>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<SignedIn, Response> {
        let (visitor, person) = signed_in(console, &parts.headers).await?;
        Ok(SignedIn { visitor, person })
    }
}

/// The visitor and the person signed in, or the page asking them to sign in first.
async fn signed_in(console: &Console, headers: &HeaderMap) -> Result<(Visitor, Person), Response> {
    let visitor = Visitor::of(console, headers).await;
    match visitor.person.clone() {
        Some(person) => Ok((visitor, person)),
        None => {
            let page = pages::sign_in_first(&visitor);
            Err(visitor.respond(console, (StatusCode::UNAUTHORIZED, page)))
        }
    }
}

/// [`signed_in`] for a form: also checks that it comes from the console's own page (origin and
/// token); a forged one is refused with a page that says why.
pub(crate) async fn posted(
    console: &Console,
    headers: &HeaderMap,
    token: Option<&str>,
) -> Result<(Visitor, Person), Response> {
    let (visitor, person) = signed_in(console, headers).await?;
    if let Err(forgery) = visitor.check(console, headers, token) {
        let reason = forgery.explained();
        tracing::info!(?forgery, "console: a state change was refused");
        let main = html! { p.error role="alert" { (reason.in_(visitor.lang)) } };
        let page = pages::layout(&visitor, &Reach::default(), None, main);
        return Err(visitor.respond(console, (StatusCode::FORBIDDEN, page)));
    }
    Ok((visitor, person))
}

/// A page of `section` with the status the admin API's answer calls for, its navigation showing
/// the sections the person may reach.
pub(crate) async fn respond(
    console: &Console,
    visitor: &Visitor,
    person: &Person,
    section: Section,
    status: StatusCode,
    main: Markup,
) -> Response {
    let reach = Reach::of(console, person).await;
    let page = pages::layout(visitor, &reach, Some(section), main);
    visitor.respond(console, (status, page))
}

/// A refused or failed answer of the admin API, shown on `section`'s page.
pub(crate) async fn refused(
    console: &Console,
    visitor: &Visitor,
    person: &Person,
    section: Section,
    answer: &Answer,
) -> Response {
    let main = pages::problem(visitor.lang, answer);
    respond(console, visitor, person, section, answer.status, main).await
}

/// `section`'s page saying that its reads could not be recorded, so it shows none of them.
pub(crate) async fn unrecorded(
    console: &Console,
    visitor: &Visitor,
    person: &Person,
    section: Section,
) -> Response {
    tracing::error!(?section, "console: a page's reads could not be audited");
    let failed = Answer {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: Value::Null,
    };
    refused(console, visitor, person, section, &failed).await
}

/// `method path` of the admin API as `person`: the answer, or `section`'s page saying why it
/// was refused.
pub(crate) async fn ask(
    console: &Console,
    (visitor, person): (&Visitor, &Person),
    section: Section,
    method: Method,
    path: &str,
) -> Result<Answer, Response> {
    let answer = console
        .admin
        .call(&person.principal, method, path, None)
        .await;
    match answer.ok() {
        true => Ok(answer),
        false => Err(refused(console, visitor, person, section, &answer).await),
    }
}

/// One call of the admin API a form asks for.
pub(crate) struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
}

impl Call {
    pub(crate) fn new(method: Method, path: impl Into<String>, body: Option<Value>) -> Call {
        Call {
            method,
            path: path.into(),
            body,
        }
    }
}

/// A form that asks for one change: checked ([`posted`]), sent to the admin API as the person,
/// then back to `section`'s page, or that page saying why it was refused.
pub(crate) async fn submit(
    console: &Console,
    headers: &HeaderMap,
    token: Option<&str>,
    section: Section,
    call: Call,
) -> Response {
    submit_then(console, headers, token, section, call, section.href()).await
}

/// [`submit`], then to the page `back` (a page within `section`, such as one use case's).
pub(crate) async fn submit_then(
    console: &Console,
    headers: &HeaderMap,
    token: Option<&str>,
    section: Section,
    call: Call,
    back: &str,
) -> Response {
    let (visitor, person) = match posted(console, headers, token).await {
        Ok(signed_in) => signed_in,
        Err(page) => return page,
    };
    let answer = console
        .admin
        .call(&person.principal, call.method, &call.path, call.body)
        .await;
    if !answer.ok() {
        return refused(console, &visitor, &person, section, &answer).await;
    }
    visitor.respond(console, Redirect::to(back).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct LanguageChoice {
    csrf: Option<String>,
    lang: String,
}

/// `POST /console/lang`: remembers the language chosen (the chat's cookie: one choice for both),
/// then back to the console.
pub(crate) async fn choose_language(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(choice): Form<LanguageChoice>,
) -> Response {
    let visitor = Visitor::of(&console, &headers).await;
    if let Err(forgery) = visitor.check(&console, &headers, choice.csrf.as_deref()) {
        tracing::info!(?forgery, "console: a language change was refused");
        return visitor.respond(&console, StatusCode::FORBIDDEN);
    }
    let lang = Lang::of_tag(&choice.lang).unwrap_or(visitor.lang);
    let mut response = Redirect::to("/console").into_response();
    browser::cookies::set(
        response.headers_mut(),
        browser::LANG_COOKIE,
        lang.code().to_owned(),
        console.cookie_secure,
    );
    visitor.respond(&console, response)
}
