//! An answer's Markdown made into HTML that cannot carry markup or script of its own.
//!
//! Two locks: raw HTML in the answer is shown as text (a `<script>` a model writes is read, never
//! run), then `ammonia` keeps only its allow-list of tags, attributes and URL schemes from what
//! `pulldown-cmark` produced (a `javascript:` link loses its target). Links open without a referrer
//! and are marked `nofollow`.
//!
//! A streamed answer is rendered as it grows ([`Streamed`]): each top-level block once, when the
//! next one has begun on a complete line (CommonMark never reopens a closed block), and only the
//! block still open again with each chunk, so rendering costs the answer's length, not its square.
//! The one thing a block rendered apart cannot see is a link reference definition in another
//! block (`[x][ref]` and its `[ref]: url`, before or after it): while streaming such a link stays
//! text. So at the stream's end ([`Streamed::finish`]) an answer that defines link references is
//! rendered whole once more, sanitized the same way, and replaces what the page shows: the page
//! ends showing what the answer reopened shows. Footnotes are not enabled, so `[^1]` stays text
//! either way.

use std::sync::LazyLock;

use pulldown_cmark::{Event, Options, Parser};

const OPTIONS: Options = Options::ENABLE_TABLES
    .union(Options::ENABLE_STRIKETHROUGH)
    .union(Options::ENABLE_TASKLISTS);

/// The sanitizer, configured once.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder.link_rel(Some("noopener noreferrer nofollow"));
    builder
});

/// The HTML of `markdown`, safe to put in a page.
pub fn render(markdown: &str) -> String {
    let events = Parser::new_ext(markdown, OPTIONS).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    CLEANER.clean(&html).to_string()
}

/// An answer's Markdown as it streams in.
#[derive(Debug, Default)]
pub struct Streamed {
    text: String,
    /// Where the block still open begins: the text before it is rendered for good.
    settled: usize,
}

/// What a chunk changes on the page.
#[derive(Debug, PartialEq, Eq)]
pub struct Grown {
    /// The HTML of the blocks this chunk closed, to append after those already shown.
    pub settled: String,
    /// The HTML of the block still open, to replace the previous one.
    pub open: String,
}

impl Streamed {
    /// Adds `delta` to the answer: the blocks it closed and the block still open, rendered.
    pub fn push(&mut self, delta: &str) -> Grown {
        self.text.push_str(delta);
        let open = &self.text[self.settled..];
        let closed = last_block_start(open);
        let settled = render(&open[..closed]);
        self.settled += closed;
        Grown {
            settled,
            open: render(&self.text[self.settled..]),
        }
    }

    /// At the answer's end: the whole answer's HTML when the blocks sent differ from it (the
    /// answer defines link references, which blocks rendered apart did not see), to replace them;
    /// `None` when the page already shows the whole answer.
    pub fn finish(&self) -> Option<String> {
        // A definition holds `]:`; most answers have none and cost no second parse.
        if !self.text.contains("]:") {
            return None;
        }
        let parser = Parser::new_ext(&self.text, OPTIONS);
        let defines = parser.reference_definitions().iter().next().is_some();
        defines.then(|| render(&self.text))
    }

