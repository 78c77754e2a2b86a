//! `GET /console/audit`: the audit trail the person may read, filtered by entity, actor, action
//! (or family), outcome and time, newest first, a page at a time; `GET /console/audit/export`:
//! the same selection (up to 10,000 events) as JSON Lines, each event with its chain hashes, for
//! an auditor to keep and check; `POST /console/audit/verify`: the chain verified from the page
//! (group-wide readers, who see the button).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use maud::html;
use serde::Deserialize;

use crate::Console;
use crate::admin_api::uri;
use crate::pages::{self, Section, cell, number};
use crate::reach::Reach;
use crate::text::Text;
use crate::views::{SignedIn, ask, posted, respond};

const PAGE: &str = "50";
const EXPORT: &str = "10000";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditQuery {
    entity: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
}

impl AuditQuery {
    /// The filters, as the admin API's query (the page's own and the export's alike).
    fn filters(&self) -> Vec<(&'static str, &str)> {
        [
            ("entity", &self.entity),
            ("actor", &self.actor),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .map(|(name, value)| (name, value.as_deref().map_or("", str::trim)))
        .collect()
    }
}

/// `GET /console/audit`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
    Query(query): Query<AuditQuery>,
) -> Response {
    let filters = query.filters();
    let mut api = filters.clone();
    api.push(("limit", PAGE));
    api.push(("before", query.before.as_deref().unwrap_or_default()));
    let path = uri("/admin/v1/audit", &api);
    let answer = match ask(
        &console,
        (&visitor, &person),
        Section::Audit,
        Method::GET,
        &path,
    )
    .await
    {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    let t = |text: Text| text.in_(visitor.lang);
    let value = |name: &str| {
        filters
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| *v)
            .to_owned()
    };
    let next = answer.body["next_before"].as_u64().map(|n| n.to_string());
    // The chain is verified whole, so by those who read it whole.
    let verifies = Reach::of(&console, &person)
        .await
        .may_group_wide("audit.read");
    let main = html! {
        form.filters method="get" action="/console/audit" {
            @for (name, text) in [("entity", Text::Entity), ("actor", Text::Actor), ("action", Text::Action)] {
                label { (t(text)) input type="text" name=(name) value=(value(name)); }
            }
            label {
                (t(Text::Outcome))
                select name="outcome" {
                    option value="" { "—" }
                    @for outcome in ["success", "denied", "failure"] {
                        option value=(outcome) selected[value("outcome") == outcome] { (outcome) }
                    }
                }
            }
            label { (t(Text::From)) input type="date" name="from" value=(value("from")); }
            label { (t(Text::To)) input type="date" name="to" value=(value("to")); }
            button type="submit" { (t(Text::Filter)) }
        }
        p { a href=(uri("/console/audit/export", &filters)) download { (t(Text::Export)) } }
        @if verifies {
            form #verify method="post" action="/console/audit/verify" {
                (pages::csrf(&visitor))
                button type="submit" { (t(Text::VerifyChain)) }
            }
        }
        @if answer.rows().is_empty() {
            p.muted { (t(Text::Nothing)) }
        } @else {
            table #audit {
                thead { tr {
                    th.number scope="col" { "#" }
                    th scope="col" { (t(Text::When)) }
                    th scope="col" { (t(Text::Actor)) }
                    th scope="col" { (t(Text::Action)) }
                    th scope="col" { (t(Text::Target)) }
                    th scope="col" { (t(Text::Outcome)) }
                } }
                tbody {
                    @for event in answer.rows() {
                        tr {
                            th.number scope="row" { (cell(&event["seq"])) }
                            td { (pages::time(&console.zone, &event["at"])) }
                            td { code { (cell(&event["actor"])) } }
                            td { (cell(&event["action"])) }
                            td { code { (cell(&event["target"])) } }
                            td { (cell(&event["outcome"])) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next {
            nav.pager aria-label=(t(Text::Audit)) {
                a rel="next" href=(uri("/console/audit", &[filters.as_slice(), &[("before", next.as_str())]].concat())) {
                    (t(Text::OlderEvents))
                }
            }
        }
    };
    respond(
        &console,
        &visitor,
        &person,
        Section::Audit,
        StatusCode::OK,
        main,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct Verify {
    csrf: Option<String>,
}

/// `POST /console/audit/verify`: the whole chain and its signed checkpoints verified by the admin
/// API as `fabrique audit verify` does; the page says whether it holds, and every problem found.
pub(crate) async fn verify(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<Verify>,
) -> Response {
    let (visitor, person) = match posted(&console, &headers, form.csrf.as_deref()).await {
        Ok(signed_in) => signed_in,
        Err(page) => return page,
    };
    let path = "/admin/v1/audit/verify";
    let answer = match ask(
        &console,
        (&visitor, &person),
        Section::Audit,
        Method::POST,
        path,
    )
    .await
    {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    let t = |text: Text| text.in_(visitor.lang);
    let body = &answer.body;
    let problems = body["problems"].as_array().map_or(&[][..], Vec::as_slice);
    let main = html! {
        section #verification aria-labelledby="verification-title" {
            h2 #verification-title { (t(Text::Verification)) }
            @if body["verified"].as_bool() == Some(true) {
                p.ok role="status" { (t(Text::ChainVerified)) }
            } @else {
                p.error role="alert" { (t(Text::ChainBroken)) }
                ul { @for problem in problems { li { (cell(problem)) } } }
            }
            ul.figures {
                li { (t(Text::EventsChecked)) strong { (number(&body["events"])) } }
                li { (t(Text::CheckpointsSigned)) strong { (number(&body["checkpoints_signed"])) } }
                li { (t(Text::Unanchored)) strong { (number(&body["unanchored_events"])) } }
            }
            p { a href="/console/audit" { (t(Text::BackToAudit)) } }
        }
    };
    respond(
        &console,
        &visitor,
        &person,
        Section::Audit,
        StatusCode::OK,
        main,
    )
    .await
}

/// `GET /console/audit/export`: the selection as JSON Lines, one event a line.
pub(crate) async fn export(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
    Query(query): Query<AuditQuery>,
) -> Response {
    let mut api = query.filters();
    api.push(("limit", EXPORT));
    let path = uri("/admin/v1/audit", &api);
    let answer = match ask(
        &console,
        (&visitor, &person),
        Section::Audit,
        Method::GET,
        &path,
    )
    .await
    {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    let mut lines = String::new();
    for event in answer.rows() {
        lines.push_str(&event.to_string());
        lines.push('\n');
    }
    let mut response = lines.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jsonl; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit.jsonl\""),
    );
    visitor.respond(&console, response)
}
