//! `GET /console/keys` (the keys the person may see, never a secret), `POST /console/keys` (a new
//! key for a user or a service account: its secret is on that answer's page, once, and nowhere
//! else), `POST /console/keys/{id}/revoke` and `…/rotate` (the successor's secret shown once).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use browser::{Person, Visitor};
use http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Console;
use crate::admin_api::{Answer, uri};
use crate::pages::{self, Section, cell};
use crate::text::Text;
use crate::views::directory::encode;
use crate::views::{SignedIn, ask, posted, refused, respond};

/// `GET /console/keys`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
) -> Response {
    listing(&console, &visitor, &person, None).await
}

/// The keys page, with `above` (a new secret, an error) over the list.
async fn listing(
    console: &Console,
    visitor: &Visitor,
    person: &Person,
    above: Option<(StatusCode, Markup)>,
) -> Response {
    let path = "/admin/v1/keys";
    let answer = match ask(console, (visitor, person), Section::Keys, Method::GET, path).await {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    let t = |text: Text| text.in_(visitor.lang);
    let zone = &console.zone;
    let (status, above) = above.unwrap_or((StatusCode::OK, html! {}));
    let main = html! {
        (above)
        section aria-labelledby="create-title" {
            h2 #create-title { (t(Text::CreateKey)) }
            form.inline #create-key method="post" action="/console/keys" {
                (pages::csrf(visitor))
                label { (t(Text::User)) input type="text" name="user" autocomplete="off"; }
                label { (t(Text::KeyName)) input type="text" name="name" autocomplete="off"; }
                button type="submit" { (t(Text::Create)) }
            }
            details {
                summary { (t(Text::ServiceAccountHint)) }
                form.inline method="post" action="/console/keys" {
                    (pages::csrf(visitor))
                    label { (t(Text::Entity)) input type="text" name="entity" autocomplete="off"; }
                    label { (t(Text::ServiceAccount)) input type="text" name="service_account" autocomplete="off"; }
                    label { (t(Text::KeyName)) input type="text" name="name" autocomplete="off"; }
                    button type="submit" { (t(Text::Create)) }
                }
            }
        }
        @if answer.rows().is_empty() {
            p.muted { (t(Text::Nothing)) }
        } @else {
            table #keys {
                thead { tr {
                    th scope="col" { (t(Text::Key)) }
                    th scope="col" { (t(Text::KeyName)) }
                    th scope="col" { (t(Text::Owner)) }
                    th scope="col" { (t(Text::Entity)) }
                    th scope="col" { (t(Text::Created)) }
                    th scope="col" { (t(Text::LastUsed)) }
                    th scope="col" { (t(Text::Status)) }
                } }
                tbody {
                    @for key in answer.rows() {
                        (key_row(visitor, zone, key))
                    }
                }
            }
        }
    };
    respond(console, visitor, person, Section::Keys, status, main).await
}

