//! `GET /console/policies?entity&use_case`: the data policy in force for an entity's callers, or
//! for their requests naming a use case — each personal-data type's action on input and output,
//! blocked terms, the prompt-injection heuristic, where the policy comes from and what it softens
//! (`GET /admin/v1/policies/effective`). `POST /console/policies/dry-run`: the same policy tried
//! on sample text (`POST /admin/v1/policies/dry-run`), shown as the text with each value marked,
//! a table of the values with their type and actions, the refusal if any, and the text the model
//! would receive. The dry run changes nothing, but is a form like every other, CSRF-checked; the
//! admin API authorizes (an entity's readers, for their entity only) and audits both.

use std::sync::Arc;

use access::PageReads;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use browser::{Lang, Visitor};
use http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Console;
use crate::admin_api::{Answer, uri};
use crate::pages::{self, Section, cell};
use crate::text::Text;
use crate::views::{SignedIn, posted, refused, respond, unrecorded};

/// The personal-data types, in the policy crate's order (the admin API's names).
const TYPES: [&str; 9] = [
    "EMAIL",
    "PHONE_FR",
    "IBAN",
    "NIR",
    "SIREN",
    "SIRET",
    "CREDIT_CARD",
    "IPV4",
    "IPV6",
];

/// Whose policy: an entity (empty: the person's own, or the group's accounts) and a use case.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Whose {
    entity: Option<String>,
    use_case: Option<String>,
}

impl Whose {
    fn entity(&self) -> &str {
        self.entity.as_deref().map_or("", str::trim)
    }

    fn use_case(&self) -> &str {
        self.use_case.as_deref().map_or("", str::trim)
    }

