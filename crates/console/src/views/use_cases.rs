//! The AI Factory's pages. `GET /console/use-cases`: the use cases the person may read — status,
//! risk class, owners, the versions deployed and their weights. `GET /console/use-cases/{slug}`:
//! one use case — its versions, the diff between two of them (`?from=&to=`), its transitions with
//! their reasons (read from the audit chain), its evaluation runs with their scores, and each
//! version's usage and feedback side by side, and the documents attached to it
//! (`use_case_documents`). The lifecycle moves a version may make and the
//! person's roles allow are forms on that page (`POST /console/use-cases/{slug}/versions/{n}`),
//! and so is starting an evaluation (`POST /console/use-cases/{slug}/evaluations`): each is the
//! admin API's own route, called as the person, so Cedar decides and the API audits.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use browser::{Lang, Visitor};
use http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Console;
use crate::admin_api::{Answer, uri};
use crate::pages::{self, Section, cell, number};
use crate::reach::Reach;
use crate::text::Text;
use crate::views::directory::encode;
use crate::views::{Call, SignedIn, ask, respond, submit_then, use_case_documents};

/// `GET /console/use-cases`.
pub(crate) async fn list(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
) -> Response {
    let path = "/admin/v1/use-cases";
    let section = Section::UseCases;
    let answer = match ask(&console, (&visitor, &person), section, Method::GET, path).await {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    let lang = visitor.lang;
    let t = |text: Text| text.in_(lang);
    let main = html! {
        @if answer.rows().is_empty() {
            p.muted { (t(Text::Nothing)) }
        } @else {
            table #use-cases {
                thead { tr {
                    th scope="col" { (t(Text::UseCase)) }
                    th scope="col" { (t(Text::Status)) }
                    th scope="col" { (t(Text::RiskClass)) }
                    th scope="col" { (t(Text::Entity)) }
                    th scope="col" { (t(Text::Owners)) }
                    th scope="col" { (t(Text::Deployed)) }
                } }
                tbody {
                    @for row in answer.rows() {
                        @let slug = cell(&row["slug"]);
                        tr {
                            th scope="row" {
                                a href=(format!("/console/use-cases/{}", encode(&slug))) { (cell(&row["name"])) }
                                " " code { (slug) }
                            }
                            td { (state(lang, &row["status"])) }
                            td { (risk(lang, &row["risk"])) }
                            td { (owner(lang, &row["owner_entity"])) }
                            td { (list_of(&row["owners"])) }
                            td { (deployed(&row["versions"])) }
                        }
                    }
                }
            }
        }
    };
    respond(&console, &visitor, &person, section, StatusCode::OK, main).await
}

/// `?from=&to=`: the two versions compared.
#[derive(Debug, Deserialize)]
pub(crate) struct Compared {
    from: Option<u32>,
    to: Option<u32>,
}

