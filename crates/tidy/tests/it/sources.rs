//! Rules on Rust sources: a `//!` header on every file, lint exceptions that expect and explain.

use crate::{files_with, report, text};

#[test]
fn every_rust_file_opens_with_a_module_comment() {
    let problems: Vec<String> = files_with("rs")
        .into_iter()
        .filter(|path| text(path).is_some_and(|text| !text.starts_with("//!")))
        .map(|path| {
            format!(
                "{}: start the file with `//!` lines saying what it owns",
                path.display()
            )
        })
        .collect();
    report("module comments", &problems);
}

#[test]
fn lint_exceptions_are_expectations_with_a_reason() {
    let mut problems = Vec::new();
    for path in files_with("rs") {
        let Some(text) = text(&path) else { continue };
        for (line, attribute) in lint_attributes(&text) {
            let at = format!("{}:{line}", path.display());
            if attribute.contains("allow(") {
                problems.push(format!(
                    "{at}: `#[allow]` silences a lint for good; write `#[expect(lint, reason = \"…\")]`, \
                     which also reports an exception that no longer applies"
                ));
            } else if !attribute.contains("reason") {
                problems.push(format!("{at}: say why, with `reason = \"…\"`"));
            }
        }
    }
    report("lint exceptions", &problems);
}

/// The attributes that set lint levels (`#[allow(…)]`, `#![expect(…)]`, in a `cfg_attr` too),
/// each with its line number and its whole text, however many lines it spans.
fn lint_attributes(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let line = line.trim_start();
        let is_attribute = line.starts_with("#[") || line.starts_with("#![");
        if !is_attribute || !(line.contains("allow(") || line.contains("expect(")) {
            continue;
        }
        let mut attribute = line.to_owned();
        while !attribute.trim_end().ends_with(']') {
            let Some((_, next)) = lines.next() else { break };
            attribute.push_str(next);
        }
        found.push((index + 1, attribute));
    }
    found
}
