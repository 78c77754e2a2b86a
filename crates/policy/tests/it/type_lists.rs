//! The prose lists of personal-data types name exactly the types of `PiiType::ALL`, in its order:
//! the README's data-policy section and the crate documentation's accepted forms.

use std::path::PathBuf;

use policy::PiiType;

fn read(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The backquoted names in capitals in `text` (`PHONE_FR`, not `2A` nor `0X XX…`), in order of
/// appearance, without repeats.
fn names_in(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (index, part) in text.split('`').enumerate() {
        let is_name = index % 2 == 1
            && part.starts_with(|c: char| c.is_ascii_uppercase())
            && part
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if is_name && !names.iter().any(|name| name == part) {
            names.push(part.to_owned());
        }
    }
    names
}

fn all_names() -> Vec<String> {
    PiiType::ALL
        .iter()
        .map(|kind| kind.as_str().to_owned())
        .collect()
}

#[test]
fn the_readme_lists_every_type() {
    let readme = read("../../README.md");
    let sentence = readme
        .split("\n\n")
        .find(|paragraph| paragraph.starts_with("A data policy says, per personal-data type"))
        .unwrap();
    let list = sentence.split(')').next().unwrap_or_default();
    assert_eq!(names_in(list), all_names());
}

#[test]
fn the_crate_documentation_describes_every_type() {
    let lib = read("src/lib.rs");
    let forms = lib
        .split("//! # Accepted forms, in brief")
        .nth(1)
        .and_then(|rest| rest.split("//! # ").next())
        .unwrap();
    let described: Vec<String> = forms
        .lines()
        .filter(|line| line.starts_with("//! - "))
        .flat_map(names_in)
        .collect();
    assert_eq!(described, all_names());
}

#[test]
fn an_unknown_type_is_answered_with_every_name() {
    let error = "PHONE".parse::<PiiType>().unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "unknown personal-data type `PHONE` (expected one of {})",
            all_names().join(", ")
        )
    );
}