/// `GET /console/use-cases/{slug}`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
    Path(slug): Path<String>,
    Query(compared): Query<Compared>,
) -> Response {
    let base = format!("/admin/v1/use-cases/{}", encode(&slug));
    let section = Section::UseCases;
    let use_case = match ask(&console, (&visitor, &person), section, Method::GET, &base).await {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    let get = |path: String| {
        let principal = Arc::clone(&person.principal);
        let admin = &console.admin;
        async move { admin.call(&principal, Method::GET, &path, None).await }
    };
    let transitions = get(format!("{base}/transitions")).await;
    let runs = get(format!("{base}/evaluations")).await;
    let stats = get(format!("{base}/stats")).await;
    let documents = get(format!("{base}/documents")).await;
    let diff = match compared {
        Compared {
            from: Some(from),
            to: Some(to),
        } => {
            let path = uri(
                &format!("{base}/versions/{to}/diff"),
                &[("from", &from.to_string())],
            );
            Some(get(path).await)
        }
        _ => None,
    };
    let reach = Reach::of(&console, &person).await;
    let uc = &use_case.body;
    let lang = visitor.lang;
    let t = |text: Text| text.in_(lang);
    let main = html! {
        p { (cell(&uc["name"])) " " code { (slug) } }
        p.muted { (cell(&uc["purpose"])) }
        (facts(lang, uc))
        (use_case_documents::section(&console, &visitor, &reach, &slug, &documents))
        section aria-labelledby="versions-title" {
            h2 #versions-title { (t(Text::Versions)) }
            (versions(&visitor, &reach, &slug, uc, &runs))
            (diff_form(lang, uc))
            @if let Some(diff) = &diff { (diff_view(lang, diff)) }
        }
        @if reach.may("eval.run") { (evaluation_form(&visitor, &slug, uc)) }
        section aria-labelledby="runs-title" {
            h2 #runs-title { (t(Text::EvaluationRuns)) }
            (runs_table(&console, lang, &runs))
        }
        section aria-labelledby="stats-title" {
            h2 #stats-title { (t(Text::UsageByVersion)) }
            (stats_table(lang, &stats))
        }
        section aria-labelledby="transitions-title" {
            h2 #transitions-title { (t(Text::Transitions)) }
            (transitions_table(&console, lang, &transitions))
        }
    };
    respond(&console, &visitor, &person, section, StatusCode::OK, main).await
}

/// The use case's description: owning entity, owners, who may call it, classification, risk,
/// impact assessment.
fn facts(lang: Lang, uc: &Value) -> Markup {
    let t = |text: Text| text.in_(lang);
    let allowed = match &uc["allowed_entities"] {
        Value::String(all) => all.clone(),
        other => list_of(other),
    };
    html! {
        dl.facts {
            dt { (t(Text::Status)) } dd { (state(lang, &uc["status"])) }
            dt { (t(Text::RiskClass)) } dd { (risk(lang, &uc["risk"])) }
            dt { (t(Text::Entity)) } dd { (owner(lang, &uc["owner_entity"])) }
            dt { (t(Text::Owners)) } dd { (list_of(&uc["owners"])) }
            dt { (t(Text::AllowedEntities)) } dd { (allowed) }
            dt { (t(Text::Classification)) } dd { (cell(&uc["classification"])) }
            dt { (t(Text::ImpactAssessment)) } dd {
                (cell(&uc["impact"]))
                @for document in uc["impact_documents"].as_array().into_iter().flatten() {
                    " · " (cell(document))
                }
            }
        }
    }
}

/// The versions, each with its state, weight, model and the moves the person may make on it.
fn versions(visitor: &Visitor, reach: &Reach, slug: &str, uc: &Value, runs: &Answer) -> Markup {
    let lang = visitor.lang;
    let t = |text: Text| text.in_(lang);
    let rows = uc["versions"].as_array().map_or(&[][..], Vec::as_slice);
    let risk = uc["risk"]
        .as_str()
        .and_then(factory::RiskClass::parse)
        .unwrap_or(factory::RiskClass::High);
    html! {
        @if rows.is_empty() { p.muted { (t(Text::Nothing)) } }
        @else {
            table #versions {
                thead { tr {
                    th scope="col" { (t(Text::Version)) }
                    th scope="col" { (t(Text::Status)) }
                    th.number scope="col" { (t(Text::Weight)) }
                    th scope="col" { (t(Text::Model)) }
                    th scope="col" { (t(Text::Digest)) }
                    th scope="col" { (t(Text::Moves)) }
                } }
                tbody {
                    @for version in rows {
                        tr {
                            th scope="row" { "v" (cell(&version["number"])) }
                            td { (state(lang, &version["state"])) }
                            td.number { (number(&version["weight"])) }
                            td { code { (cell(&version["spec"]["model"])) } }
                            td { code { (cell(&version["digest"]).get(..12).unwrap_or_default()) } }
                            td { (moves(visitor, reach, slug, risk, version, runs)) }
                        }
                    }
                }
            }
        }
    }
}

/// The forms of the transitions `version` may make from its state, among those the person's
/// roles allow (the admin API decides again on each).
fn moves(
    visitor: &Visitor,
    reach: &Reach,
    slug: &str,
    risk: factory::RiskClass,
    version: &Value,
    runs: &Answer,
) -> Markup {
    let t = |text: Text| text.in_(visitor.lang);
    let Some(from) = version["state"]
        .as_str()
        .and_then(factory::VersionState::parse)
    else {
        return html! {};
    };
    let number = cell(&version["number"]);
    let action = format!("/console/use-cases/{}/versions/{number}", encode(slug));
    let possible = factory::Transition::ALL.into_iter().filter(|transition| {
        transition.target(from, risk, "-").is_ok()
            && reach.may(&format!("use_case.{}", transition.as_str()))
    });
    // An approval names a finished run of this version.
    let finished: Vec<String> = runs
        .rows()
        .iter()
        .filter(|run| cell(&run["version"]) == number && run["status"] == "finished")
        .map(|run| cell(&run["id"]))
        .collect();
    html! {
        @for transition in possible {
            @let name = transition.as_str();
            form.inline.move method="post" action=(action) {
                (pages::csrf(visitor))
                input type="hidden" name="transition" value=(name);
                label { (t(Text::Reason)) input type="text" name="reason" required autocomplete="off"; }
                @if transition == factory::Transition::Approve {
                    label {
                        (t(Text::EvaluationRun))
                        select name="eval_run" required {
                            @for run in &finished { option value=(run) { (run) } }
                        }
                    }
                }
                @if transition == factory::Transition::Deploy {
                    label { (t(Text::Weight)) input type="number" name="weight" min="0" max="1000" value="100"; }
                }
                button type="submit" aria-label=(format!("{} v{number}", t(transition_text(transition)))) {
                    (t(transition_text(transition)))
                }
            }
        }
    }
}

