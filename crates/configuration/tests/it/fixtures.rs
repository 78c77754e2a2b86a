//! Runs every fixture file and compares the outcome with its snapshot.

use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use configuration::Config;

use crate::{ENVIRONMENT, env};

#[test]
fn valid_fixtures_load_and_match_their_snapshots() -> Result<(), Box<dyn Error>> {
    check_folder("valid", |text, source| {
        match Config::from_toml(text, source, &env) {
            Ok(config) => Ok(format!("{config:#?}\n")),
            Err(errors) => Err(format!("expected to load, got:\n{errors}")),
        }
    })
}

#[test]
fn invalid_fixtures_fail_with_their_snapshot_errors() -> Result<(), Box<dyn Error>> {
    check_folder("invalid", |text, source| {
        match Config::from_toml(text, source, &env) {
            Ok(config) => Err(format!(
                "expected errors, got a configuration:\n{config:#?}"
            )),
            Err(errors) => Ok(format!("{errors}\n")),
        }
    })
}

/// Runs `run` on every `.toml` in the folder and compares its output with the `.txt` next to it,
/// collecting every mismatch before failing so one run shows them all.
fn check_folder(
    folder: &str,
    run: impl Fn(&str, &str) -> Result<String, String>,
) -> Result<(), Box<dyn Error>> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(folder);
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut files = Vec::new();
    for entry in fs::read_dir(&directory)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            files.push(path);
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", directory.display());

    let mut failures = String::new();
    for file in &files {
        let source = file
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or("fixture names are UTF-8")?;
        let text = fs::read_to_string(file)?;
        let actual = match run(&text, source) {
            Ok(actual) => actual,
            Err(problem) => {
                let _ = writeln!(failures, "--- {folder}/{source}: {problem}");
                continue;
            }
        };
        for (name, value) in ENVIRONMENT {
            if !value.is_empty() && actual.contains(value) {
                let _ = writeln!(
                    failures,
                    "--- {folder}/{source}: the value of {name} leaked into the output"
                );
            }
        }
        let snapshot = file.with_extension("txt");
        if update {
            fs::write(&snapshot, &actual)?;
            continue;
        }
        match fs::read_to_string(&snapshot) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => {
                let _ = writeln!(
                    failures,
                    "--- {folder}/{source}: expected\n{expected}--- but got\n{actual}"
                );
            }
            Err(_) => {
                let _ = writeln!(
                    failures,
                    "--- {folder}/{source}: no snapshot {}; run with UPDATE_SNAPSHOTS=1. Output:\n{actual}",
                    snapshot.display()
                );
            }
        }
    }
    assert!(failures.is_empty(), "{failures}");
    Ok(())
}
