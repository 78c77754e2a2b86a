//! `GET /console/scim-tokens` (the group's SCIM provisioning tokens, never a secret),
//! `POST /console/scim-tokens` (a new token, for the group or one entity: its secret is on that
//! answer's page, once, and nowhere else) and `POST /console/scim-tokens/{id}/revoke`.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use browser::{Person, Visitor};
use http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use crate::Console;
use crate::pages::{self, Section, cell};
use crate::text::Text;
use crate::views::directory::encode;
use crate::views::keys::secret_or_problem;
use crate::views::{Call, SignedIn, ask, posted, respond, submit};

/// `GET /console/scim-tokens`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
) -> Response {
    listing(&console, &visitor, &person, None).await
}

/// The tokens page, with `above` (a new secret, an error) over the list.
async fn listing(
    console: &Console,
    visitor: &Visitor,
    person: &Person,
    above: Option<(StatusCode, Markup)>,
) -> Response {
    let path = "/admin/v1/scim-tokens";
    let answer = match ask(
        console,
        (visitor, person),
        Section::ScimTokens,
        Method::GET,
        path,
    )
    .await
    {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    let t = |text: Text| text.in_(visitor.lang);
    let (status, above) = above.unwrap_or((StatusCode::OK, html! {}));
    let main = html! {
        (above)
        section aria-labelledby="create-title" {
            h2 #create-title { (t(Text::CreateScimToken)) }
            form.inline #create-scim-token method="post" action="/console/scim-tokens" {
                (pages::csrf(visitor))
                label { (t(Text::KeyName)) input type="text" name="name" autocomplete="off"; }
                label { (t(Text::EntityOrGroup)) input type="text" name="entity" autocomplete="off"; }
                button type="submit" { (t(Text::Create)) }
            }
        }
        table #scim-tokens {
            thead { tr {
                th scope="col" { (t(Text::Key)) }
                th scope="col" { (t(Text::KeyName)) }
                th scope="col" { (t(Text::Entity)) }
                th scope="col" { (t(Text::Created)) }
                th scope="col" { (t(Text::Status)) }
            } }
            tbody {
                @for token in answer.rows() {
                    tr {
                        th scope="row" { code { (cell(&token["display_prefix"])) "…" } }
                        td { (cell(&token["name"])) }
                        td {
                            @if token["entity"].is_null() { (t(Text::WholeGroup)) }
                            @else { (cell(&token["entity"])) }
                        }
                        td { (pages::time(&console.zone, &token["created_at"])) }
                        td {
                            @if token["revoked_at"].is_null() {
                                form method="post" action=(format!("/console/scim-tokens/{}/revoke", encode(&cell(&token["id"])))) {
                                    (pages::csrf(visitor))
                                    button.danger type="submit"
                                        aria-label=(format!("{} {}", t(Text::Revoke), cell(&token["display_prefix"]))) {
                                        (t(Text::Revoke))
                                    }
                                }
                            } @else {
                                (t(Text::Revoked))
                            }
                        }
                    }
                }
            }
        }
    };
    respond(console, visitor, person, Section::ScimTokens, status, main).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewToken {
    csrf: Option<String>,
    name: Option<String>,
    entity: Option<String>,
}

/// `POST /console/scim-tokens`: a token for the group, or for the entity named.
pub(crate) async fn create(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<NewToken>,
) -> Response {
    let (visitor, person) = match posted(&console, &headers, form.csrf.as_deref()).await {
        Ok(signed_in) => signed_in,
        Err(page) => return page,
    };
    let given =
        |field: Option<String>| field.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let body = json!({ "name": given(form.name), "entity": given(form.entity) });
    let answer = console
        .admin
        .call(
            &person.principal,
            Method::POST,
            "/admin/v1/scim-tokens",
            Some(body),
        )
        .await;
    let above = secret_or_problem(&visitor, &answer, "token");
    listing(&console, &visitor, &person, Some(above)).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct Revoke {
    csrf: Option<String>,
}

/// `POST /console/scim-tokens/{id}/revoke`.
pub(crate) async fn revoke(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Revoke>,
) -> Response {
    let path = format!("/admin/v1/scim-tokens/{}", encode(&id));
    let call = Call::new(Method::DELETE, path, None);
    submit(
        &console,
        &headers,
        form.csrf.as_deref(),
        Section::ScimTokens,
        call,
    )
    .await
}
