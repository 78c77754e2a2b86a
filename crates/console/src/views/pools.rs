//! `GET /console/pools`: each GPU pool — its endpoints' health (circuit closed, probing or open),
//! requests in flight, capacity and weight; when the scheduler shares it, its capacity, the
//! sequences running and waiting — and each entity's weight, guaranteed minimum share, running
//! and waiting requests and tokens served, as they are now. Group administrators (those the policy set lets set
//! shares) get a form per entity that changes its weight and minimum share
//! (`POST /console/pools/{pool}/shares/{entity}`), in force from the scheduler's next decision
//! and audited by the admin API; nobody else sees the form.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use browser::{Lang, Visitor};
use http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Console;
use crate::admin_api::Answer;
use crate::pages::{self, Section, cell, number};
use crate::reach::Reach;
use crate::text::Text;
use crate::views::directory::encode;
use crate::views::{Call, SignedIn, ask, respond, submit};

/// `GET /console/pools`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
) -> Response {
    let get = |path: String| {
        let principal = Arc::clone(&person.principal);
        let admin = &console.admin;
        async move { admin.call(&principal, Method::GET, &path, None).await }
    };
    let path = "/admin/v1/pools";
    let pools = match ask(
        &console,
        (&visitor, &person),
        Section::Pools,
        Method::GET,
        path,
    )
    .await
    {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    let entities = get("/admin/v1/entities".to_owned()).await;
    let slugs: HashMap<String, String> = entities
        .rows()
        .iter()
        .map(|e| (cell(&e["id"]), cell(&e["slug"])))
        .collect();
    let editor = Reach::of(&console, &person)
        .await
        .may_group_wide("pool_share.set")
        .then_some(&visitor);
    let mut sections = Vec::new();
    for pool in pools.rows() {
        let name = cell(&pool["pool"]);
        let shares = match pool["scheduled"] == true {
            true => Some(get(format!("/admin/v1/pools/{}/shares", encode(&name))).await),
            false => None,
        };
        let shares = shares.as_ref().map(|shares| (shares, &slugs, editor));
        sections.push(pool_section(visitor.lang, pool, shares));
    }
    let main = html! {
        @if sections.is_empty() { p.muted { (Text::NoPools.in_(visitor.lang)) } }
        @for section in sections { (section) }
    };
    respond(
        &console,
        &visitor,
        &person,
        Section::Pools,
        StatusCode::OK,
        main,
    )
    .await
}

/// An entity's share, with the entities' slugs by id and, for those who may, the form that changes it.
type Shares<'a> = (&'a Answer, &'a HashMap<String, String>, Option<&'a Visitor>);

/// One pool: its endpoints' health and load, then, when the scheduler shares it, its live figures
/// and its entities' shares and what they were served.
fn pool_section(lang: Lang, pool: &Value, shares: Option<Shares<'_>>) -> Markup {
    let t = |text: Text| text.in_(lang);
    let name = cell(&pool["pool"]);
    let id = format!("pool-{name}");
    html! {
        section.pool aria-labelledby=(id) {
            h2 #(id) { (t(Text::GpuPool)) " " code { (name) } }
            (endpoints_table(lang, &name, pool))
            @match shares {
                Some(shares) => { (shares_part(lang, &name, shares)) }
                None => { p.muted { (t(Text::NotScheduled)) } }
            }
        }
    }
}

/// Each endpoint of the pool: its circuit, requests in flight, capacity and weight.
fn endpoints_table(lang: Lang, name: &str, pool: &Value) -> Markup {
    let t = |text: Text| text.in_(lang);
    let endpoints = pool["endpoints"].as_array().map_or(&[][..], Vec::as_slice);
    html! {
        table.endpoints aria-label=(format!("{} — {name}", t(Text::Endpoints))) {
            thead { tr {
                th scope="col" { (t(Text::Endpoint)) }
                th scope="col" { (t(Text::Health)) }
                th.number scope="col" { (t(Text::Running)) }
                th.number scope="col" { (t(Text::Capacity)) }
                th.number scope="col" { (t(Text::Weight)) }
            } }
            tbody {
                @for endpoint in endpoints {
                    @let state = endpoint["state"].as_str().unwrap_or_default();
                    tr {
                        th scope="row" { (cell(&endpoint["name"])) }
                        td { span class=(format!("circuit {state}")) { (t(circuit_text(state))) } }
                        td.number { (number(&endpoint["outstanding"])) }
                        td.number { (number(&endpoint["capacity"])) }
                        td.number { (number(&endpoint["weight"])) }
                    }
                }
            }
        }
    }
}

