//! `GET /console/teams`: the teams the group's directory provisioned, with their entity and
//! number of members, as the admin API lets the person read them (their entity's only, for an
//! entity administrator). Teams are changed by the directory (SCIM), not here.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::{Method, StatusCode};
use maud::html;

use crate::Console;
use crate::pages::{self, Section, cell, number};
use crate::text::Text;
use crate::views::{SignedIn, ask, respond};

/// `GET /console/teams`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
) -> Response {
    let path = "/admin/v1/teams?limit=1000";
    let answer = match ask(
        &console,
        (&visitor, &person),
        Section::Teams,
        Method::GET,
        path,
    )
    .await
    {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    let t = |text: Text| text.in_(visitor.lang);
    let main = html! {
        @if answer.rows().is_empty() {
            p.muted { (t(Text::Nothing)) }
        } @else {
            table #teams {
                thead { tr {
                    th scope="col" { (t(Text::Team)) }
                    th scope="col" { (t(Text::Entity)) }
                    th.number scope="col" { (t(Text::Members)) }
                    th scope="col" { (t(Text::Created)) }
                } }
                tbody {
                    @for team in answer.rows() {
                        tr {
                            th scope="row" { (cell(&team["display_name"])) }
                            td { (cell(&team["entity"])) }
                            td.number { (number(&team["members"])) }
                            td { (pages::time(&console.zone, &team["created_at"])) }
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
        Section::Teams,
        StatusCode::OK,
        main,
    )
    .await
}
