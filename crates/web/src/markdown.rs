//! An answer's Markdown made into HTML that cannot carry markup or script of its own.
//!
//! Two locks: raw HTML in the answer is shown as text (a `<script>` a model writes is read, never
//! run), then `ammonia` keeps only its allow-list of tags, attributes and URL schemes from what
//! `pulldown-cmark` produced (a `javascript:` link loses its target). Links open without a referrer
//! and are marked `nofollow`.
//!
//! Footnotes (`text[^1]` … `[^1]: source`) link to their notes on the page. Their labels are the
//! model's words, so they are never an `id`: each note is named from the answer's place in its
//! conversation and its number (`fn-3-1`), so two answers on one page never share an id, and the
//! sanitizer lets through an `id` of that shape only, and only the footnotes' three classes.
//!
//! A streamed answer is rendered as it grows ([`Streamed`]): each top-level block once, when the
//! next one has begun on a complete line (CommonMark never reopens a closed block), and only the
//! block still open again with each chunk, so rendering costs the answer's length, not its square.
//! The one thing a block rendered apart cannot see is a definition in another block: a link
//! reference's (`[x][ref]` and its `[ref]: url`, before or after it) or a footnote's (`[^1]` and
//! its `[^1]: note`): while streaming such a link or footnote stays text. So at the stream's end
//! ([`Streamed::finish`]) an answer that defines link references or footnotes is rendered whole
//! once more, sanitized the same way, and replaces what the page shows: the page ends showing what
//! the answer reopened shows.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

const OPTIONS: Options = Options::ENABLE_TABLES
    .union(Options::ENABLE_STRIKETHROUGH)
    .union(Options::ENABLE_TASKLISTS)
    .union(Options::ENABLE_FOOTNOTES);

/// The sanitizer, configured once.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder.link_rel(Some("noopener noreferrer nofollow"));
    builder.add_tag_attributes("div", ["id"]);
    builder.allowed_classes(HashMap::from([
        (
            "sup",
            HashSet::from(["footnote-reference", "footnote-definition-label"]),
        ),
        ("div", HashSet::from(["footnote-definition"])),
    ]));
    builder.attribute_filter(|_, attribute, value| {
        (attribute != "id" || is_note_id(value)).then_some(value.into())
    });
    builder
});

/// The HTML of `markdown`, the answer at `place` in its conversation (which names its
/// footnotes), safe to put in a page.
pub fn render(markdown: &str, place: usize) -> String {
    let mut notes = Notes::new(place);
    let events = Parser::new_ext(markdown, OPTIONS).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::FootnoteReference(label) => Event::FootnoteReference(notes.id(&label)),
        Event::Start(Tag::FootnoteDefinition(label)) => {
            Event::Start(Tag::FootnoteDefinition(notes.id(&label)))
        }
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    CLEANER.clean(&html).to_string()
}

/// The ids of an answer's footnotes: `fn-<place>-<n>`, the `n`th label met (labels match
/// whatever their case, as the parser matches them).
struct Notes {
    place: usize,
    labels: Vec<String>,
}

impl Notes {
    fn new(place: usize) -> Notes {
        Notes {
            place,
            labels: Vec::new(),
        }
    }

    fn id(&mut self, label: &str) -> CowStr<'static> {
        let label = label.to_lowercase();
        let n = match self.labels.iter().position(|known| *known == label) {
            Some(known) => known + 1,
            None => {
                self.labels.push(label);
                self.labels.len()
            }
        };
        format!("fn-{}-{n}", self.place).into()
    }
}