/// A circuit's state in the person's words.
fn circuit_text(state: &str) -> Text {
    match state {
        "closed" => Text::CircuitClosed,
        "half_open" => Text::CircuitHalfOpen,
        _ => Text::CircuitOpen,
    }
}

/// The scheduled pool's live figures and its entities' shares.
fn shares_part(lang: Lang, name: &str, (shares, slugs, editor): Shares<'_>) -> Markup {
    let t = |text: Text| text.in_(lang);
    if !shares.ok() {
        return pages::problem(lang, shares);
    }
    let body = &shares.body;
    let columns = [
        ("weight", Text::Weight),
        ("min_share", Text::MinShare),
        ("in_flight", Text::Running),
        ("queued", Text::Waiting),
        ("served_input_tokens", Text::InputTokens),
        ("served_output_tokens", Text::OutputTokens),
    ];
    html! {
        ul.figures {
            li { (t(Text::Capacity)) strong { (number(&body["capacity"])) } }
            li { (t(Text::Running)) strong { (number(&body["in_flight"])) } }
            li { (t(Text::Waiting)) strong { (number(&body["queued"])) } }
        }
        table {
            thead { tr {
                th scope="col" { (t(Text::Entity)) }
                @for (_, text) in columns { th.number scope="col" { (t(text)) } }
                @if editor.is_some() { th scope="col" { (t(Text::ChangeShare)) } }
            } }
            tbody {
                @for row in shares.rows() {
                    @let id = cell(&row["entity_id"]);
                    @let entity = slugs.get(&id).cloned().unwrap_or(id);
                    tr {
                        th scope="row" { (entity) }
                        @for (field, _) in columns { td.number { (number(&row[field])) } }
                        @if let Some(visitor) = editor { td { (share_form(visitor, name, &entity, row)) } }
                    }
                }
            }
        }
    }
}

/// The form that sets an entity's weight and minimum share in a pool.
fn share_form(visitor: &Visitor, pool: &str, entity: &str, row: &Value) -> Markup {
    let t = |text: Text| text.in_(visitor.lang);
    let action = format!("/console/pools/{}/shares/{}", encode(pool), encode(entity));
    html! {
        form.inline.share method="post" action=(action) {
            (pages::csrf(visitor))
            label {
                (t(Text::Weight))
                span.visually-hidden { " — " (entity) }
                input type="number" name="weight" min="1" required value=(cell(&row["weight"]));
            }
            label {
                (t(Text::MinShare))
                span.visually-hidden { " — " (entity) }
                input type="number" name="min_share" min="0" max="1" step="0.01" value=(cell(&row["min_share"]));
            }
            button type="submit" aria-label=(format!("{} — {entity}", t(Text::Save))) { (t(Text::Save)) }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ShareForm {
    csrf: Option<String>,
    weight: u32,
    min_share: Option<f64>,
}

/// `POST /console/pools/{pool}/shares/{entity}`.
pub(crate) async fn set_share(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path((pool, entity)): Path<(String, String)>,
    Form(form): Form<ShareForm>,
) -> Response {
    let path = format!(
        "/admin/v1/pools/{}/shares/{}",
        encode(&pool),
        encode(&entity)
    );
    let body = json!({"weight": form.weight, "min_share": form.min_share.unwrap_or(0.0)});
    let call = Call::new(Method::PUT, path, Some(body));
    submit(
        &console,
        &headers,
        form.csrf.as_deref(),
        Section::Pools,
        call,
    )
    .await
}
