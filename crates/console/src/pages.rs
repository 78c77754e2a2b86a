//! The console's frame and the pieces its pages share, written with `maud` (every interpolated
//! value escaped by construction); no inline script or style.

use browser::{Lang, TOKEN_FIELD, Visitor};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use crate::admin_api::Answer;
use crate::assets::style_href;
use crate::reach::Reach;
use crate::text::Text;

/// The console's sections, in the order of its navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Users,
    Teams,
    Keys,
    Sessions,
    Roles,
    ScimTokens,
    Seats,
    Pools,
    UseCases,
    Policies,
    Audit,
    Content,
}

impl Section {
    const ALL: [Section; 13] = [
        Section::Overview,
        Section::Users,
        Section::Teams,
        Section::Keys,
        Section::Sessions,
        Section::Roles,
        Section::ScimTokens,
        Section::Seats,
        Section::Pools,
        Section::UseCases,
        Section::Policies,
        Section::Audit,
        Section::Content,
    ];

    /// The admin API action the section's page reads with: the section is in the navigation of
    /// those the policy set lets do it.
    fn action(self) -> &'static str {
        match self {
            Section::Overview => "usage.read",
            Section::Users | Section::Teams => "user.list",
            Section::Keys => "key.list",
            Section::Sessions => "session.list",
            Section::Roles => "role.list",
            Section::ScimTokens => "scim_token.list",
            Section::Seats => "seat.read",
            Section::Pools => "pool_share.list",
            Section::UseCases => "use_case.read",
            Section::Policies => "policy.read",
            Section::Audit => "audit.read",
            Section::Content => "content.read",
        }
    }

    pub(crate) fn href(self) -> &'static str {
        match self {
            Section::Overview => "/console",
            Section::Users => "/console/users",
            Section::Teams => "/console/teams",
            Section::Keys => "/console/keys",
            Section::Sessions => "/console/sessions",
            Section::Roles => "/console/roles",
            Section::ScimTokens => "/console/scim-tokens",
            Section::Seats => "/console/seats",
            Section::Pools => "/console/pools",
            Section::UseCases => "/console/use-cases",
            Section::Policies => "/console/policies",
            Section::Audit => "/console/audit",
            Section::Content => "/console/content",
        }
    }

    pub(crate) fn title(self) -> Text {
        match self {
            Section::Overview => Text::Overview,
            Section::Users => Text::Users,
            Section::Teams => Text::Teams,
            Section::Keys => Text::Keys,
            Section::Sessions => Text::Sessions,
            Section::Roles => Text::Roles,
            Section::ScimTokens => Text::ScimTokens,
            Section::Seats => Text::Seats,
            Section::Pools => Text::Pools,
            Section::UseCases => Text::UseCases,
            Section::Policies => Text::Policies,
            Section::Audit => Text::Audit,
            Section::Content => Text::Content,
        }
    }
}

/// A page of `section`: head, header with the person and the language switch, the sections'
/// navigation, then `main` under the section's title.
pub(crate) fn layout(
    visitor: &Visitor,
    reach: &Reach,
    section: Option<Section>,
    main: Markup,
) -> Markup {
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
                (browser::frame::skip_link(lang))
                header.top {
                    span.brand { (t(Text::Console)) }
                    (browser::frame::signed_in_as(lang, visitor.user_name()))
                    (browser::frame::language_switch(lang, visitor.token(), "/console/lang"))
                }
                @if visitor.person.is_some() {
                    nav.sections aria-label=(t(Text::Sections)) {
                        ul {
                            @for item in Section::ALL.into_iter().filter(|s| reach.may(s.action())) {
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

/// The hidden field every form carries: the CSRF token of this browser and person.
pub(crate) fn csrf(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name=(TOKEN_FIELD) value=(visitor.token()); }
}

/// What a page shows when the admin API refused or failed: why, in the person's words.
pub(crate) fn problem(lang: Lang, answer: &Answer) -> Markup {
    let (sentence, why) = match answer.status.as_u16() {
        403 => (Text::NotAllowed.in_(lang), None),
        404 => (browser::Common::NotFound.in_(lang), None),
        _ => (Text::Failed.in_(lang), Some(answer.message())),
    };
    html! {
        p.error role="alert" {
            (sentence)
            @if let Some(why) = why { " " (why) }
        }
    }
}

/// The signed-out page: the console opens to people signed in (through the chat's sign-in).
pub(crate) fn sign_in_first(visitor: &Visitor) -> Markup {
    let t = |text: Text| text.in_(visitor.lang);
    layout(
        visitor,
        &Reach::default(),
        None,
        html! {
            p { (t(Text::SignInFirst)) }
            a.button href="/" { (t(Text::SignInLink)) }
        },
    )
}

/// A table's head: the rows' name column, then columns of figures.
pub(crate) fn figures_head(lang: Lang, name: Text, figures: &[Text]) -> Markup {
    html! {
        thead { tr {
            th scope="col" { (name.in_(lang)) }
            @for figure in figures { th.number scope="col" { (figure.in_(lang)) } }
        } }
    }
}

/// A table that sets two values side by side for each named row: a data type's action on input
/// and on output, a version's field before and after.
pub(crate) fn side_by_side(
    lang: Lang,
    columns: [Text; 3],
    rows: impl IntoIterator<Item = (Markup, Markup, Markup)>,
) -> Markup {
    html! {
        table {
            thead { tr { @for column in columns { th scope="col" { (column.in_(lang)) } } } }
            tbody {
                @for (name, left, right) in rows {
                    tr { th scope="row" { code { (name) } } td { (left) } td { (right) } }
                }
            }
        }
    }
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