fn key_row(visitor: &Visitor, zone: &reports::Zone, key: &Value) -> Markup {
    let t = |text: Text| text.in_(visitor.lang);
    let id = cell(&key["id"]);
    let live = key["revoked_at"].is_null() && key["expired"].as_bool() != Some(true);
    html! {
        tr data-key=(id) {
            th scope="row" { code { (cell(&key["display_prefix"])) "…" } }
            td { (cell(&key["name"])) }
            td { (cell(&key["owner"]["kind"])) " " code { (cell(&key["owner"]["id"])) } }
            td { (cell(&key["entity"])) }
            td { (pages::time(zone, &key["created_at"])) }
            td { (pages::time(zone, &key["last_used_at"])) }
            td {
                @if live {
                    @for (change, text, class) in [("rotate", Text::Rotate, "quiet"), ("revoke", Text::Revoke, "danger")] {
                        form method="post" action=(format!("/console/keys/{}/{change}", encode(&id))) {
                            (pages::csrf(visitor))
                            button class=(class) type="submit"
                                aria-label=(format!("{} {}", t(text), cell(&key["display_prefix"]))) {
                                (t(text))
                            }
                        }
                    }
                } @else {
                    (t(Text::Revoked))
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewKey {
    csrf: Option<String>,
    user: Option<String>,
    entity: Option<String>,
    service_account: Option<String>,
    name: Option<String>,
}

/// `POST /console/keys`: a key for the user named, or for the entity's service account.
pub(crate) async fn create(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<NewKey>,
) -> Response {
    let (visitor, person) = match posted(&console, &headers, form.csrf.as_deref()).await {
        Ok(signed_in) => signed_in,
        Err(page) => return page,
    };
    let given = |field: &Option<String>| {
        field
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let mut body = match given(&form.user) {
        Some(user) => match user_id(&console, &person, &user).await {
            Some(id) => json!({ "user_id": id }),
            None => {
                let error = html! { p.error role="alert" { (Text::NoSuchUser.in_(visitor.lang)) } };
                return listing(
                    &console,
                    &visitor,
                    &person,
                    Some((StatusCode::NOT_FOUND, error)),
                )
                .await;
            }
        },
        None => {
            json!({ "entity": given(&form.entity), "service_account": given(&form.service_account) })
        }
    };
    if let Some(name) = given(&form.name) {
        body["name"] = json!(name);
    }
    let answer = console
        .admin
        .call(
            &person.principal,
            Method::POST,
            "/admin/v1/keys",
            Some(body),
        )
        .await;
    let above = secret_or_problem(&visitor, &answer, "key");
    listing(&console, &visitor, &person, Some(above)).await
}

/// The id of the user named `user_name` (or of id `user_name`), among those the person sees.
async fn user_id(console: &Console, person: &Person, user_name: &str) -> Option<String> {
    if user_name.starts_with("usr_") {
        return Some(user_name.to_owned());
    }
    let path = uri("/admin/v1/users", &[("q", user_name), ("limit", "100")]);
    let answer = console
        .admin
        .call(&person.principal, Method::GET, &path, None)
        .await;
    answer
        .rows()
        .iter()
        .find(|u| {
            u["user_name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(user_name))
        })
        .map(|u| cell(&u["id"]))
}

/// A new key's or token's secret (the answer's `field`), shown this once, or why there is none.
pub(crate) fn secret_or_problem(
    visitor: &Visitor,
    answer: &Answer,
    field: &str,
) -> (StatusCode, Markup) {
    let secret = answer.body[field].as_str().filter(|_| answer.ok());
    match secret {
        Some(secret) => (
            answer.status,
            html! {
                div.secret #new-secret role="status" {
                    p { (Text::SecretOnce.in_(visitor.lang)) }
                    code #secret { (secret) }
                }
            },
        ),
        None => (answer.status, pages::problem(visitor.lang, answer)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Change {
    csrf: Option<String>,
}

/// `POST /console/keys/{id}/revoke` or `…/rotate`.
pub(crate) async fn change(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path((id, change)): Path<(String, String)>,
    Form(form): Form<Change>,
) -> Response {
    let (visitor, person) = match posted(&console, &headers, form.csrf.as_deref()).await {
        Ok(signed_in) => signed_in,
        Err(page) => return page,
    };
    let path = format!("/admin/v1/keys/{}", encode(&id));
    match change.as_str() {
        "revoke" => {
            let answer = console
                .admin
                .call(&person.principal, Method::DELETE, &path, None)
                .await;
            if !answer.ok() {
                return refused(&console, &visitor, &person, Section::Keys, &answer).await;
            }
            visitor.respond(&console, Redirect::to("/console/keys").into_response())
        }
        "rotate" => {
            let path = format!("{path}/rotate");
            let answer = console
                .admin
                .call(&person.principal, Method::POST, &path, Some(json!({})))
                .await;
            let above = secret_or_problem(&visitor, &answer, "key");
            listing(&console, &visitor, &person, Some(above)).await
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