    /// The answer so far, as the model wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

/// Where the last top-level block of `markdown`'s complete lines begins (the start of its line),
/// 0 when there is only one: everything before it is closed. The unfinished last line is left
/// out, as a line's first characters can read as another block than the whole line (`#` is a
/// heading, `##hashtag` is not).
fn last_block_start(markdown: &str) -> usize {
    let lines = markdown.rfind('\n').map_or(0, |end| end + 1);
    let complete = &markdown[..lines];
    let mut depth = 0_usize;
    let mut last = 0;
    for (event, range) in Parser::new_ext(complete, OPTIONS).into_offset_iter() {
        let starts = match event {
            Event::Start(_) => {
                depth += 1;
                depth == 1
            }
            Event::End(_) => {
                depth -= 1;
                false
            }
            Event::Rule => depth == 0,
            _ => false,
        };
        if starts {
            last = complete[..range.start].rfind('\n').map_or(0, |end| end + 1);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::{Streamed, render};

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

    /// An answer with a block of each kind, and ones later lines change (setext headings, loose
    /// lists, tables, `#` that is not a heading).
    const ANSWER: &str = "# Titre\n\nUn paragraphe\nsur deux lignes.\n\n- un\n- deux\n\n- trois\n\n\
        Sous-titre\n---\n\n```rust\nfn main() {}\n\n// fin\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\
        > cité\nsuite\n\n***\n\n1. premier\n2. second\n\n    indenté\n\nfin\n##hashtag\n\n\
        <script>alert(1)</script>\n\n[clic](javascript:alert(2)) et `code`";

    /// Reference links used before and after their definitions (one unsafe), and a footnote.
    const REFERENCES: &str = "\n\nVoir [la source][src] et [ailleurs][mal], puis [src].\n\n\
        [src]: https://example.com/source \"Source\"\n[mal]: javascript:alert(3)\n\n\
        Encore [src] après sa définition, et une note[^1].\n\n[^1]: pas une note de bas de page";

    /// The answer as is, and with reference links.
    fn answers() -> [String; 2] {
        [ANSWER.to_owned(), format!("{ANSWER}{REFERENCES}")]
    }

    /// The page's HTML after each chunk: the settled blocks appended, the open one replacing; at
    /// the end, the whole answer when it is sent again.
    fn streamed(chunks: impl Iterator<Item = String>) -> String {
        let mut answer = Streamed::default();
        let (mut shown, mut open) = (String::new(), String::new());
        for chunk in chunks {
            let grown = answer.push(&chunk);
            shown.push_str(&grown.settled);
            open = grown.open;
        }
        answer.finish().unwrap_or(shown + &open)
    }

    #[test]
    fn reference_links_render_at_the_end_sanitized_and_only_when_defined() {
        let whole = render(&answers()[1]);
        assert!(
            whole.contains(r#"<a href="https://example.com/source" title="Source""#),
            "{whole}"
        );
        assert_eq!(
            whole.matches("https://example.com/source").count(),
            3,
            "{whole}"
        );
        assert!(!whole.contains("javascript:"), "{whole}");
        assert!(whole.contains("[^1]"), "footnotes are not enabled: {whole}");
        let mut answer = Streamed::default();
        answer.push("Un [lien][x] puis\n\nla suite: [x]\n");
        assert_eq!(answer.finish(), None, "nothing defined: nothing sent again");
        answer.push("\n[x]: https://example.com\n");
        let finished = answer.finish().unwrap();
        assert_eq!(finished, render(answer.text()));
        assert!(
            finished.contains(r#"<a href="https://example.com""#),
            "{finished}"
        );
    }

    #[test]
    fn an_answer_streamed_in_any_chunks_renders_as_the_whole() {
        for answer in answers() {
            let whole = render(&answer);
            let chars: Vec<char> = answer.chars().collect();
            for size in [1, 2, 3, 5, 7, 16, 64] {
                let chunks = chars.chunks(size).map(|c| c.iter().collect::<String>());
                assert_eq!(streamed(chunks), whole, "in chunks of {size} characters");
            }
            for split in 0..chars.len() {
                let (head, tail) = chars.split_at(split);
                let chunks = [head, tail]
                    .into_iter()
                    .map(|c| c.iter().collect::<String>());
                assert_eq!(streamed(chunks), whole, "split at {split}");
            }
        }
    }

    #[test]
    fn a_block_is_rendered_once_it_is_closed_and_never_again() {
        let mut answer = Streamed::default();
        let first = answer.push("Premier paragraphe.\n\nSec");
        assert_eq!(
            first.settled, "",
            "the next block's line is not complete yet"
        );
        assert_eq!(first.open, "<p>Premier paragraphe.</p>\n<p>Sec</p>\n");
        let second = answer.push("ond.\n");
        assert_eq!(second.settled, "<p>Premier paragraphe.</p>\n");
        assert_eq!(second.open, "<p>Second.</p>\n");
        let third = answer.push("Suite.");
        assert_eq!(third.settled, "", "the first paragraph is not sent again");
        assert_eq!(third.open, "<p>Second.\nSuite.</p>\n");
        assert_eq!(answer.text(), "Premier paragraphe.\n\nSecond.\nSuite.");
    }

    #[test]
    fn a_streamed_script_stays_inert() {
        let chunks = ["<scr", "ipt>alert(1)</sc", "ript>\n\n[a](java", "script:x)"];
        let html = streamed(chunks.into_iter().map(str::to_owned));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
    }
}
