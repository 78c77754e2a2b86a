//! `GET /console`: seats per entity, usage over the last 30 days by entity, team, model or use
//! case as a chart drawn on the server, and this month's chargeback with its CSV
//! (`GET /console/chargeback.csv`). Each part is one admin API call; a part the person's roles
//! do not reach says so and the others still show. The calls' audit events are handed to the
//! audit channel together before the page is shown (`AdminApi::record`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use access::PageReads;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use browser::{Lang, Visitor};
use http::{HeaderValue, Method, StatusCode, header};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use serde_json::Value;

use crate::Console;
use crate::admin_api::{Answer, uri};
use crate::chart::{self, MAX_SERIES, Series};
use crate::pages::{self, Section, number};
use crate::text::Text;
use crate::views::directory::encode;
use crate::views::{SignedIn, respond};

const DAY_MILLIS: i64 = 86_400_000;

/// What the usage chart groups by: a closed set, as the admin API's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Entity,
    Team,
    Model,
    UseCase,
}

impl By {
    const ALL: [By; 4] = [By::Entity, By::Team, By::Model, By::UseCase];

    fn dimension(self) -> &'static str {
        match self {
            By::Entity => "entity",
            By::Team => "team",
            By::Model => "model",
            By::UseCase => "use_case",
        }
    }

    fn text(self) -> Text {
        match self {
            By::Entity => Text::Entity,
            By::Team => Text::Team,
            By::Model => Text::Model,
            By::UseCase => Text::UseCase,
        }
    }
}

/// What the chart draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    Requests,
    Tokens,
    Cost,
    Errors,
}

impl Measure {
    const ALL: [Measure; 4] = [
        Measure::Requests,
        Measure::Tokens,
        Measure::Cost,
        Measure::Errors,
    ];