fn transition_text(transition: factory::Transition) -> Text {
    match transition {
        factory::Transition::Submit => Text::Submit,
        factory::Transition::Return => Text::Return,
        factory::Transition::Approve => Text::Approve,
        factory::Transition::Deploy => Text::Deploy,
        factory::Transition::Rollback => Text::Rollback,
        factory::Transition::Retire => Text::Retire,
    }
}

/// The form that picks two versions to compare.
fn diff_form(lang: Lang, uc: &Value) -> Markup {
    let t = |text: Text| text.in_(lang);
    let numbers: Vec<String> = uc["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| cell(&v["number"]))
        .collect();
    if numbers.len() < 2 {
        return html! {};
    }
    let last = numbers.len() - 1;
    html! {
        form.inline #compare method="get" {
            label {
                (t(Text::From))
                select name="from" {
                    @for (i, n) in numbers.iter().enumerate() {
                        option value=(n) selected[i + 1 == last] { "v" (n) }
                    }
                }
            }
            label {
                (t(Text::To))
                select name="to" {
                    @for (i, n) in numbers.iter().enumerate() {
                        option value=(n) selected[i == last] { "v" (n) }
                    }
                }
            }
            button type="submit" { (t(Text::Compare)) }
        }
    }
}

/// What changed between the two versions compared: the template's unified diff, then each other
/// field with its old and new values.
fn diff_view(lang: Lang, answer: &Answer) -> Markup {
    let t = |text: Text| text.in_(lang);
    if !answer.ok() {
        return pages::problem(lang, answer);
    }
    let diff = &answer.body["diff"];
    let template = diff["template"].as_str().unwrap_or_default();
    let fields = diff["fields"].as_array().map_or(&[][..], Vec::as_slice);
    let title = format!(
        "v{} → v{}",
        cell(&answer.body["from"]),
        cell(&answer.body["to"])
    );
    html! {
        section #diff aria-labelledby="diff-title" {
            h3 #diff-title { (t(Text::Differences)) " " (title) }
            @if template.is_empty() && fields.is_empty() { p.muted { (t(Text::NoDifference)) } }
            @if !template.is_empty() { pre.diff { (template) } }
            @if !fields.is_empty() {
                (pages::side_by_side(lang, [Text::Field, Text::Before, Text::After],
                    fields.iter().map(|change| (
                        html! { (cell(&change["field"])) },
                        html! { code { (change["old"].to_string()) } },
                        html! { code { (change["new"].to_string()) } },
                    ))))
            }
        }
    }
}

/// The form that starts an evaluation run of a version on a suite.
fn evaluation_form(visitor: &Visitor, slug: &str, uc: &Value) -> Markup {
    let t = |text: Text| text.in_(visitor.lang);
    let numbers = uc["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["state"] != "retired")
        .map(|v| cell(&v["number"]));
    html! {
        section aria-labelledby="evaluate-title" {
            h2 #evaluate-title { (t(Text::RunEvaluation)) }
            form.inline #evaluate method="post" action=(format!("/console/use-cases/{}/evaluations", encode(slug))) {
                (pages::csrf(visitor))
                label {
                    (t(Text::Version))
                    select name="version" { @for n in numbers { option value=(n) { "v" (n) } } }
                }
                label { (t(Text::Suite)) input type="text" name="suite" value="default" required autocomplete="off"; }
                button type="submit" { (t(Text::Evaluate)) }
            }
        }
    }
}

