//! `GET /console/content`: the one way into a person's conversations with the models — the
//! stored prompts and answers of one user over a time range, read for an investigation
//! (`GET /admin/v1/content`, group administrators and auditors, an entity's auditors for its
//! users). The read is a CSRF-checked form (`POST /console/content`), never a link: it is a
//! deliberate act, recorded in the audit trail with the reader's name before anything is opened,
//! and the page says so before the button. Content whose key was destroyed by an erasure shows as
//! erased. `POST /console/content/erase`: a user's stored content destroyed (`POST
//! /admin/v1/users/{id}/erase`), for those the policy set lets erase; usage records stay.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use browser::{Lang, Person, Visitor};
use http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::Console;
use crate::admin_api::uri;
use crate::pages::{self, Section, cell};
use crate::reach::Reach;
use crate::text::Text;
use crate::views::directory::encode;
use crate::views::{Call, SignedIn, ask, posted, respond, submit};

/// Records shown by one read: the admin API's default page.
const READ_LIMIT: &str = "100";

/// Whose content, and over which days.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReadForm {
    csrf: Option<String>,
    #[serde(default)]
    user: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct EraseForm {
    csrf: Option<String>,
    user: String,
}

/// `GET /console/content`: the form, nothing read.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    SignedIn { visitor, person }: SignedIn,
) -> Response {
    render(&console, (&visitor, &person), &ReadForm::default(), None).await
}

/// `POST /console/content`: the read, audited by the admin API, under the form.
pub(crate) async fn read(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(asked): Form<ReadForm>,
) -> Response {
    let (visitor, person) = match posted(&console, &headers, asked.csrf.as_deref()).await {
        Ok(signed_in) => signed_in,
        Err(page) => return page,
    };
    let query = [
        ("user", asked.user.trim()),
        ("from", asked.from.trim()),
        ("to", asked.to.trim()),
        ("limit", READ_LIMIT),
    ];
    let path = uri("/admin/v1/content", &query);
    let signed_in = (&visitor, &person);
    let answer = match ask(&console, signed_in, Section::Content, Method::GET, &path).await {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    render(&console, signed_in, &asked, Some(answer.rows())).await
}

/// The page: the forms and, after a read, what it found.
async fn render(
    console: &Console,
    (visitor, person): (&Visitor, &Person),
    asked: &ReadForm,
    read: Option<&[Value]>,
) -> Response {
    let main = html! {
        (form(console, (visitor, person), asked).await)
        @if let Some(rows) = read { (records(console, visitor.lang, rows)) }
    };
    let ok = StatusCode::OK;
    respond(console, visitor, person, Section::Content, ok, main).await
}

/// `POST /console/content/erase`.
pub(crate) async fn erase(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<EraseForm>,
) -> Response {
    let path = format!("/admin/v1/users/{}/erase", encode(form.user.trim()));
    let call = Call::new(Method::POST, path, None);
    submit(
        &console,
        &headers,
        form.csrf.as_deref(),
        Section::Content,
        call,
    )
    .await
}

/// The read form, its warning, and the erasure form for those who may erase.
async fn form(
    console: &Console,
    (visitor, person): (&Visitor, &Person),
    asked: &ReadForm,
) -> Markup {
    let t = |text: Text| text.in_(visitor.lang);
    let erases = Reach::of(console, person).await.may("user.erase");
    html! {
        p.notice role="note" { (t(Text::ContentReadAudited)) }
        form.filters #content-read method="post" action="/console/content" {
            (pages::csrf(visitor))
            label { (t(Text::User)) input type="text" name="user" required value=(asked.user); }
            label { (t(Text::From)) input type="date" name="from" required value=(asked.from); }
            label { (t(Text::To)) input type="date" name="to" required value=(asked.to); }
            button type="submit" { (t(Text::ReadContent)) }
        }
        @if erases {
            form.inline #content-erase method="post" action="/console/content/erase" {
                (pages::csrf(visitor))
                p { (t(Text::EraseContentExplained)) }
                label { (t(Text::User)) input type="text" name="user" required value=(asked.user); }
                button.danger type="submit" { (t(Text::EraseContent)) }
            }
        }
    }
}

/// The records read, oldest first: when, which model, what was asked and what was answered.
fn records(console: &Console, lang: Lang, rows: &[Value]) -> Markup {
    let t = |text: Text| text.in_(lang);
    html! {
        @if rows.is_empty() {
            p.muted { (t(Text::Nothing)) }
        } @else {
            table #content {
                thead { tr {
                    th scope="col" { (t(Text::When)) }
                    th scope="col" { (t(Text::Model)) }
                    th scope="col" { (t(Text::Question)) }
                    th scope="col" { (t(Text::Answer)) }
                } }
                tbody {
                    @for record in rows {
                        tr {
                            td { (pages::time(&console.zone, &record["created_at"])) }
                            td { code { (cell(&record["model"])) } }
                            @if record["readable"].as_bool() == Some(true) {
                                td { pre { (shown(&record["input"])) } }
                                td { pre { (shown(&record["completion"])) } }
                            } @else {
                                td colspan="2" { em { (t(Text::Erased)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Stored content as text: messages as `role: text` lines, a prompt or an answer as itself,
/// anything else as JSON. Escaped by the template like every value, so stored text never becomes
/// markup.
fn shown(value: &Value) -> String {
    if let Some(text) = value.as_str() {
        return text.to_owned();
    }
    if let Some(messages) = value.as_array() {
        return messages
            .iter()
            .map(|m| {
                format!(
                    "{}: {}",
                    cell(&m["role"]),
                    wire::chat::content_text(&m["content"])
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    serde_json::to_string_pretty(value).unwrap_or_default()
}