    fn name(self) -> &'static str {
        match self {
            Measure::Requests => "requests",
            Measure::Tokens => "tokens",
            Measure::Cost => "cost",
            Measure::Errors => "errors",
        }
    }

    fn text(self) -> Text {
        match self {
            Measure::Requests => Text::Requests,
            Measure::Tokens => Text::Tokens,
            Measure::Cost => Text::Cost,
            Measure::Errors => Text::Errors,
        }
    }

    /// The measure of one row of the usage report (cost in currency units).
    fn of(self, row: &Value) -> f64 {
        let int = |name: &str| row[name].as_u64().unwrap_or(0) as f64;
        match self {
            Measure::Requests => int("requests"),
            Measure::Tokens => int("input_tokens") + int("output_tokens"),
            Measure::Cost => int("cost_micros") / 1_000_000.0,
            Measure::Errors => int("errors"),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct OverviewQuery {
    by: Option<String>,
    measure: Option<String>,
}

/// `GET /console`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
    Query(query): Query<OverviewQuery>,
) -> Response {
    let by = By::ALL
        .into_iter()
        .find(|b| Some(b.dimension()) == query.by.as_deref())
        .unwrap_or(By::Entity);
    let measure = Measure::ALL
        .into_iter()
        .find(|m| Some(m.name()) == query.measure.as_deref())
        .unwrap_or(Measure::Requests);
    let lang = visitor.lang;
    let now = domain::now_millis();
    let month = console
        .zone
        .month_of(now)
        .map(|m| m.to_string())
        .unwrap_or_default();
    // The page's reads are audited together, once all are made.
    let reads = Arc::new(PageReads::default());
    let get = |path: String| {
        let (principal, reads) = (&person.principal, &reads);
        let admin = &console.admin;
        async move { admin.read(principal, reads, &path).await }
    };
    let seats = get(uri("/admin/v1/seats/report", &[])).await;
    let from = console.zone.format(now - 30 * DAY_MILLIS);
    let to = console.zone.format(now + 60_000);
    let usage = get(uri(
        "/admin/v1/usage",
        &[
            ("from", &from),
            ("to", &to),
            ("interval", "day"),
            ("group_by", by.dimension()),
            ("limit", "10000"),
        ],
    ))
    .await;
    let chargeback = get(uri("/admin/v1/reports/chargeback", &[("month", &month)])).await;
    let range = [("from", from.as_str()), ("to", to.as_str())];
    let latency = get(uri("/admin/v1/usage/latency", &range)).await;
    if console.admin.record(&reads).await.is_err() {
        return crate::views::unrecorded(&console, &visitor, &person, Section::Overview).await;
    }
    let main = html! {
        section aria-labelledby="seats-title" {
            h2 #seats-title { (Text::Seats.in_(lang)) }
            (seats_table(lang, &seats, None))
        }
        section aria-labelledby="usage-title" {
            h2 #usage-title { (Text::Usage30Days.in_(lang)) }
            (usage_form(lang, by, measure))
            (usage_chart(lang, &usage, by, measure))
        }
        section aria-labelledby="latency-title" {
            h2 #latency-title { (Text::LatencyByModel.in_(lang)) }
            (latency_table(lang, &latency))
        }
        section aria-labelledby="chargeback-title" {
            h2 #chargeback-title { (Text::Chargeback.in_(lang)) " (" (month) ")" }
            (chargeback_table(lang, &chargeback, &month))
        }
    };
    respond(
        &console,
        &visitor,
        &person,
        Section::Overview,
        StatusCode::OK,
        main,
    )
    .await
}

/// The seats per entity (and the group's pool, for those who see it); with `editor`, each row
/// ends with a form that sets the entity's reservation, for the seats page.
pub(crate) fn seats_table(lang: Lang, seats: &Answer, editor: Option<&Visitor>) -> Markup {
    if !seats.ok() {
        return pages::problem(lang, seats);
    }
    let t = |text: Text| text.in_(lang);
    let columns = [
        ("reserved", Text::Reserved),
        ("assigned", Text::Assigned),
        ("active_7_days", Text::Active7),
        ("active_30_days", Text::Active30),
        ("reclaimable", Text::Reclaimable),
    ];
    let group = &seats.body["group"];
    html! {
        @if !group.is_null() {
            ul.figures {
                li { (t(Text::Pool)) strong { (pool_size(&group["size"])) } }
                li { (t(Text::Assigned)) strong { (number(&group["assigned"])) } }
                li { (t(Text::Reserved)) strong { (number(&group["reserved"])) } }
            }
        }
        table {
            thead { tr {
                th scope="col" { (t(Text::Entity)) }
                @for (_, text) in columns { th.number scope="col" { (t(text)) } }
                @if editor.is_some() { th scope="col" { (t(Text::Reserve)) } }
            } }
            tbody {
                @for row in seats.rows() {
                    tr {
                        th scope="row" { (pages::cell(&row["entity"])) }
                        @for (field, _) in columns { td.number { (number(&row[field])) } }
                        @if let Some(visitor) = editor { td { (reservation_form(visitor, row)) } }
                    }
                }
            }
        }
    }
}

/// The form that sets an entity's reserved seats.
fn reservation_form(visitor: &Visitor, row: &Value) -> Markup {
    let t = |text: Text| text.in_(visitor.lang);
    let entity = pages::cell(&row["entity"]);
    html! {
        form.inline method="post" action=(format!("/console/seats/entities/{}", encode(&entity))) {
            (pages::csrf(visitor))
            label {
                span.visually-hidden { (t(Text::Reserved)) " — " (entity) }
                input type="number" name="reserved" min="0" required value=(pages::cell(&row["reserved"]));
            }
            button type="submit" aria-label=(format!("{} — {entity}", t(Text::Reserve))) { (t(Text::Reserve)) }
        }
    }
}

/// The pool's size: a number, or unlimited (`null`).
fn pool_size(size: &Value) -> String {
    match size {
        Value::Null => "∞".to_owned(),
        other => number(other),
    }
}

/// The chart's choices: what to group by and what to draw, a form sent with GET.
fn usage_form(lang: Lang, by: By, measure: Measure) -> Markup {
    let t = |text: Text| text.in_(lang);
    html! {
        form.filters method="get" action="/console" {
            label {
                (t(Text::By))
                select name="by" {
                    @for option in By::ALL {
                        option value=(option.dimension()) selected[option == by] { (t(option.text())) }
                    }
                }
            }
            label {
                (t(Text::Measure))
                select name="measure" {
                    @for option in Measure::ALL {
                        option value=(option.name()) selected[option == measure] { (t(option.text())) }
                    }
                }
            }
            button type="submit" { (t(Text::Show)) }
        }
    }
}

/// The usage per day as lines, one per group (the [`MAX_SERIES`] largest).
fn usage_chart(lang: Lang, usage: &Answer, by: By, measure: Measure) -> Markup {
    if !usage.ok() {
        return pages::problem(lang, usage);
    }
    let rows = usage.rows();
    let buckets: Vec<String> = rows
        .iter()
        .filter_map(|row| row["bucket"].as_str())
        .map(str::to_owned)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if buckets.is_empty() {
        return html! { p.muted { (Text::NoUsage.in_(lang)) } };
    }
    let mut groups: BTreeMap<String, BTreeMap<usize, f64>> = BTreeMap::new();
    for row in rows {
        let name = match &row[by.dimension()] {
            Value::Null => "—".to_owned(),
            other => pages::cell(other),
        };
        let Some(index) = row["bucket"]
            .as_str()
            .and_then(|b| buckets.iter().position(|x| x == b))
        else {
            continue;
        };
        *groups.entry(name).or_default().entry(index).or_default() += measure.of(row);
    }
    let mut series: Vec<Series> = groups
        .into_iter()
        .map(|(name, values)| Series { name, values })
        .collect();
    series.sort_by(|a, b| {
        let total = |s: &Series| s.values.values().sum::<f64>();
        total(b).total_cmp(&total(a))
    });
    series.truncate(MAX_SERIES);
    let label = format!(
        "{} — {} / {}",
        Text::ChartLabel.in_(lang),
        measure.text().in_(lang),
        by.text().in_(lang)
    );
    match chart::lines(&buckets, &series, &label) {
        Some(svg) => html! {
            figure.chart #usage-chart {
                (PreEscaped(svg))
                figcaption.muted { (label) }
            }
        },
        None => html! { p.error { (Text::Failed.in_(lang)) } },
    }
}

