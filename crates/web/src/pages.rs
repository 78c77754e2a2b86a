//! The pages, written with `maud`: every interpolated value is escaped by construction, and no
//! page holds inline script or style (the CSP forbids both).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use wire::models::ModelCard;

use crate::assets::Asset;
use crate::assistants::Assistant;
use crate::conversations::{Found, Listed, Opened};
use crate::csrf::TOKEN_FIELD;
use crate::history::Shown;
use crate::lang::Lang;
use crate::markdown;
use crate::periods::Age;
use crate::text::Text;
use crate::usage::{self, Month};
use crate::visitor::Visitor;

/// What every page's frame needs.
pub struct Frame<'a> {
    pub lang: Lang,
    /// The CSRF token of this browser and person.
    pub token: &'a str,
    /// The signed-in person's name, shown in the header.
    pub user_name: Option<&'a str>,
}

impl<'a> Frame<'a> {
    /// The frame of a page for `visitor`.
    pub fn of(visitor: &'a Visitor) -> Frame<'a> {
        Frame {
            lang: visitor.lang,
            token: visitor.token(),
            user_name: visitor.user_name(),
        }
    }
}

/// The frame around every page: head, header with the language switch, main.
pub fn layout(frame: &Frame<'_>, title: &str, main: Markup) -> Markup {
    let lang = frame.lang;
    let t = |text: Text| text.in_(lang);
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(frame.token);
                // No icon to fetch: a request that fails would be noise in the console.
                link rel="icon" href="data:,";
                title { (title) " · " (t(Text::Product)) }
                link rel="stylesheet" href=(Asset::Style.href());
                script type="module" src=(Asset::Script.href()) {}
            }
            body {
                (browser::frame::skip_link(lang))
                header.top {
                    span.brand { (t(Text::Product)) }
                    (browser::frame::signed_in_as(lang, frame.user_name))
                    (browser::frame::language_switch(lang, frame.token, "/lang"))
                    @if frame.user_name.is_some() {
                        form method="post" action="/signout" {
                            input type="hidden" name=(TOKEN_FIELD) value=(frame.token);
                            button.quiet #sign-out type="submit" { (t(Text::SignOut)) }
                        }
                    }
                }
                main #main tabindex="-1" { (main) }
            }
        }
    }
}

/// The signed-out page: the provider's button when sign-in with it is configured, else how to get
/// a one-time link.
pub fn sign_in(frame: &Frame<'_>, provider: bool, session_refused: bool) -> Markup {
    let t = |text: Text| text.in_(frame.lang);
    layout(
        frame,
        t(Text::SignInTitle),
        html! {
            section.card aria-labelledby="sign-in-title" {
                h1 #sign-in-title { (t(Text::SignInTitle)) }
                p { (t(Text::SignInLead)) }
                @if session_refused {
                    p.error role="alert" { (t(Text::SignInRefused)) }
                }
                @if provider {
                    a.button href="/auth/login" { (t(Text::SignInWithProvider)) }
                } @else {
                    p { (t(Text::SignInByLink)) }
                }
            }
        },
    )
}

/// What the chat page shows besides the frame.
pub struct Chat<'a> {
    pub models: &'a [ModelCard],
    /// The AI Factory's use cases the person may call.
    pub assistants: &'a [Assistant],
    /// The knowledge libraries the person may ask, (id, name).
    pub libraries: &'a [(String, String)],
    /// The levels the conversation may be given, lowest first.
    pub levels: &'a [String],
    /// The person's kept conversations, or those a search found; `None` when nothing is kept
    /// for them.
    pub kept: Option<Sidebar<'a>>,
    /// The kept conversation shown, with its messages.
    pub shown: Option<Shown<'a>>,
    /// The person's usage this month against their budgets.
    pub month: Option<&'a Month>,
}

/// What the list of kept conversations shows.
pub enum Sidebar<'a> {
    /// All of them, grouped by when they were last active.
    Grouped(&'a [(Age, Vec<Listed>)]),
    /// Those a search found.
    Found { query: &'a str, found: &'a [Found] },
}

