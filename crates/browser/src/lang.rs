//! The page's language: French by default, English when the browser prefers it, either when the
//! person chose it (the `fabrique_lang` cookie, set by the switch in every page's header).

use http::HeaderMap;
use http::header::ACCEPT_LANGUAGE;

use crate::cookies;

/// The cookie that remembers a person's choice of language.
pub const LANG_COOKIE: &str = "fabrique_lang";

/// The languages the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Fr, Lang::En];

    /// The BCP 47 tag, as in `<html lang>` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Fr => "Français",
            Lang::En => "English",
        }
    }

    /// The language of a tag (`fr`, `en-GB`, `FR-ca`…), by its primary subtag.
    pub fn of_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        Lang::ALL
            .into_iter()
            .find(|lang| primary.eq_ignore_ascii_case(lang.code()))
    }

    /// The person's choice if they made one, else the browser's first preference we speak, else
    /// French.
    pub fn of_request(headers: &HeaderMap) -> Lang {
        if let Some(chosen) = cookies::get(headers, LANG_COOKIE).and_then(Lang::of_tag) {
            return chosen;
        }
        headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                accept_language::parse(value)
                    .iter()
                    .find_map(|tag| Lang::of_tag(tag))
            })
            .unwrap_or(Lang::Fr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiated(accept: Option<&str>, cookie: Option<&str>) -> Lang {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(ACCEPT_LANGUAGE, accept.parse().unwrap());
        }
        if let Some(cookie) = cookie {
            headers.insert(http::header::COOKIE, cookie.parse().unwrap());
        }
        Lang::of_request(&headers)
    }

    #[test]
    fn french_unless_the_browser_prefers_english_or_the_person_chose() {
        assert_eq!(negotiated(None, None), Lang::Fr);
        assert_eq!(negotiated(Some("en-GB,en;q=0.9"), None), Lang::En);
        assert_eq!(negotiated(Some("de-DE,en;q=0.5,fr;q=0.8"), None), Lang::Fr);
        assert_eq!(negotiated(Some("de,en;q=0.5"), None), Lang::En);
        assert_eq!(negotiated(Some("de"), None), Lang::Fr);
        assert_eq!(negotiated(Some("*;q=0.1,,;;q=x"), None), Lang::Fr);
        assert_eq!(
            negotiated(Some("fr"), Some("a=b; fabrique_lang=en")),
            Lang::En
        );
        assert_eq!(
            negotiated(Some("en"), Some("fabrique_lang=xx")),
            Lang::En,
            "an unknown choice is ignored"
        );
    }
}