/// The evaluation runs, newest first: progress, pass rate, scores per grader, cost, latency, and
/// whether each passes the thresholds.
fn runs_table(console: &Console, lang: Lang, runs: &Answer) -> Markup {
    let t = |text: Text| text.in_(lang);
    if !runs.ok() {
        return pages::problem(lang, runs);
    }
    if runs.rows().is_empty() {
        return html! { p.muted { (t(Text::Nothing)) } };
    }
    html! {
        table #runs {
            thead { tr {
                th scope="col" { (t(Text::EvaluationRun)) }
                th scope="col" { (t(Text::Version)) }
                th scope="col" { (t(Text::Suite)) }
                th scope="col" { (t(Text::Status)) }
                th.number scope="col" { (t(Text::PassRate)) }
                th scope="col" { (t(Text::Scores)) }
                th.number scope="col" { (t(Text::Cost)) }
                th.number scope="col" { (t(Text::LatencyP50)) }
                th scope="col" { (t(Text::Thresholds)) }
                th scope="col" { (t(Text::Created)) }
            } }
            tbody {
                @for run in runs.rows() {
                    @let summary = &run["summary"];
                    tr {
                        th scope="row" { code { (cell(&run["id"])) } }
                        td { "v" (cell(&run["version"])) }
                        td { (cell(&run["suite"])) " r" (cell(&run["suite_revision"])) }
                        td { (cell(&run["status"])) " " (cell(&run["done"])) "/" (cell(&run["cases"])) }
                        td.number { (ratio(&summary["pass_rate"])) }
                        td {
                            @for (grader, score) in summary["scores"].as_object().into_iter().flatten() {
                                code { (grader) } " " (ratio(score)) " "
                            }
                        }
                        td.number { (money(&summary["cost_micros"])) }
                        td.number { (number(&summary["latency_p50_ms"])) @if !summary.is_null() { " ms" } }
                        td {
                            @match run["gate"]["passed"].as_bool() {
                                Some(true) => { (t(Text::Passes)) }
                                Some(false) => { (t(Text::FailsThresholds)) " " span.muted { (cell(&run["gate"]["reason"])) } }
                                None => {}
                            }
                        }
                        td { (pages::time(&console.zone, &run["created_at"])) }
                    }
                }
            }
        }
    }
}

/// Each version's usage and feedback over the last 30 days, side by side.
fn stats_table(lang: Lang, stats: &Answer) -> Markup {
    if !stats.ok() {
        return pages::problem(lang, stats);
    }
    let t = |text: Text| text.in_(lang);
    html! {
        table #stats {
            (pages::figures_head(lang, Text::Version, &[
                Text::Weight, Text::Requests, Text::Errors, Text::ErrorRate, Text::PolicyRefusals,
                Text::Cost, Text::MeanDuration, Text::ThumbsUp, Text::ThumbsDown,
            ]))
            tbody {
                @for row in stats.rows() {
                    tr {
                        th scope="row" { "v" (cell(&row["version"])) " " span.muted { (state(lang, &row["state"])) } }
                        td.number { (number(&row["weight"])) }
                        td.number { (number(&row["requests"])) }
                        td.number { (number(&row["errors"])) }
                        td.number { (ratio(&row["error_rate"])) }
                        td.number { (number(&row["policy_refusals"])) }
                        td.number { (money(&row["cost_micros"])) }
                        td.number { (number(&row["mean_duration_ms"])) " ms" }
                        td.number { (number(&row["thumbs_up"])) }
                        td.number { (number(&row["thumbs_down"])) }
                    }
                }
                @if stats.rows().is_empty() { tr { td colspan="10" { (t(Text::Nothing)) } } }
            }
        }
    }
}

/// The transitions, newest first, with who made them and why.
fn transitions_table(console: &Console, lang: Lang, transitions: &Answer) -> Markup {
    let t = |text: Text| text.in_(lang);
    if !transitions.ok() {
        return pages::problem(lang, transitions);
    }
    html! {
        table #transitions {
            thead { tr {
                th scope="col" { (t(Text::When)) }
                th scope="col" { (t(Text::Action)) }
                th scope="col" { (t(Text::Version)) }
                th scope="col" { (t(Text::Status)) }
                th scope="col" { (t(Text::Actor)) }
                th scope="col" { (t(Text::Reason)) }
            } }
            tbody {
                @for row in transitions.rows() {
                    tr {
                        th scope="row" { (pages::time(&console.zone, &row["at"])) }
                        td { (cell(&row["transition"])) }
                        td { @if !row["version"].is_null() { "v" (cell(&row["version"])) } }
                        td {
                            @if !row["from"].is_null() {
                                (state(lang, &row["from"])) " → " (state(lang, &row["to"]))
                            }
                            @if let Some(awaiting) = row["detail"]["awaiting"].as_str() {
                                " (" (awaiting) ")"
                            }
                        }
                        td { code { (cell(&row["actor"])) } }
                        td { (cell(&row["reason"])) }
                    }
                }
                @if transitions.rows().is_empty() { tr { td colspan="6" { (t(Text::Nothing)) } } }
            }
        }
    }
}