/// The chat: the person's conversations when they are kept, the conversation, the model and
/// classification pickers and the question box.
pub fn chat(frame: &Frame<'_>, chat: &Chat<'_>) -> Markup {
    let t = |text: Text| text.in_(frame.lang);
    let title = chat
        .shown
        .map_or(t(Text::Product), |(opened, _)| opened.title.as_str());
    let conversation = chat.shown.map(|(opened, _)| opened.stored.id.as_str());
    layout(
        frame,
        title,
        html! {
            div #texts hidden data-copy=(t(Text::Copy)) data-regenerate=(t(Text::Regenerate))
                data-stopped=(t(Text::Stopped)) data-thinking=(t(Text::Thinking))
                data-done=(t(Text::Answered)) data-edit=(t(Text::Edit)) data-up=(t(Text::Useful))
                data-down=(t(Text::NotUseful)) data-comment=(t(Text::Comment))
                data-send-feedback=(t(Text::SendFeedback)) data-thanks=(t(Text::Thanks))
                data-feedback-failed=(t(Text::FeedbackFailed)) data-attached=(t(Text::Attached)) {}
            @if let Some(kept) = &chat.kept {
                (conversation_list(frame, kept))
            }
            @if let Some((opened, _)) = chat.shown {
                (conversation_tools(frame, opened))
            } @else {
                h1.visually-hidden { (t(Text::Product)) }
            }
            section #transcript aria-label=(t(Text::Conversation)) aria-live="polite" {
                @for (place, message) in chat.shown.map_or(&[][..], |(_, m)| m).iter().enumerate() {
                    article class=(format!("turn {}", message.role)) data-role=(message.role)
                        data-request-id=[message.request_id.as_deref()] {
                        @if message.role == "user" {
                            div.body { (message.text) }
                        } @else {
                            div.body { (PreEscaped(markdown::render(&message.text, place))) }
                        }
                    }
                }
            }
            @if chat.models.is_empty() {
                p.error role="alert" { (t(Text::NoModel)) }
            }
            form #composer data-conversation=[conversation] {
                div.row {
                    label for="model" { (t(Text::Model)) }
                    select #model name="model" {
                        @if chat.assistants.is_empty() {
                            @for model in chat.models {
                                option value=(model.id) { (model_label(frame.lang, model)) }
                            }
                        } @else {
                            optgroup label=(t(Text::Models)) {
                                @for model in chat.models {
                                    option value=(model.id) { (model_label(frame.lang, model)) }
                                }
                            }
                            optgroup label=(t(Text::Assistants)) {
                                @for assistant in chat.assistants {
                                    option value=(assistant.model) title=(assistant.purpose) {
                                        (assistant.name)
                                    }
                                }
                            }
                        }
                    }
                }
                @for assistant in chat.assistants.iter().filter(|a| !a.variables.is_empty()) {
                    (variables(frame.lang, assistant))
                }
                @if !chat.libraries.is_empty() {
                    div.row {
                        label for="library" { (t(Text::AskLibrary)) }
                        select #library name="library" aria-describedby="library-hint" {
                            option value="" { (t(Text::NoLibrary)) }
                            @for (id, name) in chat.libraries { option value=(id) { (name) } }
                        }
                        span #library-hint.muted { (t(Text::AskLibraryHint)) }
                    }
                }
                div.row {
                    label for="level" { (t(Text::Classification)) }
                    select #level name="level" aria-describedby="level-hint" {
                        @for level in chat.levels { option value=(level) { (level) } }
                    }
                    span #level-hint.muted { (t(Text::ClassificationHint)) }
                }
                label for="question" { (t(Text::Question)) }
                textarea #question name="question" rows="3" {}
                div.row {
                    label for="attachment" { (t(Text::Attach)) }
                    input #attachment type="file" accept=".pdf,.docx,.xlsx,.pptx,.html,.htm,.eml,.txt,.md,.markdown";
                    span #attached hidden {
                        "📎 " span #attached-name {} " "
                        button.quiet #detach type="button" { (t(Text::RemoveAttachment)) }
                    }
                }
                div.row {
                    button #send type="submit" { (t(Text::Send)) }
                    button.quiet #stop type="button" hidden { (t(Text::Stop)) }
                    span #status.muted role="status" {}
                }
            }
            @match chat.kept {
                Some(_) => p.muted { (t(Text::Kept)) },
                None => p.muted { (t(Text::NothingKept)) },
            }
            @if let Some(month) = chat.month {
                (usage_this_month(frame.lang, month))
            }
            script type="module" src=(Asset::Chat.href()) {}
        },
    )
}

/// The person's kept conversations, grouped by when they were last active, or those a search
/// found; a link to start a new one; the search box.
fn conversation_list(frame: &Frame<'_>, kept: &Sidebar<'_>) -> Markup {
    let t = |text: Text| text.in_(frame.lang);
    let query = match kept {
        Sidebar::Found { query, .. } => *query,
        Sidebar::Grouped(_) => "",
    };
    html! {
        nav.conversations aria-labelledby="conversations-title" {
            h2 #conversations-title { (t(Text::Conversations)) }
            a href="/" { (t(Text::NewConversation)) }
            form.row method="get" action="/search" role="search" {
                label for="search" { (t(Text::Search)) }
                input #search type="search" name="q" value=(query) maxlength="200" required;
                button.quiet type="submit" { (t(Text::Search)) }
            }
            @match kept {
                Sidebar::Grouped(groups) => {
                    @for (age, members) in groups.iter() {
                        h3 { (t(age.heading())) }
                        ul {
                            @for conversation in members {
                                li { a href=(format!("/c/{}", conversation.id)) { (conversation.title) } }
                            }
                        }
                    }
                }
                Sidebar::Found { query, found } => {
                    h3 { (t(Text::SearchResults)) " « " (query) " »" }
                    @if found.is_empty() {
                        p.muted role="status" { (t(Text::NothingFound)) }
                    }
                    ul #found {
                        @for conversation in found.iter() {
                            li {
                                a href=(format!("/c/{}", conversation.id)) { (conversation.title) }
                                @if let Some(passage) = &conversation.passage {
                                    br;
                                    span.muted { (passage) }
                                }
                            }
                        }
                    }
                    a href="/" { (t(Text::ClearSearch)) }
                }
            }
        }
    }
}

