//! System-prompt templates with named variables: `{{client}}`, `{{ clause_type }}`. A name is a
//! letter or `_`, then letters, digits or `_`. Text that is not a placeholder is copied as is; a
//! `{{` that does not open a well-formed placeholder is an error when the version is saved, so a
//! typo never reaches a model as literal braces.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template has an unclosed or malformed placeholder at byte {at}")]
    Malformed { at: usize },
    #[error("variable `{0}` is required by the template but was not given")]
    Missing(String),
    #[error("variable `{0}` must be a string, a number or a boolean")]
    NotScalar(String),
}

/// One piece of a parsed template.
enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// The template's pieces, in order.
fn pieces(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        out.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or(TemplateError::Malformed { at: offset + open })?;
        let name = after[..close].trim();
        if !is_name(name) {
            return Err(TemplateError::Malformed { at: offset + open });
        }
        out.push(Piece::Variable(name));
        let consumed = open + 2 + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The variables the template names, sorted; an error when it is malformed.
pub fn variables(template: &str) -> Result<BTreeSet<String>, TemplateError> {
    Ok(pieces(template)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Variable(name) => Some(name.to_owned()),
            Piece::Text(_) => None,
        })
        .collect())
}

/// The template with each placeholder replaced by its variable's value. Variables the template
/// does not name are ignored; a named one that is missing is an error.
pub fn render(template: &str, given: &Map<String, Value>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Variable(name) => match given.get(name) {
                Some(Value::String(text)) => out.push_str(text),
                Some(value @ (Value::Number(_) | Value::Bool(_))) => {
                    out.push_str(&value.to_string());
                }
                Some(_) => return Err(TemplateError::NotScalar(name.to_owned())),
                None => return Err(TemplateError::Missing(name.to_owned())),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn renders_named_variables_with_or_without_spaces() {
        let given = vars(json!({"client": "Ada", "n": 3, "unused": "x"}));
        assert_eq!(
            render("Dear {{client}}, {{ n }} items.", &given),
            Ok("Dear Ada, 3 items.".to_owned())
        );
        assert_eq!(
            variables("{{b}} {{ a }} {{b}}").map(|v| v.into_iter().collect::<Vec<_>>()),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
    }

    #[test]
    fn says_what_is_wrong() {
        let given = vars(json!({"list": [1]}));
        assert_eq!(
            render("{{missing}}", &given),
            Err(TemplateError::Missing("missing".into()))
        );
        assert_eq!(
            render("{{list}}", &given),
            Err(TemplateError::NotScalar("list".into()))
        );
        assert_eq!(
            render("ab {{oops", &given),
            Err(TemplateError::Malformed { at: 3 })
        );
        assert_eq!(
            variables("{{two words}}"),
            Err(TemplateError::Malformed { at: 0 })
        );
        assert_eq!(
            render("no placeholders", &given),
            Ok("no placeholders".into())
        );
    }
}
