//! The house rules, one test each; `lib.rs` says what they are and why they are tests.
//!
//! Each test gathers every violation before failing, so one run lists all there is to fix.

#![expect(
    clippy::panic,
    reason = "the helpers fail the test that calls them by panicking, as tests do"
)]

mod docs;
mod layers;
mod modules;
mod sources;

use std::path::{Path, PathBuf};

use walkdir::{DirEntry, WalkDir};

/// The repository's root: two levels above this crate.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|e| panic!("the repository root is not readable: {e}"))
}

/// The repository's files (relative paths, in a stable order): build output, version-control
/// data and local tool folders (`.venv` and other hidden ones, but `.ci`) left out.
fn files() -> Vec<PathBuf> {
    let root = root();
    let mut files: Vec<PathBuf> = WalkDir::new(&root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !is_skipped(entry))
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| entry.path().strip_prefix(&root).ok().map(Path::to_path_buf))
        .collect();
    files.sort();
    files
}

fn is_skipped(entry: &DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy();
    // In a git worktree `.git` is a file naming the main checkout's folder.
    name == ".git"
        || (entry.file_type().is_dir()
            && ((name.starts_with('.') && name != ".ci")
                || name.starts_with("target")
                || name == "__pycache__"
                || name == "node_modules"))
}

/// The files whose name ends with `extension` (`rs`, `md`).
fn files_with(extension: &str) -> Vec<PathBuf> {
    files()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect()
}

/// The text of a repository file; `None` for one that is not UTF-8 (an image, a key…).
fn text(path: &Path) -> Option<String> {
    std::fs::read_to_string(root().join(path)).ok()
}

/// Fails listing every problem found, if any.
fn report(rule: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{rule}: {} problem(s)\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}
