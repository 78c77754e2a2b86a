//! Reading the file as written, in two steps so that one mistake does not hide the others: the
//! top level first (TOML syntax and unknown top-level keys, with line and column), then every
//! section and every `[[…]]` item on its own, each with the key path of its first problem. The
//! sections' raw structs (serde mirrors of the keys, unknown keys refused) live with their
//! sections in `section/`; this module only knows the two shapes a section can have.

use serde::de::DeserializeOwned;
use toml::Value;

use crate::error::Collector;

/// A single-valued section (`[server]`, `classifications`…).
pub(crate) enum Section<T> {
    /// Not in the file: defaults apply.
    Absent,
    /// In the file but unreadable; the error is already reported. Defaults stand in so the rest can
    /// still be checked.
    Invalid,
    Given(T),
}

impl<T: Default> Section<T> {
    pub(crate) fn given_or_default(self) -> T {
        match self {
            Section::Given(value) => value,
            Section::Absent | Section::Invalid => T::default(),
        }
    }
}

/// An array-of-tables section (`[[endpoints]]`…), as far as it could be read.
pub(crate) struct Items<T> {
    /// Items that deserialized, with their position in the file (for key paths).
    pub given: Vec<(usize, T)>,
    /// Names (or slugs) of items that did not deserialize: references to them are not reported as
    /// unknown, since the real mistake is already reported.
    pub invalid_names: Vec<String>,
    /// The section itself was not an array of tables: no reference into it can be checked.
    pub wholly_invalid: bool,
}

pub(crate) fn section<T: DeserializeOwned>(
    value: Option<Value>,
    key: &str,
    errors: &mut Collector,
) -> Section<T> {
    match value {
        None => Section::Absent,
        Some(value) => match deserialize(value, key, errors) {
            Some(typed) => Section::Given(typed),
            None => Section::Invalid,
        },
    }
}

pub(crate) fn items<T: DeserializeOwned>(
    value: Option<Value>,
    key: &str,
    name_key: &str,
    errors: &mut Collector,
) -> Option<Items<T>> {
    let value = value?;
    let mut items = Items {
        given: Vec::new(),
        invalid_names: Vec::new(),
        wholly_invalid: false,
    };
    let Value::Array(array) = value else {
        errors.push(
            key,
            format!(
                "expected an array of tables (`[[{key}]]`), found {}",
                value.type_str()
            ),
        );
        items.wholly_invalid = true;
        return Some(items);
    };
    for (index, item) in array.into_iter().enumerate() {
        let name = item
            .get(name_key)
            .and_then(Value::as_str)
            .map(str::to_owned);
        match deserialize(item, &format!("{key}[{index}]"), errors) {
            Some(typed) => items.given.push((index, typed)),
            None => items.invalid_names.extend(name),
        }
    }
    Some(items)
}

/// Deserializes one section or item, reporting its first problem under its full key path.
fn deserialize<T: DeserializeOwned>(
    value: Value,
    prefix: &str,
    errors: &mut Collector,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(typed) => Some(typed),
        Err(error) => {
            let mut key = prefix.to_owned();
            for segment in error.path().iter() {
                match segment {
                    serde_path_to_error::Segment::Seq { index } => {
                        key.push_str(&format!("[{index}]"))
                    }
                    serde_path_to_error::Segment::Map { key: name } => push_key(&mut key, name),
                    serde_path_to_error::Segment::Enum { .. }
                    | serde_path_to_error::Segment::Unknown => {}
                }
            }
            let (key, message) = describe(key, error.inner().message());
            errors.push(key, message);
            None
        }
    }
}

/// Rewrites serde's wording about keys into the key path plus a message about that key.
fn describe(mut key: String, message: &str) -> (String, String) {
    let quoted_after = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
    };
    if let Some((field, expected)) = quoted_after("unknown field `") {
        // serde_path_to_error already ends the path with the unknown key; toml's top-level error
        // has no path at all.
        if key != field && !key.ends_with(&format!(".{field}")) {
            push_key(&mut key, field);
        }
        let expected = expected.trim_start_matches(',').trim();
        return (key, format!("unknown key; {expected}"));
    }
    if let Some((field, _)) = quoted_after("missing field `") {
        push_key(&mut key, field);
        return (key, "required key is missing".to_owned());
    }
    (key, message.to_owned())
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// A whole-document error from toml: a syntax error, or an unknown top-level key. toml stops at the
/// first such error, so there is at most one.
pub(crate) fn report_document_error(text: &str, error: &toml::de::Error, errors: &mut Collector) {
    let location = error.span().map(|span| {
        let (line, column) = line_and_column(text, span.start);
        format!("line {line}, column {column}")
    });
    let (key, message) = describe(String::new(), error.message());
    match (key.is_empty(), location) {
        (true, Some(location)) => errors.push(location, message),
        (true, None) => errors.push("", message),
        (false, Some(location)) => errors.push(key, format!("{message} ({location})")),
        (false, None) => errors.push(key, message),
    }
}

/// One-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}
