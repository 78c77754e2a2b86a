//! An answer's Markdown made into HTML that cannot carry markup or script of its own.
//!
//! Two locks: raw HTML in the answer is shown as text (a `<script>` a model writes is read, never
//! run), then `ammonia` keeps only its allow-list of tags, attributes and URL schemes from what
//! `pulldown-cmark` produced (a `javascript:` link loses its target). Links open without a referrer
//! and are marked `nofollow`.

use std::sync::LazyLock;

use pulldown_cmark::{Event, Options, Parser};

/// The sanitizer, configured once.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder.link_rel(Some("noopener noreferrer nofollow"));
    builder
});

/// The HTML of `markdown`, safe to put in a page.
pub fn render(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    CLEANER.clean(&html).to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_becomes_html() {
        let html = render(
            "# Titre\n\n- un\n- deux\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```",
        );
        assert!(html.contains("<h1>Titre</h1>"), "{html}");
        assert!(html.contains("<li>un</li>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<pre><code"), "{html}");
    }

    #[test]
    fn script_and_javascript_links_are_inert() {
        // An HTML block, then a paragraph with inline HTML and a link.
        let html = render(
            "<script>alert(1)</script>\n\nVoir [clic](javascript:alert(2)) <img src=x onerror=alert(3)>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "shown as text: {html}");
        assert!(html.contains(">clic</a>"), "the link's text stays: {html}");
        assert!(!html.contains("javascript:"), "its target goes: {html}");
        assert!(!html.contains("<img"), "{html}");
        let html = render("[site](https://example.com)");
        assert!(
            html.contains(r#"rel="noopener noreferrer nofollow""#),
            "{html}"
        );
    }
}
