//! The routes of kept conversations: open one (`GET /c/{id}`), rename, pin or delete it (`POST`,
//! checked for CSRF), export it as Markdown (`GET /c/{id}/export`), search them
//! (`GET /search?q=…`). Each finds the conversation
//! through the one ownership check ([`Keeper::owned`]); another person's answers 404.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;

use crate::conversations::{Action, Keeper, Opened};
use crate::visitor::{Person, Visitor};
use crate::{Web, pages, refuse};

/// `GET /c/{id}`: the chat, on this conversation.
pub(crate) async fn open(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let visitor = Visitor::of(&web, &headers).await;
    let Some((keeper, person)) = kept(&web, &visitor) else {
        return visitor.respond(&web, Redirect::to("/"));
    };
    let Some(opened) = keeper.owned(person, &id, Action::Read).await else {
        return not_found(&web, &visitor);
    };
    let messages = keeper.messages(&opened).await;
    let shown = (&opened, &messages[..]);
    let page = crate::chat_page(&web, &visitor, &headers, person, Some(shown), None).await;
    visitor.respond(&web, page)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Search {
    #[serde(default)]
    q: String,
}

/// `GET /search?q=…`: the chat, its list showing the person's conversations whose title or a
/// message holds the words, each through the one ownership check.
pub(crate) async fn search(
    State(web): State<Arc<Web>>,
    Query(search): Query<Search>,
    headers: HeaderMap,
) -> Response {
    let visitor = Visitor::of(&web, &headers).await;
    let Some((_, person)) = kept(&web, &visitor) else {
        return visitor.respond(&web, Redirect::to("/"));
    };
    let query: String = search.q.trim().chars().take(200).collect();
    let page = crate::chat_page(&web, &visitor, &headers, person, None, Some(&query)).await;
    visitor.respond(&web, page)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Change {
    csrf: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

/// `POST /c/{id}/rename`, `/pin`, `/delete`.
pub(crate) async fn change(
    State(web): State<Arc<Web>>,
    Path((id, what)): Path<(String, String)>,
    headers: HeaderMap,
    Form(change): Form<Change>,
) -> Response {
    let visitor = Visitor::of(&web, &headers).await;
    if let Err(forgery) = visitor.check(&web, &headers, change.csrf.as_deref()) {
        return refuse(&web, &visitor, forgery);
    }
    let action = match what.as_str() {
        "rename" => Action::Rename,
        "pin" => Action::Pin,
        "delete" => Action::Delete,
        _ => return not_found(&web, &visitor),
    };
    let Some((keeper, person)) = kept(&web, &visitor) else {
        return not_found(&web, &visitor);
    };
    let Some(opened) = keeper.owned(person, &id, action).await else {
        return not_found(&web, &visitor);
    };
    let back = format!("/c/{id}");
    let (done, to) = match action {
        Action::Rename => {
            let title = change.title.unwrap_or_default();
            (keeper.rename(&opened, &title).await, back.as_str())
        }
        Action::Pin => (keeper.pin(&opened).await, back.as_str()),
        Action::Delete => (keeper.delete(&opened).await, "/"),
        Action::Read
        | Action::Continue
        | Action::Export
        | Action::List
        | Action::Search
        | Action::Feedback => (false, "/"),
    };
    match done {
        true => visitor.respond(&web, Redirect::to(to)),
        false => visitor.respond(&web, StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// `GET /c/{id}/export`: the conversation as a Markdown file.
pub(crate) async fn export(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let visitor = Visitor::of(&web, &headers).await;
    let Some((keeper, person)) = kept(&web, &visitor) else {
        return not_found(&web, &visitor);
    };
    let Some(opened) = keeper.owned(person, &id, Action::Export).await else {
        return not_found(&web, &visitor);
    };
    let mut markdown = format!("# {}\n", opened.title);
    for message in keeper.messages(&opened).await {
        let who = match message.role.as_str() {
            "user" => "Question",
            _ => "Réponse / Answer",
        };
        markdown.push_str(&format!("\n## {who}\n\n{}\n", message.text));
    }
    let mut response = markdown.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    let file = format!("attachment; filename=\"{}.md\"", opened.stored.id);
    if let Ok(value) = HeaderValue::try_from(file) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    visitor.respond(&web, response)
}

/// The keeper and the person, when someone is signed in and their conversations are kept.
fn kept<'v>(web: &'v Web, visitor: &'v Visitor) -> Option<(&'v Keeper, &'v Person)> {
    let keeper = web.keeper.as_ref()?;
    let person = visitor.person.as_ref()?;
    keeper.keeps(person).then_some((keeper, person))
}

fn not_found(web: &Web, visitor: &Visitor) -> Response {
    let page = pages::refused(&pages::Frame::of(visitor), browser::Common::NotFound);
    visitor.respond(web, (StatusCode::NOT_FOUND, page))
}

/// What the page needs of the conversation it shows.
pub(crate) type Shown<'a> = (&'a Opened, &'a [crate::conversations::Message]);