    fn query(&self) -> [(&'static str, &str); 2] {
        [("entity", self.entity()), ("use_case", self.use_case())]
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DryRunForm {
    csrf: Option<String>,
    entity: Option<String>,
    use_case: Option<String>,
    text: String,
}

/// `GET /console/policies`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
    Query(whose): Query<Whose>,
) -> Response {
    render(&console, (&visitor, &person), &whose, None).await
}

/// `POST /console/policies/dry-run`.
pub(crate) async fn dry_run(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<DryRunForm>,
) -> Response {
    let (visitor, person) = match posted(&console, &headers, form.csrf.as_deref()).await {
        Ok(signed_in) => signed_in,
        Err(page) => return page,
    };
    let whose = Whose {
        entity: form.entity,
        use_case: form.use_case,
    };
    let body = json!({
        "text": form.text,
        "entity": Some(whose.entity()).filter(|e| !e.is_empty()),
        "use_case": Some(whose.use_case()).filter(|u| !u.is_empty()),
    });
    let run = console
        .admin
        .call(
            &person.principal,
            Method::POST,
            "/admin/v1/policies/dry-run",
            Some(body),
        )
        .await;
    render(
        &console,
        (&visitor, &person),
        &whose,
        Some((&form.text, run)),
    )
    .await
}

/// The page: the choice of whose policy, the policy, the dry-run form and, after one, its result.
async fn render(
    console: &Console,
    (visitor, person): (&Visitor, &browser::Person),
    whose: &Whose,
    run: Option<(&str, Answer)>,
) -> Response {
    let path = uri("/admin/v1/policies/effective", &whose.query());
    let reads = Arc::new(PageReads::default());
    let policy = console.admin.read(&person.principal, &reads, &path).await;
    if !policy.ok() {
        return refused(console, visitor, person, Section::Policies, &policy).await;
    }
    if console.admin.record(&reads).await.is_err() {
        return unrecorded(console, visitor, person, Section::Policies).await;
    }
    let entities = console
        .admin
        .call(&person.principal, Method::GET, "/admin/v1/entities", None)
        .await;
    let lang = visitor.lang;
    let sample = run.as_ref().map_or("", |(text, _)| *text);
    let main = html! {
        (choice(lang, whose, &entities))
        (effective(lang, &policy.body))
        (dry_run_form(visitor, whose, sample))
        @if let Some((text, answer)) = &run { (result(lang, text, answer)) }
    };
    respond(
        console,
        visitor,
        person,
        Section::Policies,
        StatusCode::OK,
        main,
    )
    .await
}

/// The form choosing whose policy is shown: an entity (a list for those who may list them) and
/// a use case.
fn choice(lang: Lang, whose: &Whose, entities: &Answer) -> Markup {
    let t = |text: Text| text.in_(lang);
    html! {
        form.filters method="get" action="/console/policies" {
            label {
                (t(Text::Entity))
                @if entities.ok() {
                    select name="entity" {
                        option value="" { (t(Text::GroupAccounts)) }
                        @for row in entities.rows() {
                            @let slug = cell(&row["slug"]);
                            option value=(slug) selected[slug == whose.entity()] { (slug) }
                        }
                    }
                } @else {
                    input name="entity" value=(whose.entity()) placeholder=(t(Text::YourEntity));
                }
            }
            label {
                (t(Text::UseCaseOptional))
                input name="use_case" value=(whose.use_case());
            }
            button type="submit" { (t(Text::Show)) }
        }
    }
}

/// The policy in force: where it comes from, what it softens, and what it does per type.
fn effective(lang: Lang, body: &Value) -> Markup {
    let t = |text: Text| text.in_(lang);
    let policy = &body["policy"];
    let action = |value: &Value| action_name(lang, value.as_str());
    let relaxed = body["relaxed"].as_array().map_or(&[][..], Vec::as_slice);
    let terms = policy["blocked_terms"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    html! {
        section aria-labelledby="effective" {
            h2 #effective { (t(Text::EffectivePolicy)) }
            p {
                (t(Text::PolicySource)) " "
                strong { (t(source_name(body["source"].as_str()))) }
                @if let Some(entity) = body["entity"].as_str() { " — " code { (entity) } }
                @if let Some(use_case) = body["use_case"].as_str() { " — " code { (use_case) } }
            }
            @if !relaxed.is_empty() {
                p { (t(Text::Relaxed)) }
                ul { @for item in relaxed { li { (cell(item)) } } }
            }
            (pages::side_by_side(lang, [Text::DataType, Text::OnInput, Text::OnOutput],
                TYPES.iter().map(|kind| (
                    html! { (kind) },
                    html! { (action(&policy["actions"][kind])) },
                    html! { (action(&policy["output"][kind])) },
                ))))
            dl.policy {
                dt { (t(Text::BlockedTerms)) }
                dd {
                    @if terms.is_empty() { (t(Text::NoneSet)) }
                    @for (i, term) in terms.iter().enumerate() {
                        @if i > 0 { ", " }
                        code { (cell(term)) }
                    }
                    " (" (action(&policy["blocked_terms_action"])) ")"
                }
                dt { (t(Text::PromptInjection)) }
                dd { (action(&policy["prompt_injection"])) }
                dt { (t(Text::TraceContent)) }
                dd { (t(if policy["trace_content"] == true { Text::Yes } else { Text::No })) }
            }
        }
    }
}

/// The dry-run form: the sample text, for the policy shown.
fn dry_run_form(visitor: &Visitor, whose: &Whose, sample: &str) -> Markup {
    let t = |text: Text| text.in_(visitor.lang);
    html! {
        section aria-labelledby="dry-run" {
            h2 #dry-run { (t(Text::DryRun)) }
            form.dry-run method="post" action="/console/policies/dry-run" {
                (pages::csrf(visitor))
                input type="hidden" name="entity" value=(whose.entity());
                input type="hidden" name="use_case" value=(whose.use_case());
                label for="sample" { (t(Text::SampleLabel)) }
                p.muted #sample-hint { (t(Text::SampleHint)) }
                textarea #sample name="text" rows="6" required maxlength="65536"
                    aria-describedby="sample-hint" { (sample) }
                button type="submit" { (t(Text::RunDryRun)) }
            }
        }
    }
}

/// A dry run's result: the verdict, the sample with each value marked, the values, the text sent.
fn result(lang: Lang, text: &str, answer: &Answer) -> Markup {
    let t = |text: Text| text.in_(lang);
    if !answer.ok() {
        return pages::problem(lang, answer);
    }
    let body = &answer.body;
    let findings = body["findings"].as_array().map_or(&[][..], Vec::as_slice);
    let action = |value: &Value| action_name(lang, value.as_str());
    html! {
        section #result aria-labelledby="result-title" {
            h2 #result-title { (t(Text::DryRunResult)) }
            (verdict(lang, body))
            @if let Some(term) = body["blocked_term"].as_object() {
                p { (t(Text::BlockedTerms)) " — " code { (cell(&term["term"])) } " (" (action(&term["action"])) ")" }
            }
            @if let Some(injection) = body["prompt_injection"].as_object() {
                p { (t(Text::PromptInjection)) " — " code { (cell(&injection["pattern"])) } " (" (action(&injection["action"])) ")" }
            }
            @if findings.is_empty() {
                p.muted { (t(Text::NothingFound)) }
            } @else {
                h3 { (t(Text::SampleMarked)) }
                p.sample { (marked(lang, text, findings)) }
                table.findings {
                    thead { tr {
                        th scope="col" { (t(Text::DataType)) }
                        th scope="col" { (t(Text::Value)) }
                        th scope="col" { (t(Text::OnInput)) }
                        th scope="col" { (t(Text::OnOutput)) }
                    } }
                    tbody {
                        @for finding in findings {
                            tr {
                                th scope="row" { code { (cell(&finding["type"])) } }
                                td { code { (cell(&finding["text"])) } }
                                td { (action(&finding["input"])) }
                                td { (action(&finding["output"])) }
                            }
                        }
                    }
                }
            }
            @if let Some(sent) = body["sent"].as_str() {
                h3 { (t(Text::ModelReceives)) }
                pre.sent { (sent) }
            }
        }
    }
}

/// Whether the text would be refused, sent flagged, or sent.
fn verdict(lang: Lang, body: &Value) -> Markup {
    let t = |text: Text| text.in_(lang);
    html! {
        @if let Some(refusal) = body["refusal"].as_object() {
            p.error role="status" {
                (t(Text::WouldBeRefused)) " " code { (cell(&refusal["code"])) }
                " — " (cell(&refusal["detail"]))
            }
        } @else if body["flagged"] == true {
            p.flagged role="status" { (t(Text::WouldBeFlagged)) }
        } @else {
            p role="status" { (t(Text::WouldBeSent)) }
        }
    }
}

/// The sample with each value found in a `mark`, its type and action said after it for screen
/// readers. Offsets that do not fall on the text's characters are left unmarked.
fn marked(lang: Lang, text: &str, findings: &[Value]) -> Markup {
    let mut pieces: Vec<(&str, Option<(&str, String)>)> = Vec::new();
    let mut at = 0;
    for finding in findings {
        let span = finding["start"].as_u64().zip(finding["end"].as_u64());
        let Some((start, end)) =
            span.and_then(|(s, e)| Some((usize::try_from(s).ok()?, usize::try_from(e).ok()?)))
        else {
            continue;
        };
        let (Some(before), Some(value)) = (text.get(at..start), text.get(start..end)) else {
            continue;
        };
        let input = finding["input"].as_str().unwrap_or("pass");
        let label = format!(
            "{}, {}",
            cell(&finding["type"]),
            action_name(lang, Some(input))
        );
        pieces.push((before, None));
        pieces.push((value, Some((input, label))));
        at = end;
    }
    pieces.push((text.get(at..).unwrap_or_default(), None));
    html! {
        @for (piece, highlight) in pieces {
            @match highlight {
                None => { (piece) }
                Some((input, label)) => {
                    mark class=(format!("pii {input}")) { (piece) }
                    span.visually-hidden { " (" (label) ")" }
                }
            }
        }
    }
}

/// An action's name in the person's language (`None`: passed unchanged, or off).
fn action_name(lang: Lang, action: Option<&str>) -> &'static str {
    let text = match action {
        Some("redact") => Text::ActionRedact,
        Some("pseudonymize") => Text::ActionPseudonymize,
        Some("block") => Text::ActionBlock,
        Some("flag") => Text::ActionFlag,
        _ => Text::ActionPass,
    };
    text.in_(lang)
}

fn source_name(source: Option<&str>) -> Text {
    match source {
        Some("entity") => Text::SourceEntity,
        Some("declared_use_case") => Text::SourceDeclaredUseCase,
        Some("registered_use_case") => Text::SourceRegisteredUseCase,
        _ => Text::SourceGroup,
    }
}
