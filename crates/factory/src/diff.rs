//! The difference between two versions: the template line by line (a unified diff), and every
//! other field that changed, with its old and new values.

use serde::Serialize;
use serde_json::Value;

use crate::registry::VersionSpec;

/// What changed from one version to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionDiff {
    /// The template's unified diff; empty when it did not change.
    pub template: String,
    /// The other fields that changed: name, old value, new value.
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// The diff from `old` to `new`.
pub fn diff(old: &VersionSpec, new: &VersionSpec) -> VersionDiff {
    let template = if old.template == new.template {
        String::new()
    } else {
        similar::TextDiff::from_lines(&old.template, &new.template)
            .unified_diff()
            .header("template (old)", "template (new)")
            .to_string()
    };
    let as_map = |spec: &VersionSpec| match serde_json::to_value(spec) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (before, after) = (as_map(old), as_map(new));
    let fields = after
        .iter()
        .filter(|(name, _)| name.as_str() != "template")
        .filter_map(|(name, value)| {
            let was = before.get(name).cloned().unwrap_or(Value::Null);
            (was != *value).then(|| FieldChange {
                field: name.clone(),
                old: was,
                new: value.clone(),
            })
        })
        .collect();
    VersionDiff { template, fields }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shows_the_template_lines_and_the_fields_that_changed() {
        let spec = |template: &str, model: &str| -> VersionSpec {
            serde_json::from_value(json!({"template": template, "model": model}))
                .unwrap_or_else(|e| unreachable!("{e}"))
        };
        let d = diff(&spec("a\nb\n", "m1"), &spec("a\nc\n", "m2"));
        assert!(d.template.contains("-b\n+c\n"), "{}", d.template);
        assert_eq!(d.fields.len(), 1);
        assert_eq!(d.fields[0].field, "model");
        assert_eq!(d.fields[0].new, "m2");
        assert!(diff(&spec("a", "m"), &spec("a", "m")).fields.is_empty());
    }
}
