//! Rules on documents: the repository stands alone (no machine paths, no link leaving it or
//! leading nowhere), and `ARCHITECTURE.md`'s code map names every crate.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};

use crate::{files, files_with, report, root, text};

/// Folders that exist on one machine only; written in pieces so that this file passes its own
/// check.
const MACHINE_FOLDERS: [&str; 3] = ["work", "home", "root"];

#[test]
fn no_file_names_a_folder_of_one_machine() {
    let folders: Vec<String> = MACHINE_FOLDERS.iter().map(|f| format!("/{f}/")).collect();
    let mut problems = Vec::new();
    for path in files() {
        if path.ends_with("Cargo.lock") {
            continue;
        }
        let Some(text) = text(&path) else { continue };
        for (index, line) in text.lines().enumerate() {
            if let Some(folder) = folders.iter().find(|f| starts_a_path(line, f)) {
                problems.push(format!(
                    "{}:{}: `{folder}…` is a folder of one machine; name the file relative to the repository",
                    path.display(),
                    index + 1
                ));
            }
        }
    }
    report("machine paths", &problems);
}

/// Whether `folder` starts a path in `line`, rather than continuing one (`https://x.org/home/`).
fn starts_a_path(line: &str, folder: &str) -> bool {
    line.match_indices(folder).any(|(at, _)| {
        line[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || "._-~/".contains(c)))
    })
}

#[test]
fn every_relative_link_resolves_inside_the_repository() {
    let root = root();
    let mut problems = Vec::new();
    for path in files_with("md") {
        let Some(text) = text(&path) else { continue };
        for target in link_targets(&text) {
            let Some(file) = local_file(&target) else {
                continue;
            };
            let base = if file.starts_with('/') {
                PathBuf::new()
            } else {
                path.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            let at = format!("{}: link `{target}`", path.display());
            match normalize(&base.join(file.trim_start_matches('/'))) {
                None => problems.push(format!("{at} leaves the repository")),
                Some(resolved) if !root.join(&resolved).exists() => {
                    problems.push(format!("{at}: {} does not exist", resolved.display()))
                }
                Some(_) => {}
            }
        }
    }
    report("document links", &problems);
}

/// The destinations of the links and images of a Markdown text.
fn link_targets(markdown: &str) -> Vec<String> {
    Parser::new(markdown)
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                Some(dest_url.into_string())
            }
            _ => None,
        })
        .collect()
}

/// The file part of a link to a repository file; `None` for a web address, a mail address or
/// an anchor in the same document.
fn local_file(target: &str) -> Option<&str> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let file = target.split(['#', '?']).next().unwrap_or_default();
    (!file.is_empty()).then_some(file)
}

/// `path` with `.` and `..` resolved, relative to the repository root; `None` when it climbs
/// out of it.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

#[test]
fn the_code_map_names_every_crate_and_only_crates() {
    let map = code_map(&text(Path::new("ARCHITECTURE.md")).unwrap_or_default());
    let crates = crate_folders();
    let mut problems = Vec::new();
    for name in crates.difference(&map) {
        problems.push(format!(
            "crate `{name}` has no entry: add a heading `### \u{60}{name}\u{60}` with its invariant under \
             ARCHITECTURE.md's code map"
        ));
    }
    for name in map.difference(&crates) {
        problems.push(format!(
            "ARCHITECTURE.md's code map names `{name}`, which is no crate"
        ));
    }
    report("code map", &problems);
}

/// The crate folders, `crates/<name>` with a `Cargo.toml`.
fn crate_folders() -> BTreeSet<String> {
    files()
        .into_iter()
        .filter_map(|path| match path.iter().collect::<Vec<_>>()[..] {
            [crates, name, manifest] if crates == "crates" && manifest == "Cargo.toml" => {
                Some(name.to_string_lossy().into_owned())
            }
            _ => None,
        })
        .collect()
}

/// The crates the code map names: the headings made of one code span (`` `gateway` `` or
/// `` `crates/gateway` ``) in the section whose title speaks of the code map or the crates.
fn code_map(markdown: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_map = false;
    let mut heading: Option<(HeadingLevel, Vec<Event>)> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => heading = Some((level, Vec::new())),
            Event::End(TagEnd::Heading(_)) => {
                let Some((level, events)) = heading.take() else {
                    continue;
                };
                if level <= HeadingLevel::H2 {
                    let title = plain_text(&events).to_lowercase();
                    in_map = title.contains("code map") || title.contains("crates");
                } else if let (true, [Event::Code(code)]) = (in_map, &events[..]) {
                    names.insert(code.trim_start_matches("crates/").to_owned());
                }
            }
            other => {
                if let Some((_, events)) = heading.as_mut() {
                    events.push(other);
                }
            }
        }
    }
    names
}

fn plain_text(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Text(text) | Event::Code(text) => Some(text.as_ref()),
            _ => None,
        })
        .collect()
}
