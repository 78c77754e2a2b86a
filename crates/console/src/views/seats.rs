//! `GET /console/seats`: the group's seat pool and each entity's reserved, assigned, active and
//! reclaimable seats, with a form per entity that sets its reservation
//! (`POST /console/seats/entities/{entity}`), and `POST /console/seats/reclaim`, which takes back idle
//! users' seats now. The admin API decides who may read or change what; the page shows the
//! reclaim button to those the policy set lets reclaim.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use crate::Console;
use crate::pages::{self, Section};
use crate::reach::Reach;
use crate::text::Text;
use crate::views::directory::encode;
use crate::views::overview::seats_table;
use crate::views::{Call, SignedIn, ask, respond, submit};

/// `GET /console/seats`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
) -> Response {
    let path = "/admin/v1/seats/report";
    let answer = match ask(
        &console,
        (&visitor, &person),
        Section::Seats,
        Method::GET,
        path,
    )
    .await
    {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    let reach = Reach::of(&console, &person).await;
    let t = |text: Text| text.in_(visitor.lang);
    let editor = reach.may("seat.reservation.set").then_some(&visitor);
    let main = html! {
        (seats_table(visitor.lang, &answer, editor))
        @if reach.may_group_wide("seat.reclaim") {
            form #reclaim method="post" action="/console/seats/reclaim" {
                (pages::csrf(&visitor))
                p.muted { (t(Text::ReclaimHint)) }
                button type="submit" { (t(Text::ReclaimNow)) }
            }
        }
    };
    respond(
        &console,
        &visitor,
        &person,
        Section::Seats,
        StatusCode::OK,
        main,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct Reservation {
    csrf: Option<String>,
    reserved: u64,
}

/// `POST /console/seats/entities/{entity}`: sets the entity's reserved seats.
pub(crate) async fn reserve(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(entity): Path<String>,
    Form(form): Form<Reservation>,
) -> Response {
    let path = format!("/admin/v1/seats/entities/{}", encode(&entity));
    let body = json!({ "reserved": form.reserved });
    let change = Call::new(Method::PUT, path, Some(body));
    submit(
        &console,
        &headers,
        form.csrf.as_deref(),
        Section::Seats,
        change,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct Reclaim {
    csrf: Option<String>,
}

/// `POST /console/seats/reclaim`: takes back idle users' seats now.
pub(crate) async fn reclaim(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<Reclaim>,
) -> Response {
    let change = Call::new(Method::POST, "/admin/v1/seats/reclaim", None);
    submit(
        &console,
        &headers,
        form.csrf.as_deref(),
        Section::Seats,
        change,
    )
    .await
}
