//! The employee chat, served at `/` by `fabrique serve` on the API's listener.
//!
//! Pages are rendered on the server (`pages`, with `maud`, which escapes every value it is
//! given); the style sheet and the ES modules are compiled into the binary (`assets`), so there
//! is no front-end build and nothing to deploy beside the binary.
//!
//! **Who is signed in** is asked of `access::authenticate`, the one way every surface finds its
//! caller: the session cookie set by sign-in (`/auth/…`) stands for a person. Signed out, `/`
//! shows the sign-in page: the provider's button when `[oidc]` is configured, else how to get a
//! one-time link.
//!
//! **The chat** (`chat`): `POST /chat/send` takes the question (with the conversation the page
//! holds when nothing is kept; continuing a kept one, the server reads it from the store) and
//! sends it, with the newest messages before it that fit the model's context (`prompt`), as a
//! chat completion through the inference API's own routes, in process, with the browser's
//! session: the gateway authenticates the person and runs its whole pipeline, so every request
//! still leaves through its one exit, metered and audited.
//!
//! **A long conversation** costs a question what the model can read, not the conversation's
//! length: its history is read from the store from its end, in pages, and opened only until the
//! model's context is filled (`conversations::Keeper::history`). Not a cache of opened
//! conversations in memory: the window is needed anyway (a model cannot be sent more than its
//! context), and once it bounds the reading, a cache would save only the opening of what the
//! model reads while keeping people's conversations in clear in memory beyond their requests
//! — which every replica would have to forget on another replica's change, on a delete and on a
//! person's erasure, where a read of the store is right by construction. The
//! streamed answer comes back as events of HTML rendered and sanitized on the server
//! (`markdown`), each block once, with the personal-data notice the gateway tells. When the person's entity keeps content (`full`), conversations are kept one row
//! a message, sealed under the person's content key (`conversations`), and opened, renamed,
//! pinned, exported, searched (`search`) and deleted through `history`, listed by when they were
//! last active (`periods`), every access — answers rated included — through the one ownership
//! check in `conversations`; otherwise the conversation lives in the page only
//! (`assets/chat.js`) and the page says so.
//!
//! **Assistants** (`assistants`): the AI Factory's deployed use cases the person may call are
//! offered in the model picker and asked as `usecase/<slug>`, with their template's variables;
//! a structured answer that breaks its version's output schema is shown refused (`chat`).
//! **Ask this library**: the knowledge libraries the person may read ([`Shelf`], which the
//! binary answers) are offered beside the model; the one chosen goes in the question's
//! `fabrique.libraries`, which the inference API checks again, and the documents and pages its
//! passages came from are shown under the answer (`knowledge::Cited`, on the API's response).
//! **Attachments** (`attachments`): PDF, DOCX, TXT and Markdown documents are read on the server
//! and their text added to the question, so the data policy reads it; nothing of a document is
//! stored. **Usage** (`usage`): the person's month and their own monthly budgets, shown below the
//! conversation. **Sign-out** (`POST /signout`) ends the session on the server.
//!
//! **Security.** Every response carries a strict Content-Security-Policy (scripts, styles and
//! connections from the chat's own origin only, no inline script or style, no framing) and
//! `nosniff`, `no-referrer`. Every state change is a `POST` checked by `csrf`: from the chat's
//! own origin, with a token bound to this browser and the signed-in person. The chat's cookies are
//! `HttpOnly` and `SameSite=Strict`, `Secure` when the installation says so.
//!
//! **Classification.** The person picks the conversation's level among their entity's default
//! and the levels above it; it goes with every question (`x-fabrique-classification`), so only
//! endpoints cleared for it answer, and a question no cleared model can take says so plainly.
//!
//! **Language.** French by default, English when the browser prefers it, either when the person
//! chooses it in the header (`lang`); every sentence is in `text`, in both languages.
//!
//! **Invariants:** no page holds inline script or style; no state change without a verified
//! token; the web depends on no other surface (it reaches the inference API through the same
//! pipeline as any client, never around it).

mod assets;
mod assistants;
mod attachments;
mod chat;
mod conversations;
mod history;
mod markdown;
mod pages;
mod periods;
mod prompt;
mod search;
mod text;
mod usage;

