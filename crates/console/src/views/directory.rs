//! `GET /console/users` (searched, paged by cursor) and `GET /console/sessions` with
//! `POST /console/sessions/{id}/revoke`.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, Method, StatusCode};
use maud::html;
use serde::Deserialize;

use crate::Console;
use crate::admin_api::uri;
use crate::pages::{self, Section, cell};
use crate::text::Text;
use crate::views::{SignedIn, posted, refused, respond};

/// Rows per page of the users directory.
const PAGE: &str = "50";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct UsersQuery {
    q: Option<String>,
    after: Option<String>,
}

/// `GET /console/users[?q][&after]`.
pub(crate) async fn users(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
    Query(query): Query<UsersQuery>,
) -> Response {
    let q = query.q.unwrap_or_default();
    let after = query.after.unwrap_or_default();
    let path = uri(
        "/admin/v1/users",
        &[("q", &q), ("after", &after), ("limit", PAGE)],
    );
    let answer = console
        .admin
        .call(&person.principal, Method::GET, &path, None)
        .await;
    if !answer.ok() {
        return refused(&console, &visitor, &person, Section::Users, &answer).await;
    }
    let t = |text: Text| text.in_(visitor.lang);
    let next = answer.body["next_cursor"].as_str();
    let main = html! {
        form.filters role="search" method="get" action="/console/users" {
            label {
                (t(Text::Search))
                input type="search" name="q" value=(q) title=(t(Text::SearchHint));
            }
            button type="submit" { (t(Text::Search)) }
        }
        @if answer.rows().is_empty() {
            p.muted { (t(Text::Nothing)) }
        } @else {
            table #users {
                thead { tr {
                    th scope="col" { (t(Text::UserName)) }
                    th scope="col" { (t(Text::DisplayName)) }
                    th scope="col" { (t(Text::Email)) }
                    th scope="col" { (t(Text::Entity)) }
                    th scope="col" { (t(Text::Status)) }
                    th scope="col" { (t(Text::Seat)) }
                } }
                tbody {
                    @for user in answer.rows() {
                        tr {
                            th scope="row" { (cell(&user["user_name"])) }
                            td { (cell(&user["display_name"])) }
                            td { (cell(&user["email"])) }
                            td { (cell(&user["entity"])) }
                            td { (cell(&user["status"])) }
                            td { (if user["seat"].as_bool() == Some(true) { "✓" } else { "" }) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label=(t(Text::Users)) {
            @if !after.is_empty() {
                a href=(uri("/console/users", &[("q", &q)])) { (t(Text::FirstPage)) }
            }
            @if let Some(next) = next {
                a href=(uri("/console/users", &[("q", &q), ("after", next)])) rel="next" {
                    (t(Text::NextPage))
                }
            }
        }
    };
    respond(
        &console,
        &visitor,
        &person,
        Section::Users,
        StatusCode::OK,
        main,
    )
    .await
}

/// `GET /console/sessions`: the live web sessions the person may see, each with its end button.
pub(crate) async fn sessions(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
) -> Response {
    let answer = console
        .admin
        .call(&person.principal, Method::GET, "/admin/v1/sessions", None)
        .await;
    if !answer.ok() {
        return refused(&console, &visitor, &person, Section::Sessions, &answer).await;
    }
    let t = |text: Text| text.in_(visitor.lang);
    let zone = &console.zone;
    let main = html! {
        @if answer.rows().is_empty() {
            p.muted { (t(Text::Nothing)) }
        } @else {
            table #sessions {
                thead { tr {
                    th scope="col" { (t(Text::User)) }
                    th scope="col" { (t(Text::Entity)) }
                    th scope="col" { (t(Text::Method)) }
                    th scope="col" { (t(Text::Started)) }
                    th scope="col" { (t(Text::LastSeen)) }
                    th scope="col" { span.visually-hidden { (t(Text::EndSession)) } }
                } }
                tbody {
                    @for session in answer.rows() {
                        tr {
                            th scope="row" { (cell(&session["user_name"])) }
                            td { (cell(&session["entity"])) }
                            td { (cell(&session["method"])) }
                            td { (pages::time(zone, &session["started_at"])) }
                            td { (pages::time(zone, &session["last_seen_at"])) }
                            td {
                                form method="post"
                                    action=(format!("/console/sessions/{}/revoke", cell(&session["id"]))) {
                                    (pages::csrf(&visitor))
                                    button.danger type="submit"
                                        aria-label=(format!("{} — {}", t(Text::EndSession), cell(&session["user_name"]))) {
                                        (t(Text::EndSession))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(
        &console,
        &visitor,
        &person,
        Section::Sessions,
        StatusCode::OK,
        main,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct Posted {
    csrf: Option<String>,
}

/// `POST /console/sessions/{id}/revoke`: ends the session, then back to the list.
pub(crate) async fn end_session(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Posted>,
) -> Response {
    let (visitor, person) = match posted(&console, &headers, form.csrf.as_deref()).await {
        Ok(signed_in) => signed_in,
        Err(page) => return page,
    };
    let path = format!("/admin/v1/sessions/{}", encode(&id));
    let answer = console
        .admin
        .call(&person.principal, Method::DELETE, &path, None)
        .await;
    if !answer.ok() {
        return refused(&console, &visitor, &person, Section::Sessions, &answer).await;
    }
    visitor.respond(&console, Redirect::to("/console/sessions").into_response())
}

/// A path segment with everything but unreserved characters percent-encoded.
pub(crate) fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}