/// The person's usage this month, and each of their monthly budgets as a meter.
fn usage_this_month(lang: Lang, month: &Month) -> Markup {
    let t = |text: Text| text.in_(lang);
    let totals = &month.totals;
    let tokens = totals.input_tokens.saturating_add(totals.output_tokens);
    html! {
        section #usage aria-labelledby="usage-title" {
            h2 #usage-title { (t(Text::UsageThisMonth)) }
            p {
                (usage::whole(lang, totals.requests)) " " (t(Text::Requests)) " · "
                (usage::whole(lang, tokens)) " " (t(Text::Tokens)) " · "
                (t(Text::Cost)) " " (usage::money(lang, totals.cost_micros))
            }
            @for budget in &month.budgets {
                @let id = format!("budget-{}", budget.unit.as_str());
                @let committed = usage::committed(budget);
                div.row {
                    label for=(id) {
                        (t(Text::of_budget(budget.unit))) " : "
                        (usage::amount(lang, budget.unit, committed)) " / "
                        (usage::amount(lang, budget.unit, budget.limit))
                    }
                    meter id=(id) min="0" max=(budget.limit) value=(committed.min(budget.limit))
                        high=[budget.soft_threshold_percent.map(|p| budget.limit / 100 * u64::from(p))] {}
                }
            }
        }
    }
}

/// The shown conversation's title and what its owner may do with it.
fn conversation_tools(frame: &Frame<'_>, opened: &Opened) -> Markup {
    let t = |text: Text| text.in_(frame.lang);
    let base = format!("/c/{}", opened.stored.id);
    let pin = if opened.stored.pinned {
        Text::Unpin
    } else {
        Text::Pin
    };
    html! {
        h1 { (opened.title) }
        div.row.tools {
            form method="post" action=(format!("{base}/rename")) {
                input type="hidden" name=(TOKEN_FIELD) value=(frame.token);
                label for="title" { (t(Text::Title)) }
                input #title name="title" value=(opened.title) maxlength="200" required;
                button.quiet type="submit" { (t(Text::Rename)) }
            }
            form method="post" action=(format!("{base}/pin")) {
                input type="hidden" name=(TOKEN_FIELD) value=(frame.token);
                button.quiet type="submit" { (t(pin)) }
            }
            form method="post" action=(format!("{base}/delete")) {
                input type="hidden" name=(TOKEN_FIELD) value=(frame.token);
                button.quiet type="submit" { (t(Text::Delete)) }
            }
            a href=(format!("{base}/export")) download { (t(Text::Export)) }
        }
    }
}

/// The fields of an assistant's variables, shown while it is the one chosen.
fn variables(lang: Lang, assistant: &Assistant) -> Markup {
    html! {
        fieldset.variables data-for=(assistant.model) hidden {
            legend { (Text::Variables.in_(lang)) " — " (assistant.name) }
            @for name in &assistant.variables {
                @let id = format!("variable-{}-{name}", assistant.model.replace('/', "-"));
                div.row {
                    label for=(id) { (name) }
                    input id=(id) data-variable=(name) maxlength="2000";
                }
            }
        }
    }
}

/// A model as the picker shows it: its name, where it runs, the highest classification it accepts
/// (`mistral-small — sur site · jusqu’à secret`).
fn model_label(lang: Lang, model: &ModelCard) -> String {
    let mut label = model.id.clone();
    let hosting: Vec<&str> = model
        .hosting
        .iter()
        .flatten()
        .map(|h| Text::of_hosting(h).map_or(h.as_str(), |text| text.in_(lang)))
        .collect();
    if !hosting.is_empty() {
        label.push_str(" — ");
        label.push_str(&hosting.join(", "));
    }
    if let Some(clearance) = &model.clearance {
        label.push_str(" · ");
        label.push_str(Text::UpTo.in_(lang));
        label.push(' ');
        label.push_str(clearance);
    }
    label
}

/// A refused action, with the reason.
pub fn refused(frame: &Frame<'_>, reason: browser::Common) -> Markup {
    let t = |text: Text| text.in_(frame.lang);
    layout(
        frame,
        t(Text::Forbidden),
        html! {
            section.card {
                h1 { (t(Text::Forbidden)) }
                p.error role="alert" { (reason.in_(frame.lang)) }
                a href="/" { (t(Text::Product)) }
            }
        },
    )
}