// The pieces every page-serving surface shares, under the names the modules here use.
use browser::{cookies, csrf, lang, visitor};

use std::collections::HashMap;
use std::sync::Arc;

use access::SessionCookies;
use admission::Calendar;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use factory::Live;
use http::{HeaderMap, StatusCode, header};
use identity::Directory;
use retention::ContentStore;
use serde::Deserialize;
use store::Store;

pub use browser::{
    BROWSER_COOKIE, CONTENT_SECURITY_POLICY, LANG_COOKIE, TOKEN_FIELD, TOKEN_HEADER,
};

use crate::chat::Inference;
use crate::conversations::Keeper;
use crate::csrf::{Csrf, Forgery};
use crate::lang::Lang;
use crate::usage::Meter;
use crate::visitor::Person;
use crate::visitor::Visitor;

/// What the installation says about the web.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Send the chat's cookies with `Secure` (behind HTTPS).
    pub cookie_secure: bool,
    /// Sign-in with the group's identity provider is configured: the sign-in page shows its
    /// button.
    pub provider_sign_in: bool,
    /// The classification levels, lowest first (`classifications`).
    pub levels: Vec<String>,
    /// Each entity's least classification, as a rank in `levels` (`[[entities]]
    /// classification`); an entity not named starts at the lowest.
    pub entity_floors: HashMap<String, usize>,
}

impl Settings {
    /// The levels a person of `entity` may give a conversation: their entity's default and above.
    /// Lowering below it is not offered (and the gateway would not honour it).
    fn levels_open_to(&self, entity: Option<&str>) -> &[String] {
        let floor = entity
            .and_then(|slug| self.entity_floors.get(slug))
            .copied()
            .unwrap_or(0);
        self.levels.get(floor..).unwrap_or_default()
    }
}

/// The web's state, shared by its routes.
#[derive(Debug)]
pub struct Web {
    directory: Arc<Directory>,
    sign_in: Option<Arc<dyn access::SignIn>>,
    csrf: Csrf,
    settings: Settings,
    inference: Inference,
    /// Keeps conversations for people whose entity's retention is `full`.
    keeper: Option<Keeper>,
    /// Writes the session cookie's removal at sign-out.
    sessions: Option<SessionCookies>,
    /// The group's calendar: when days begin, for the list of conversations.
    calendar: Calendar,
    /// The person's month against their budgets.
    meter: Option<Meter>,
    /// The AI Factory's deployed use cases, offered as assistants.
    factory: Option<Arc<Live>>,
    /// The knowledge libraries a person may ask.
    libraries: Option<Arc<dyn Shelf>>,
}

impl std::fmt::Debug for dyn Shelf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shelf")
    }
}

/// What the web is made of, given by `fabrique serve`.
#[derive(Debug)]
pub struct Parts {
    pub directory: Arc<Directory>,
    pub sign_in: Option<Arc<dyn access::SignIn>>,
    pub settings: Settings,
    /// The inference API's router (`gateway::router`): the chat sends its questions through it,
    /// in process, so they take the pipeline every API request takes.
    pub inference: Router,
    /// Where conversations are kept, for entities whose retention is `full`.
    pub kept: Option<(Store, Arc<ContentStore>)>,
    /// How session cookies are written: sign-out clears the browser's.
    pub sessions: Option<SessionCookies>,
    /// The usage store and the budgets, to show each person their month; the budgets' calendar
    /// (`[admission] time_zone`) is the group's, else UTC.
    pub usage: Option<(Store, counters::Counters)>,
    /// The AI Factory's registry in memory: its deployed use cases the person may call are
    /// offered as assistants.
    pub factory: Option<Arc<Live>>,
    /// The knowledge libraries a person may ask ("ask this library").
    pub libraries: Option<Arc<dyn Shelf>>,
}

/// The knowledge libraries a person may read, for the chat's "ask this library": the binary
/// answers from the libraries it holds and the authorization policy, neither of which the web
/// holds. Asking one sends its id in the chat completion's `fabrique.libraries`, which the
/// inference API checks again.
pub trait Shelf: Send + Sync {
    /// The libraries `principal` may read, as (id, name), by name.
    fn readable(&self, principal: &identity::Principal) -> Vec<(String, String)>;
}

