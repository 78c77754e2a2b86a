//! `GET /console/roles` (who holds which role), `POST /console/roles/grant` and
//! `POST /console/roles/revoke`: the admin API decides who may grant what (nobody grants a role
//! wider than their own), the page only asks.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, Method, StatusCode};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use crate::Console;
use crate::admin_api::uri;
use crate::pages::{self, Section, cell};
use crate::text::Text;
use crate::views::{SignedIn, posted, refused, respond};

/// The roles a grant may name, as the admin API spells them.
const ROLES: [&str; 7] = [
    "user",
    "entity_admin",
    "auditor",
    "factory_engineer",
    "risk_officer",
    "compliance_officer",
    "group_admin",
];

/// `GET /console/roles`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
) -> Response {
    let answer = console
        .admin
        .call(
            &person.principal,
            Method::GET,
            "/admin/v1/role-grants",
            None,
        )
        .await;
    if !answer.ok() {
        return refused(&console, &visitor, &person, Section::Roles, &answer).await;
    }
    let t = |text: Text| text.in_(visitor.lang);
    let main = html! {
        section aria-labelledby="grant-title" {
            h2 #grant-title { (t(Text::GrantRole)) }
            form.inline method="post" action="/console/roles/grant" {
                (pages::csrf(&visitor))
                label { (t(Text::User)) input type="text" name="user" required autocomplete="off"; }
                label {
                    (t(Text::Role))
                    select name="role" { @for role in ROLES { option value=(role) { (role) } } }
                }
                label { (t(Text::Entity)) input type="text" name="entity" autocomplete="off"; }
                button type="submit" { (t(Text::Grant)) }
            }
        }
        table #roles {
            thead { tr {
                th scope="col" { (t(Text::Holder)) }
                th scope="col" { (t(Text::Role)) }
                th scope="col" { (t(Text::Entity)) }
                th scope="col" { (t(Text::Since)) }
                th scope="col" { span.visually-hidden { (t(Text::TakeBack)) } }
            } }
            tbody {
                @for grant in answer.rows() {
                    tr {
                        th scope="row" { (cell(&grant["holder"]["name"])) }
                        td { (cell(&grant["role"])) }
                        td {
                            @if grant["entity"].is_null() { (t(Text::WholeGroup)) }
                            @else { (cell(&grant["entity"])) }
                        }
                        td { (pages::time(&console.zone, &grant["granted_at"])) }
                        td {
                            @if grant["holder"]["kind"] == "user" {
                                form method="post" action="/console/roles/revoke" {
                                    (pages::csrf(&visitor))
                                    input type="hidden" name="user" value=(cell(&grant["holder"]["id"]));
                                    input type="hidden" name="role" value=(cell(&grant["role"]));
                                    input type="hidden" name="entity" value=(cell(&grant["entity"]));
                                    button.danger type="submit"
                                        aria-label=(format!("{} {} — {}", t(Text::TakeBack), cell(&grant["role"]), cell(&grant["holder"]["name"]))) {
                                        (t(Text::TakeBack))
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
        Section::Roles,
        StatusCode::OK,
        main,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct RoleForm {
    csrf: Option<String>,
    user: String,
    role: String,
    entity: Option<String>,
}

/// `POST /console/roles/grant` or `…/revoke`.
pub(crate) async fn change(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(change): Path<String>,
    Form(form): Form<RoleForm>,
) -> Response {
    let (visitor, person) = match posted(&console, &headers, form.csrf.as_deref()).await {
        Ok(signed_in) => signed_in,
        Err(page) => return page,
    };
    let entity = form
        .entity
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let path = "/admin/v1/role-grants";
    let answer = match change.as_str() {
        "grant" => {
            let body = json!({"user": form.user.trim(), "role": form.role, "entity": entity});
            console
                .admin
                .call(&person.principal, Method::POST, path, Some(body))
                .await
        }
        "revoke" => {
            let query = [
                ("user", form.user.trim()),
                ("role", form.role.as_str()),
                ("entity", entity.unwrap_or_default()),
            ];
            console
                .admin
                .call(&person.principal, Method::DELETE, &uri(path, &query), None)
                .await
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    if !answer.ok() {
        return refused(&console, &visitor, &person, Section::Roles, &answer).await;
    }
    visitor.respond(&console, Redirect::to("/console/roles").into_response())
}
