//! The pieces of a page's frame every surface draws alike (`maud`, escaped by construction, no
//! inline script or style): the skip link, the person signed in, the language switch.

use maud::{Markup, html};

use crate::csrf::TOKEN_FIELD;
use crate::lang::Lang;
use crate::text::Common;

/// The first thing a keyboard reaches: a link to the page's `main`.
pub fn skip_link(lang: Lang) -> Markup {
    html! { a.skip href="#main" { (Common::SkipToContent.in_(lang)) } }
}

/// "Signed in as NAME", when someone is.
pub fn signed_in_as(lang: Lang, user_name: Option<&str>) -> Markup {
    html! {
        @if let Some(user_name) = user_name {
            span.muted { (Common::SignedInAs.in_(lang)) " " strong { (user_name) } }
        }
    }
}

/// The language switch, posted to `action` with the CSRF `token`: a labelled list and a button,
/// so it works from the keyboard and without script.
pub fn language_switch(lang: Lang, token: &str, action: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            input type="hidden" name=(TOKEN_FIELD) value=(token);
            label for="lang" { (Common::Language.in_(lang)) }
            select #lang name="lang" {
                @for option in Lang::ALL {
                    option value=(option.code()) lang=(option.code()) selected[option == lang] {
                        (option.name())
                    }
                }
            }
            button.quiet type="submit" { (Common::ChangeLanguage.in_(lang)) }
        }
    }
}