impl browser::Gate for Web {
    fn directory(&self) -> &Directory {
        &self.directory
    }
    fn sign_in(&self) -> Option<&dyn access::SignIn> {
        self.sign_in.as_deref()
    }
    fn csrf(&self) -> &Csrf {
        &self.csrf
    }
    fn cookie_secure(&self) -> bool {
        self.settings.cookie_secure
    }
}

impl Web {
    /// `inference` is the inference API's router (`gateway::router`): the chat sends its
    /// questions through it, in process, so they take the pipeline every API request takes.
    pub fn new(
        directory: Arc<Directory>,
        sign_in: Option<Arc<dyn access::SignIn>>,
        settings: Settings,
        inference: Router,
        kept: Option<(Store, Arc<ContentStore>)>,
    ) -> Arc<Web> {
        Web::of(Parts {
            directory,
            sign_in,
            settings,
            inference,
            kept,
            sessions: None,
            usage: None,
            factory: None,
            libraries: None,
        })
    }

    /// The web made of all its parts.
    pub fn of(parts: Parts) -> Arc<Web> {
        let meter = parts
            .usage
            .map(|(store, counters)| Meter::new(store, counters));
        Arc::new(Web {
            directory: parts.directory,
            sign_in: parts.sign_in,
            csrf: Csrf::default(),
            settings: parts.settings,
            inference: Inference(parts.inference),
            keeper: parts
                .kept
                .map(|(store, content)| Keeper::new(store, content)),
            sessions: parts.sessions,
            calendar: meter
                .as_ref()
                .map_or_else(Calendar::utc, |meter| meter.calendar().clone()),
            meter,
            factory: parts.factory,
            libraries: parts.libraries,
        })
    }
}

/// The web's routes: `/`, `/assets/{name}`, `POST /lang`, `POST /signout`, `POST /chat/send`,
/// `POST /chat/attach`, `POST /chat/feedback`, `GET /search`, and a kept conversation's
/// `/c/{id}…`.
pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/assets/{name}", get(assets::serve))
        .route("/lang", post(choose_language))
        .route("/signout", post(sign_out))
        .route("/search", get(history::search))
        .route(
            "/chat/send",
            post(chat::send).layer(DefaultBodyLimit::max(prompt::MAX_ASK_BYTES)),
        )
        .route(
            "/chat/attach",
            post(attachments::attach).layer(DefaultBodyLimit::max(
                attachments::MAX_DOCUMENT_BYTES + 64 * 1024,
            )),
        )
        .route("/chat/feedback", post(chat::feedback))
        .route("/c/{id}", get(history::open))
        .route("/c/{id}/export", get(history::export))
        .route("/c/{id}/{change}", post(history::change))
        .layer(axum::middleware::map_response(browser::secure))
        .with_state(web)
}

/// `GET /`: the chat when signed in, else the sign-in page.
async fn home(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let visitor = Visitor::of(&web, &headers).await;
    let page = match &visitor.person {
        Some(person) => chat_page(&web, &visitor, &headers, person, None, None).await,
        None => pages::sign_in(
            &pages::Frame::of(&visitor),
            web.settings.provider_sign_in,
            visitor.session_refused,
        ),
    };
    visitor.respond(&web, page)
}