/// A version's state in the person's words.
fn state(lang: Lang, value: &Value) -> String {
    use factory::VersionState as S;
    let text = match value.as_str().and_then(S::parse) {
        Some(S::Draft) => Text::StateDraft,
        Some(S::InReview) => Text::StateInReview,
        Some(S::Approved) => Text::StateApproved,
        Some(S::Deployed) => Text::StateDeployed,
        Some(S::Retired) => Text::StateRetired,
        None => return cell(value),
    };
    text.in_(lang).to_owned()
}

/// An AI Act risk class in the person's words.
fn risk(lang: Lang, value: &Value) -> String {
    use factory::RiskClass as R;
    let text = match value.as_str().and_then(R::parse) {
        Some(R::Minimal) => Text::RiskMinimal,
        Some(R::Limited) => Text::RiskLimited,
        Some(R::High) => Text::RiskHigh,
        Some(R::Prohibited) => Text::RiskProhibited,
        None => return cell(value),
    };
    text.in_(lang).to_owned()
}

/// The owning entity, or the group's when there is none.
fn owner(lang: Lang, value: &Value) -> String {
    match value.as_str() {
        Some(slug) => slug.to_owned(),
        None => Text::WholeGroup.in_(lang).to_owned(),
    }
}

/// A JSON list of strings, joined by commas.
fn list_of(value: &Value) -> String {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(cell)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The deployed versions and their weights: `v1 90 · v2 10`.
fn deployed(versions: &Value) -> String {
    versions
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["state"] == "deployed")
        .map(|v| format!("v{} ({})", cell(&v["number"]), cell(&v["weight"])))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A rate from 0 to 1, as a percentage.
fn ratio(value: &Value) -> String {
    value
        .as_f64()
        .map(|x| format!("{:.1} %", x * 100.0))
        .unwrap_or_default()
}

/// Micro-units of the group's currency, to four decimals.
fn money(value: &Value) -> String {
    value
        .as_u64()
        .map(|micros| format!("{:.4}", micros as f64 / 1_000_000.0))
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
pub(crate) struct MoveForm {
    csrf: Option<String>,
    transition: String,
    reason: String,
    eval_run: Option<String>,
    weight: Option<String>,
}

/// `POST /console/use-cases/{slug}/versions/{n}`: one lifecycle move, with its reason.
pub(crate) async fn transition(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path((slug, number)): Path<(String, u32)>,
    Form(form): Form<MoveForm>,
) -> Response {
    let mut body = json!({"transition": form.transition, "reason": form.reason.trim()});
    if let Some(run) = form.eval_run.as_deref().filter(|r| !r.is_empty()) {
        body["eval_run"] = json!(run);
    }
    if let Some(weight) = form.weight.as_deref().filter(|w| !w.is_empty()) {
        // A weight that is not a number goes as written: the API's 400 says why.
        body["weight"] = weight
            .parse::<u32>()
            .map_or_else(|_| json!(weight), |w| json!(w));
    }
    let page = format!("/console/use-cases/{}", encode(&slug));
    let path = format!(
        "/admin/v1/use-cases/{}/versions/{number}/transitions",
        encode(&slug)
    );
    let call = Call::new(Method::POST, path, Some(body));
    submit_then(
        &console,
        &headers,
        form.csrf.as_deref(),
        Section::UseCases,
        call,
        &page,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct EvaluationForm {
    csrf: Option<String>,
    version: String,
    suite: String,
}

/// `POST /console/use-cases/{slug}/evaluations`: starts a run; its progress shows on the page.
pub(crate) async fn evaluate(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Form(form): Form<EvaluationForm>,
) -> Response {
    // A version that is not a number goes as written: the API's 400 says why.
    let version = form
        .version
        .parse::<u32>()
        .map_or_else(|_| json!(form.version), |n| json!(n));
    let body = json!({"version": version, "suite": form.suite.trim()});
    let page = format!("/console/use-cases/{}", encode(&slug));
    let path = format!("/admin/v1/use-cases/{}/evaluations", encode(&slug));
    let call = Call::new(Method::POST, path, Some(body));
    submit_then(
        &console,
        &headers,
        form.csrf.as_deref(),
        Section::UseCases,
        call,
        &page,
    )
    .await
}