/// Whether `id` is one [`Notes`] makes: `fn-`, digits, `-`, digits.
fn is_note_id(id: &str) -> bool {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    id.strip_prefix("fn-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(place, n)| digits(place) && digits(n))
}

/// An answer's Markdown as it streams in.
#[derive(Debug)]
pub struct Streamed {
    text: String,
    /// The answer's place in its conversation, which names its footnotes.
    place: usize,
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
    /// The answer at `place` in its conversation, before its first chunk.
    pub fn new(place: usize) -> Streamed {
        Streamed {
            text: String::new(),
            place,
            settled: 0,
        }
    }

    /// Adds `delta` to the answer: the blocks it closed and the block still open, rendered.
    pub fn push(&mut self, delta: &str) -> Grown {
        self.text.push_str(delta);
        let open = &self.text[self.settled..];
        let closed = last_block_start(open);
        let settled = render(&open[..closed], self.place);
        self.settled += closed;
        Grown {
            settled,
            open: render(&self.text[self.settled..], self.place),
        }
    }

    /// At the answer's end: the whole answer's HTML when the blocks sent differ from it (the
    /// answer defines link references or footnotes, which blocks rendered apart did not see), to
    /// replace them; `None` when the page already shows the whole answer.
    pub fn finish(&self) -> Option<String> {
        // A definition holds `]:`; most answers have none and cost no second parse.
        if !self.text.contains("]:") {
            return None;
        }
        let mut parser = Parser::new_ext(&self.text, OPTIONS);
        let defines = parser.reference_definitions().iter().next().is_some()
            || parser.any(|event| matches!(event, Event::Start(Tag::FootnoteDefinition(_))));
        defines.then(|| render(&self.text, self.place))
    }

    /// The answer so far, as the model wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The answer so far, taken: what is left is empty.
    pub fn take_text(&mut self) -> String {
        self.settled = 0;
        std::mem::take(&mut self.text)
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
    use super::{CLEANER, Streamed, render};

    /// The answers' place in their conversation.
    const PLACE: usize = 3;

    #[test]
    fn markdown_becomes_html() {
        let html = render(
            "# Titre\n\n- un\n- deux\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```",
            PLACE,
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
            PLACE,
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "shown as text: {html}");
        assert!(html.contains(">clic</a>"), "the link's text stays: {html}");
        assert!(!html.contains("javascript:"), "its target goes: {html}");
        assert!(!html.contains("<img"), "{html}");
        let html = render("[site](https://example.com)", PLACE);
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
        Encore [src] après sa définition, et une note[^1].\n\n[^1]: une note de bas de page";

    /// Footnotes used before and after their definitions, one of two paragraphs, one with a link,
    /// one whose label differs in case, one never defined.
    const FOOTNOTES: &str = "\n\nUne note[^1], une autre[^Note] et une absente[^x].\n\n\
        [^1]: La première,\nsur deux lignes.\n\n    Son second paragraphe.\n\n\
        [^note]: La seconde, avec [un lien](https://example.com).\n\nEncore la première[^1].";

    /// The answer as is, with reference links, and with footnotes.
    fn answers() -> [String; 3] {
        [
            ANSWER.to_owned(),
            format!("{ANSWER}{REFERENCES}"),
            format!("{ANSWER}{FOOTNOTES}"),
        ]
    }

    /// The page's HTML after each chunk: the settled blocks appended, the open one replacing; at
    /// the end, the whole answer when it is sent again.
    fn streamed(chunks: impl Iterator<Item = String>) -> String {
        let mut answer = Streamed::new(PLACE);
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
        let whole = render(&answers()[1], PLACE);
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
        let mut answer = Streamed::new(PLACE);
        answer.push("Un [lien][x] puis\n\nla suite: [x]\n");
        assert_eq!(answer.finish(), None, "nothing defined: nothing sent again");
        answer.push("\n[x]: https://example.com\n");
        let finished = answer.finish().unwrap();
        assert_eq!(finished, render(answer.text(), PLACE));
        assert!(
            finished.contains(r#"<a href="https://example.com""#),
            "{finished}"
        );
    }

    #[test]
    fn an_answer_streamed_in_any_chunks_renders_as_the_whole() {
        for answer in answers() {
            let whole = render(&answer, PLACE);
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
        let mut answer = Streamed::new(PLACE);
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

    #[test]
    fn footnotes_link_to_their_notes_named_by_the_answers_place() {
        let html = render(&answers()[2], PLACE);
        let reference = concat!(
            r#"<sup class="footnote-reference">"#,
            r##"<a href="#fn-3-1" rel="noopener noreferrer nofollow">1</a></sup>"##
        );
        assert_eq!(html.matches(reference).count(), 2, "{html}");
        assert!(html.contains(r##"<a href="#fn-3-2""##), "{html}");
        let note = concat!(
            r#"<div class="footnote-definition" id="fn-3-1">"#,
            r#"<sup class="footnote-definition-label">1</sup>"#
        );
        assert!(html.contains(note), "{html}");
        assert!(
            html.contains(r#"id="fn-3-2""#),
            "matched whatever the case: {html}"
        );
        assert!(html.contains("<p>Son second paragraphe.</p>"), "{html}");
        assert!(
            html.contains("absente[^x]"),
            "an undefined note stays text: {html}"
        );
        let other = render(&answers()[2], PLACE + 1);
        assert!(other.contains(r#"id="fn-4-1""#), "{other}");
        assert!(
            !other.contains("fn-3-"),
            "another answer, other ids: {other}"
        );
    }

    #[test]
    fn a_footnote_cannot_inject_markup_or_a_javascript_link() {
        let html = render(
            "Un[^\"><script>alert(1)</script>], deux[^javascript:alert(2)], \
             trois[^x\"onclick=\"alert(3)].\n\n\
             [^\"><script>alert(1)</script>]: <img src=x onerror=alert(4)>\n\n\
             [^javascript:alert(2)]: [clic](javascript:alert(5))\n\n\
             [^x\"onclick=\"alert(3)]: <div id=\"transcript\" class=\"footnote-definition\">\n\n\
             <p id=\"fn-1-1\" class=\"footnote-reference\">",
            PLACE,
        );
        for banned in [
            "<script",
            "javascript:",
            "onclick",
            "<img",
            "<div id",
            "<p id",
        ] {
            assert!(!html.contains(banned), "{banned}: {html}");
        }
        assert!(html.contains("&lt;div id="), "raw HTML is text: {html}");
        let notes: Vec<&str> = html
            .split(r#"<div class="footnote-definition" id=""#)
            .skip(1)
            .collect();
        assert_eq!(notes.len(), 3, "{html}");
        for (n, note) in notes.iter().enumerate() {
            assert!(note.starts_with(&format!("fn-3-{}\"", n + 1)), "{html}");
        }
        // The sanitizer itself keeps only a note's id and the footnotes' classes.
        let cleaned = CLEANER.clean(concat!(
            r#"<div id="transcript" class="x footnote-definition"></div><div id="fn-1-2"></div>"#,
            r#"<p id="fn-1-3" class="footnote-reference"></p><div id="fn-1-"></div>"#
        ));
        assert_eq!(
            cleaned.to_string(),
            r#"<div class="footnote-definition"></div><div id="fn-1-2"></div><p></p><div></div>"#
        );
    }

    #[test]
    fn a_streamed_answer_with_footnotes_ends_rendered_whole() {
        let mut answer = Streamed::new(PLACE);
        let first = answer.push("Une note[^1].\n\nSuite.\n\n");
        assert!(
            first.settled.contains("note[^1]"),
            "no definition yet: {first:?}"
        );
        assert_eq!(answer.finish(), None, "a note referenced, none defined");
        answer.push("[^1]: La source.\n");
        let finished = answer.finish().unwrap();
        assert_eq!(finished, render(answer.text(), PLACE));
        assert!(finished.contains(r##"<a href="#fn-3-1""##), "{finished}");
        assert!(finished.contains(r#"id="fn-3-1""#), "{finished}");
    }
}
