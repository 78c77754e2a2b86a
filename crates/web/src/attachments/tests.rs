//! What the chat adds to the reading (`knowledge::extract`, tested there with every kind of
//! document): a question's text trimmed, a document with no text refused, the context estimate.

use super::*;

#[test]
fn a_text_is_given_trimmed_and_one_without_text_is_refused() {
    let markdown = "# Notes\n\nune *liste*\n";
    assert_eq!(
        extract(Kind::Markdown, markdown.as_bytes()).unwrap(),
        markdown.trim()
    );
    assert_eq!(extract(Kind::Text, b" \n\t "), Err(Unreadable::Empty));
    assert_eq!(Kind::of_name("photo.png"), None);
}

#[test]
fn tokens_are_estimated_at_four_characters_each() {
    assert_eq!(estimated_tokens(""), 0);
    assert_eq!(estimated_tokens("abcd"), 1);
    assert_eq!(estimated_tokens("abcde"), 2);
    assert_eq!(estimated_tokens("éééé"), 1, "characters, not bytes");
}