/// The chat page for `person`, on a kept conversation or a new one; the list of their
/// conversations, or those that hold `search`.
async fn chat_page(
    web: &Web,
    visitor: &Visitor,
    headers: &HeaderMap,
    person: &Person,
    shown: Option<history::Shown<'_>>,
    search: Option<&str>,
) -> maud::Markup {
    let models = web.inference.chat_models(headers).await;
    let assistants = match &web.factory {
        Some(live) => assistants::open_to(live, person, &models),
        None => Vec::new(),
    };
    let levels = web.settings.levels_open_to(person.entity.as_deref());
    let libraries = match &web.libraries {
        Some(shelf) => shelf.readable(&person.principal),
        None => Vec::new(),
    };
    let keeper = web.keeper.as_ref().filter(|keeper| keeper.keeps(person));
    let (grouped, found) = match (keeper, search) {
        (None, _) => (None, None),
        (Some(keeper), Some(query)) => (None, Some(keeper.search(person, query).await)),
        (Some(keeper), None) => {
            let boundaries = periods::Boundaries::at(&web.calendar, domain::now_millis());
            let listed = keeper.list(person).await;
            (Some(periods::group(listed, &boundaries)), None)
        }
    };
    let month = match &web.meter {
        Some(meter) => meter.month(person).await,
        None => None,
    };
    let kept = match (&grouped, &found, search) {
        (Some(groups), _, _) => Some(pages::Sidebar::Grouped(groups)),
        (_, Some(found), Some(query)) => Some(pages::Sidebar::Found { query, found }),
        _ => None,
    };
    let chat = pages::Chat {
        models: &models,
        assistants: &assistants,
        libraries: &libraries,
        levels,
        kept,
        shown,
        month: month.as_ref(),
    };
    pages::chat(&pages::Frame::of(visitor), &chat)
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
struct Posted {
    csrf: Option<String>,
}

/// `POST /signout`: ends the person's session on the server (the cookie no longer opens it,
/// whoever holds it) and clears it in the browser, then back to the sign-in page.
async fn sign_out(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(posted): Form<Posted>,
) -> Response {
    let visitor = Visitor::of(&web, &headers).await;
    if let Err(forgery) = visitor.check(&web, &headers, posted.csrf.as_deref()) {
        return refuse(&web, &visitor, forgery);
    }
    if let Some(secret) = access::session_secret(&headers)
        && let Err(error) = web
            .directory
            .end_session_of_secret(secret, domain::now_millis())
            .await
    {
        // The session stays open on the server: say so rather than pretend it ended.
        tracing::error!(%error, "web: could not end a session");
        let page = pages::refused(&pages::Frame::of(&visitor), browser::Common::SignOutFailed);
        return visitor.respond(&web, (StatusCode::SERVICE_UNAVAILABLE, page));
    }
    let mut response = Redirect::to("/").into_response();
    if let Some(sessions) = &web.sessions {
        let removal = sessions.removal(&headers);
        response.headers_mut().append(header::SET_COOKIE, removal);
    }
    visitor.respond(&web, response)
}

#[derive(Debug, Deserialize)]
struct LanguageChoice {
    csrf: Option<String>,
    lang: String,
}

/// `POST /lang`: remembers the language chosen, then back to the chat.
async fn choose_language(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(choice): Form<LanguageChoice>,
) -> Response {
    let visitor = Visitor::of(&web, &headers).await;
    if let Err(forgery) = visitor.check(&web, &headers, choice.csrf.as_deref()) {
        return refuse(&web, &visitor, forgery);
    }
    let lang = Lang::of_tag(&choice.lang).unwrap_or(visitor.lang);
    let mut response = Redirect::to("/").into_response();
    cookies::set(
        response.headers_mut(),
        LANG_COOKIE,
        lang.code().to_owned(),
        web.settings.cookie_secure,
    );
    visitor.respond(&web, response)
}

/// A refused state change: 403 and a page that says why.
pub(crate) fn refuse(web: &Web, visitor: &Visitor, forgery: Forgery) -> Response {
    tracing::info!(?forgery, "web: a state change was refused");
    let page = pages::refused(&pages::Frame::of(visitor), forgery.explained());
    visitor.respond(web, (StatusCode::FORBIDDEN, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_is_offered_its_entitys_level_and_the_ones_above() {
        let settings = Settings {
            cookie_secure: false,
            provider_sign_in: false,
            levels: ["public", "internal", "secret"].map(String::from).to_vec(),
            entity_floors: HashMap::from([("bank".to_owned(), 1), ("odd".to_owned(), 9)]),
        };
        assert_eq!(
            settings.levels_open_to(Some("bank")),
            ["internal", "secret"]
        );
        assert_eq!(settings.levels_open_to(Some("other")).len(), 3);
        assert_eq!(settings.levels_open_to(None).len(), 3);
        assert!(settings.levels_open_to(Some("odd")).is_empty());
    }
}