/// Per model: requests, the p50 and p99 of their duration, and the errors counted (all read
/// by one statement).
fn latency_table(lang: Lang, latency: &Answer) -> Markup {
    if !latency.ok() {
        return pages::problem(lang, latency);
    }
    let t = |text: Text| text.in_(lang);
    let millis = |value: &Value| match value.as_u64() {
        Some(_) => format!("{} ms", number(value)),
        None => String::new(),
    };
    html! {
        @if latency.rows().is_empty() {
            p.muted { (t(Text::NoUsage)) }
        } @else {
            table #latency {
                (pages::figures_head(lang, Text::Model, &[Text::Requests, Text::LatencyP50, Text::LatencyP99, Text::Errors]))
                tbody {
                    @for row in latency.rows() {
                        @let model = pages::cell(&row["model"]);
                        tr {
                            th scope="row" { (model) }
                            td.number { (number(&row["requests"])) }
                            td.number { (millis(&row["duration_ms"]["p50"])) }
                            td.number { (millis(&row["duration_ms"]["p99"])) }
                            td.number { (number(&row["errors"])) }
                        }
                    }
                }
            }
        }
    }
}

fn chargeback_table(lang: Lang, chargeback: &Answer, month: &str) -> Markup {
    if !chargeback.ok() {
        return pages::problem(lang, chargeback);
    }
    let t = |text: Text| text.in_(lang);
    let entities = chargeback.body["entities"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    html! {
        table {
            (pages::figures_head(lang, Text::Entity, &[Text::Requests, Text::Tokens, Text::Cost, Text::ShareOfPool]))
            tbody {
                @for entity in entities {
                    tr {
                        th scope="row" { (pages::cell(&entity["entity"])) }
                        td.number { (number(&entity["requests"])) }
                        td.number {
                            (number(&Value::from(
                                entity["input_tokens"].as_u64().unwrap_or(0)
                                    + entity["output_tokens"].as_u64().unwrap_or(0),
                            )))
                        }
                        td.number { (pages::cell(&entity["cost"])) }
                        td.number { (pages::cell(&entity["share_of_pool"])) }
                    }
                }
            }
        }
        a.button href=(uri("/console/chargeback.csv", &[("month", month)])) download {
            (t(Text::DownloadCsv))
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct MonthQuery {
    month: Option<String>,
}

/// `GET /console/chargeback.csv?month=YYYY-MM`: the admin API's CSV, as it answered it.
pub(crate) async fn chargeback_csv(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
    Query(query): Query<MonthQuery>,
) -> Response {
    let month = query.month.unwrap_or_default();
    let path = uri(
        "/admin/v1/reports/chargeback",
        &[("month", &month), ("format", "csv")],
    );
    let answer = console
        .admin
        .raw(&person.principal, Method::GET, &path, None)
        .await;
    let response = match answer {
        Ok((status, _, bytes)) if status.is_success() => {
            let disposition = format!("attachment; filename=\"chargeback-{month}.csv\"");
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(value) = HeaderValue::try_from(disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Ok((status, _, bytes)) => {
            let answer = Answer {
                status,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            return crate::views::refused(&console, &visitor, &person, Section::Overview, &answer)
                .await;
        }
        Err(status) => status.into_response(),
    };
    visitor.respond(&console, response)
}
