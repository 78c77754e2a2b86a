//! Rules shared by several sections: name shapes, URLs, credentials read from the environment,
//! numbers that must be at least 1.

use crate::error::Collector;

/// The looked-up environment, as given to `Config::from_toml`.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Clone, Copy)]
pub(crate) enum NameRule {
    /// `[a-z0-9][a-z0-9_-]*`: endpoint, pool and classification names.
    Identifier,
    /// `[a-z0-9][a-z0-9-]*`: entity slugs, which appear in URLs.
    Slug,
}

/// Hand-written rather than a regex: two character classes do not justify a dependency.
pub(crate) fn name_problem(name: &str, rule: NameRule) -> Option<String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = name.chars().all(|c| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '-'
            || (c == '_' && matches!(rule, NameRule::Identifier))
    });
    if first_ok && rest_ok {
        return None;
    }
    let allowed = match rule {
        NameRule::Identifier => "lowercase letters, digits, `-` and `_`",
        NameRule::Slug => "lowercase letters, digits and `-`",
    };
    Some(format!(
        "`{name}` is not a valid name: use {allowed}, starting with a letter or digit"
    ))
}

/// Why `url` is not a usable base URL, if it is not.
pub(crate) fn url_problem(url: &str) -> Option<String> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Some(format!("`{url}` is not an http:// or https:// URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        // Not echoed: the part before `@` is a credential.
        return Some("credentials do not belong in the URL; use `api_key_env`".to_owned());
    }
    if authority.is_empty() {
        return Some(format!("`{url}` has no host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!("`{url}` contains whitespace"));
    }
    if url.contains('?') || url.contains('#') {
        return Some(format!(
            "`{url}` must not have a query or fragment: request paths are appended to it"
        ));
    }
    None
}

/// Resolves `api_key_env`. Messages name the variable and never show its value.
pub(crate) fn credential(
    variable: &str,
    key: &str,
    env: Env<'_>,
    errors: &mut Collector,
) -> Option<String> {
    let valid_name = variable
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && variable
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        errors.push(
            key,
            format!("`{variable}` is not an environment variable name (letters, digits and `_`, not starting with a digit); put the credential in that variable, not in the file"),
        );
        return None;
    }
    match env(variable) {
        None => {
            errors.push(key, format!("environment variable `{variable}` is not set"));
            None
        }
        Some(value) if value.trim().is_empty() => {
            errors.push(key, format!("environment variable `{variable}` is empty"));
            None
        }
        Some(value) => Some(value),
    }
}

/// A number that must be at least 1, or its default when absent. Reports and returns the default
/// when it is 0.
pub(crate) fn at_least_one(
    value: Option<u64>,
    default: u64,
    key: &str,
    errors: &mut Collector,
) -> u64 {
    match value {
        None => default,
        Some(0) => {
            errors.push(key, "must be at least 1");
            default
        }
        Some(value) => value,
    }
}

pub(crate) fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
