//! The chat request a use case's model receives: the caller's request with the version applied.
//!
//! - `messages`: the rendered system prompt (when the template is not empty), the version's
//!   few-shot messages, then the caller's messages, in that order;
//! - `model`: the version's; its parameters (`temperature`, `max_tokens`, …) set over the
//!   caller's, so the version's values win; its `tools` replace the caller's; its output schema
//!   becomes `response_format` (`json_schema`, strict);
//! - the variables are read from the `fabrique` extension field (`{"fabrique": {"variables":
//!   {…}}}`), else from the OpenAI/Mistral `metadata` field; `fabrique` is removed, as no backend
//!   knows it. Every other field of the caller's (`stream`, `user`, `metadata`…) passes through.
//!
//! The evaluation runner builds its calls with the same function, so a version is evaluated on
//! exactly the request it will send in production.

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use wire::object::RawObject;

use crate::registry::VersionSpec;
use crate::template::{self, TemplateError};

/// Why a caller's request cannot be composed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("`{field}` must be {expected}")]
    Field {
        field: &'static str,
        expected: &'static str,
    },
}

/// The variables the caller passed: `fabrique.variables`, else `metadata`; empty when neither.
pub fn variables(object: &RawObject<'_>) -> Result<Map<String, Value>, ComposeError> {
    if let Some(raw) = object.get("fabrique") {
        let extension: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        return match extension {
            Value::Object(mut fields) => match fields.remove("variables") {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(variables)) => Ok(variables),
                Some(_) => Err(ComposeError::Field {
                    field: "fabrique.variables",
                    expected: "an object of named values",
                }),
            },
            Value::Null => Ok(Map::new()),
            _ => Err(ComposeError::Field {
                field: "fabrique",
                expected: "an object",
            }),
        };
    }
    match object
        .get("metadata")
        .map(|raw| serde_json::from_str(raw.get()))
    {
        None | Some(Ok(Value::Null)) => Ok(Map::new()),
        Some(Ok(Value::Object(variables))) => Ok(variables),
        Some(_) => Err(ComposeError::Field {
            field: "metadata",
            expected: "an object",
        }),
    }
}

/// The request body for `version`, from the caller's parsed request.
pub fn compose(version: &VersionSpec, caller: &RawObject<'_>) -> Result<Vec<u8>, ComposeError> {
    let given = variables(caller)?;
    let system = template::render(&version.template, &given)?;
    let theirs: Vec<Box<RawValue>> = match caller.get("messages") {
        Some(raw) => serde_json::from_str(raw.get()).map_err(|_| ComposeError::Field {
            field: "messages",
            expected: "an array of messages",
        })?,
        None => Vec::new(),
    };
    let mut messages = Vec::with_capacity(1 + version.few_shot.len() + theirs.len());
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}).to_string());
    }
    messages.extend(version.few_shot.iter().map(Value::to_string));
    messages.extend(theirs.iter().map(|m| m.get().to_owned()));
    let mut object = caller.clone();
    object.remove("fabrique");
    let set = |object: &mut RawObject<'_>, key: &str, json: String| {
        object.set_owned(key.to_owned(), json)
    };
    set(
        &mut object,
        "model",
        Value::String(version.model.clone()).to_string(),
    )
    .map_err(|_| bad_version())?;
    set(&mut object, "messages", format!("[{}]", messages.join(","))).map_err(|_| bad_version())?;
    for (key, value) in &version.parameters {
        set(&mut object, key, value.to_string()).map_err(|_| bad_version())?;
    }
    if !version.tools.is_empty() {
        set(
            &mut object,
            "tools",
            Value::from(version.tools.clone()).to_string(),
        )
        .map_err(|_| bad_version())?;
    }
    if let Some(schema) = &version.output_schema {
        let format = json!({
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": true}
        });
        set(&mut object, "response_format", format.to_string()).map_err(|_| bad_version())?;
    }
    Ok(object.to_vec())
}

/// A version's own JSON always serializes; this names the impossible case without a panic.
fn bad_version() -> ComposeError {
    ComposeError::Field {
        field: "version",
        expected: "valid JSON",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> VersionSpec {
        serde_json::from_value(json!({
            "template": "Extract clauses for {{client}}.",
            "model": "mistral-small",
            "parameters": {"temperature": 0.1, "max_tokens": 200},
            "few_shot": [{"role": "user", "content": "ex"}, {"role": "assistant", "content": "out"}],
            "output_schema": {"type": "object"}
        }))
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn composed(body: &str) -> Result<Value, ComposeError> {
        let object = RawObject::parse(body.as_bytes()).map_err(|_| bad_version())?;
        let bytes = compose(&spec(), &object)?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    #[test]
    fn the_version_is_applied_and_the_callers_messages_appended() {
        let got = composed(
            r#"{"model":"usecase/x","temperature":1.5,"stream":true,
                "fabrique":{"variables":{"client":"Ada"}},
                "messages":[{"role":"user","content":"the contract"}]}"#,
        );
        let got = got.unwrap_or(Value::Null);
        assert_eq!(got["model"], "mistral-small");
        assert_eq!(got["temperature"], 0.1);
        assert_eq!(got["max_tokens"], 200);
        assert_eq!(got["stream"], true);
        assert!(got.get("fabrique").is_none());
        assert_eq!(got["response_format"]["type"], "json_schema");
        let roles: Vec<&str> = got["messages"]
            .as_array()
            .map(|m| m.iter().filter_map(|m| m["role"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(got["messages"][0]["content"], "Extract clauses for Ada.");
        assert_eq!(got["messages"][3]["content"], "the contract");
    }

    #[test]
    fn variables_come_from_metadata_too() {
        let got = composed(
            r#"{"model":"usecase/x","metadata":{"client":"Bob"},"messages":[{"role":"user","content":"c"}]}"#,
        )
        .unwrap_or(Value::Null);
        assert_eq!(got["messages"][0]["content"], "Extract clauses for Bob.");
        assert_eq!(got["metadata"]["client"], "Bob");
    }

    #[test]
    fn a_missing_variable_or_a_malformed_extension_is_named() {
        assert_eq!(
            composed(r#"{"model":"usecase/x","messages":[]}"#),
            Err(ComposeError::Template(TemplateError::Missing(
                "client".into()
            )))
        );
        assert_eq!(
            composed(r#"{"model":"u","fabrique":{"variables":[1]},"messages":[]}"#),
            Err(ComposeError::Field {
                field: "fabrique.variables",
                expected: "an object of named values"
            })
        );
    }
}
