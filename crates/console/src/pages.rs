//! The console's frame and the pieces its pages share, written with `maud` (every interpolated
//! value escaped by construction); no inline script or style.

use browser::{Lang, TOKEN_FIELD, Visitor};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use crate::admin_api::Answer;
use crate::assets::style_href;
use crate::text::Text;

/// The console's sections, in the order of its navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Users,
    Keys,
    Sessions,
    Roles,
    Audit,
}

impl Section {
    const ALL: [Section; 6] = [
        Section::Overview,
        Section::Users,
        Section::Keys,
        Section::Sessions,
        Section::Roles,
        Section::Audit,
    ];

    fn href(self) -> &'static str {
        match self {
            Section::Overview => "/console",
            Section::Users => "/console/users",
            Section::Keys => "/console/keys",
            Section::Sessions => "/console/sessions",
            Section::Roles => "/console/roles",
            Section::Audit => "/console/audit",
        }
    }

    pub(crate) fn title(self) -> Text {
        match self {
            Section::Overview => Text::Overview,
            Section::Users => Text::Users,
            Section::Keys => Text::Keys,
            Section::Sessions => Text::Sessions,
            Section::Roles => Text::Roles,
            Section::Audit => Text::Audit,
        }
    }
}

/// A page of `section`: head, header with the person and the language switch, the sections'
/// navigation, then `main` under the section's title.
pub(crate) fn layout(visitor: &Visitor, section: Option<Section>, main: Markup) -> Markup {
    let lang = visitor.lang;
    let t = |text: Text| text.in_(lang);
    let title = section.map_or(Text::Console, Section::title);
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                link rel="icon" href="data:,";
                title { (t(title)) " · " (t(Text::Console)) }
                link rel="stylesheet" href=(style_href());
            }
            body {
                a.skip href="#main" { (t(Text::SkipToContent)) }
                header.top {
                    span.brand { (t(Text::Console)) }
                    @if let Some(user_name) = visitor.user_name() {
                        span.muted { (t(Text::SignedInAs)) " " strong { (user_name) } }
                    }
                    (language_switch(visitor))
                }
                @if visitor.person.is_some() {
                    nav.sections aria-label=(t(Text::Sections)) {
                        ul {
                            @for item in Section::ALL {
                                li {
                                    a href=(item.href())
                                        aria-current=[(Some(item) == section).then_some("page")] {
                                        (t(item.title()))
                                    }
                                }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (t(title)) }
                    (main)
                }
            }
        }
    }
}

/// The language switch: a labelled list and a button, usable from the keyboard without script.
fn language_switch(visitor: &Visitor) -> Markup {
    let lang = visitor.lang;
    html! {
        form method="post" action="/console/lang" {
            (csrf(visitor))
            label for="lang" { (Text::Language.in_(lang)) }
            select #lang name="lang" {
                @for option in Lang::ALL {
                    option value=(option.code()) lang=(option.code()) selected[option == lang] {
                        (option.name())
                    }
                }
            }
            button.quiet type="submit" { (Text::ChangeLanguage.in_(lang)) }
        }
    }
}

/// The hidden field every form carries: the CSRF token of this browser and person.
pub(crate) fn csrf(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name=(TOKEN_FIELD) value=(visitor.token()); }
}

/// What a page shows when the admin API refused or failed: why, in the person's words.
pub(crate) fn problem(lang: Lang, answer: &Answer) -> Markup {
    let sentence = match answer.status.as_u16() {
        403 => Text::NotAllowed,
        404 => Text::NotFound,
        _ => Text::Failed,
    };
    html! {
        p.error role="alert" {
            (sentence.in_(lang))
            @if sentence == Text::Failed { " " (answer.message()) }
        }
    }
}

/// The signed-out page: the console opens to people signed in (through the chat's sign-in).
pub(crate) fn sign_in_first(visitor: &Visitor) -> Markup {
    let t = |text: Text| text.in_(visitor.lang);
    layout(
        visitor,
        None,
        html! {
            p { (t(Text::SignInFirst)) }
            a.button href="/" { (t(Text::SignInLink)) }
        },
    )
}

/// A JSON value as a table cell's text: strings as they are, `null` as nothing.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A whole number with thin groups of three digits, as both languages write them in tables.
pub(crate) fn number(value: &Value) -> String {
    match value.as_u64() {
        Some(n) => {
            let digits = n.to_string();
            let mut grouped = String::new();
            for (i, digit) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    grouped.push('\u{202F}');
                }
                grouped.push(digit);
            }
            grouped
        }
        None => cell(value),
    }
}

/// A time in Unix milliseconds, in the group's time zone.
pub(crate) fn time(zone: &reports::Zone, value: &Value) -> String {
    value.as_i64().map(|at| zone.format(at)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::number;
    use serde_json::json;

    #[test]
    fn numbers_are_grouped_by_three() {
        assert_eq!(number(&json!(0)), "0");
        assert_eq!(number(&json!(1234)), "1\u{202F}234");
        assert_eq!(number(&json!(1234567)), "1\u{202F}234\u{202F}567");
        assert_eq!(number(&json!("n/a")), "n/a");
    }
}
