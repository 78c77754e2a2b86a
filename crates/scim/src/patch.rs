//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON representation. The handlers read the
//! resource, apply every operation here, then validate and store the result as a whole, so PATCH
//! and PUT share one path to the store and an invalid result changes nothing.
//!
//! Leniencies kept on purpose, because directories send them: `op` in any case (`Replace`), a
//! `remove` of a multi-valued attribute with a `value` removes just those values, and an `add` or
//! `replace` through a filter of equalities that matches nothing (`emails[type eq "work"].value`)
//! creates the value the filter describes.

use serde_json::{Map, Value};

use crate::ScimError;
use crate::evaluate::{get, is_core, key_of, matches};
use crate::filter::{CompareOp, Filter, Path, parse_path};
use crate::schema::{self, Attribute, Mutability};

/// One operation of a PatchOp request.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: Op,
    pub path: Option<Path>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

/// The most operations one PATCH request may carry: each is applied to the whole document, so
/// the count bounds the work of one request.
pub const MAX_OPERATIONS: usize = 1000;

/// The operations of a PatchOp request body.
pub fn parse_request(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let schemas = get(body, "schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|v| v.as_str() == Some(schema::PATCH_OP))) {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body must list `{}` in `schemas`",
            schema::PATCH_OP
        )));
    }
    let Some(operations) = get(body, "Operations").and_then(Value::as_array) else {
        return Err(ScimError::invalid_syntax(
            "a PATCH body needs an `Operations` array",
        ));
    };
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_value(format!(
            "a PATCH request may carry at most {MAX_OPERATIONS} operations, not {}",
            operations.len()
        )));
    }
    operations
        .iter()
        .enumerate()
        .map(|(index, operation)| {
            let op = match get(operation, "op").and_then(Value::as_str) {
                Some(op) if op.eq_ignore_ascii_case("add") => Op::Add,
                Some(op) if op.eq_ignore_ascii_case("replace") => Op::Replace,
                Some(op) if op.eq_ignore_ascii_case("remove") => Op::Remove,
                other => {
                    return Err(ScimError::invalid_syntax(format!(
                        "Operations[{index}].op must be add, replace or remove, not {other:?}"
                    )));
                }
            };
            let path = match get(operation, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(parse_path(text).map_err(|e| {
                    ScimError::invalid_path(format!("Operations[{index}].path: {e}"))
                })?),
                Some(_) => {
                    return Err(ScimError::invalid_path(format!(
                        "Operations[{index}].path must be a string"
                    )));
                }
            };
            let value = get(operation, "value").cloned();
            if op != Op::Remove && value.is_none() {
                return Err(ScimError::invalid_syntax(format!(
                    "Operations[{index}] ({op:?}) needs a `value`"
                )));
            }
            if op == Op::Remove && path.is_none() {
                return Err(ScimError::no_target(format!(
                    "Operations[{index}]: remove needs a `path`"
                )));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// Applies `operations` in order to `document`, a resource of the schema with `attributes`.
pub fn apply(
    document: &mut Value,
    operations: &[Operation],
    attributes: &[Attribute],
) -> Result<(), ScimError> {
    for operation in operations {
        apply_one(document, operation, attributes)?;
    }
    Ok(())
}

fn apply_one(
    document: &mut Value,
    operation: &Operation,
    attributes: &[Attribute],
) -> Result<(), ScimError> {
    let Some(root) = document.as_object_mut() else {
        return Err(ScimError::internal("a resource is not a JSON object"));
    };
    let Some(path) = &operation.path else {
        // No path: the value is an object of attributes (and extension objects) to add or replace.
        let Some(Value::Object(values)) = &operation.value else {
            return Err(ScimError::invalid_value(
                "without a `path`, the `value` must be an object of attributes",
            ));
        };
        for (name, value) in values {
            if is_read_only_top_level(name) {
                continue;
            }
            if name.to_ascii_lowercase().starts_with("urn:") {
                if is_core(name) {
                    continue;
                }
                let Value::Object(fields) = value else {
                    return Err(ScimError::invalid_value(format!(
                        "`{name}` must be an object"
                    )));
                };
                let extension = object_member(root, name)?;
                let extension_attributes = schema::attributes_of(name).unwrap_or(&[]);
                for (field, field_value) in fields {
                    set_attribute(
                        extension,
                        field,
                        field_value.clone(),
                        operation.op,
                        extension_attributes,
                    );
                }
            } else {
                set_attribute(root, name, value.clone(), operation.op, attributes);
            }
        }
        return Ok(());
    };

    if path.schema.is_none() && is_read_only_top_level(&path.attribute) {
        return Err(ScimError::mutability(format!(
            "`{}` is read-only",
            path.attribute
        )));
    }
    let (container, container_attributes): (&mut Map<String, Value>, &[Attribute]) =
        match &path.schema {
            Some(urn) if !is_core(urn) => {
                let attributes = schema::attributes_of(urn).unwrap_or(&[]);
                if path.attribute.is_empty() {
                    // The path names the extension itself.
                    return apply_to_extension(root, urn, operation, attributes);
                }
                if operation.op == Op::Remove && get_mut(root, urn).is_none() {
                    return Ok(());
                }
                (object_member(root, urn)?, attributes)
            }
            _ => (root, attributes),
        };
    if let Some(definition) = schema::find(container_attributes, &path.attribute) {
        let sub_read_only = path
            .sub_attribute
            .as_deref()
            .and_then(|sub| schema::find(definition.sub_attributes, sub))
            .is_some_and(|s| s.mutability == Mutability::ReadOnly);
        if definition.mutability == Mutability::ReadOnly || sub_read_only {
            return Err(ScimError::mutability(format!(
                "`{}` is read-only",
                path.attribute
            )));
        }
    }
    let value = operation.value.clone().unwrap_or(Value::Null);
    match (&path.filter, &path.sub_attribute) {
        (None, None) => match operation.op {
            Op::Remove => remove_attribute(container, &path.attribute, operation.value.as_ref()),
            op => set_attribute(container, &path.attribute, value, op, container_attributes),
        },
        (None, Some(sub)) => {
            let key = key_of(container, &path.attribute);
            match operation.op {
                Op::Remove => {
                    if let Some(key) = key {
                        for element in elements_mut(container, &key) {
                            remove_member(element, sub);
                        }
                    }
                }
                op => {
                    let key =
                        key.unwrap_or_else(|| canonical(container_attributes, &path.attribute));
                    let target = container
                        .entry(key.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    match target {
                        Value::Array(items) => {
                            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                                set_member(item, sub, value.clone(), op);
                            }
                        }
                        Value::Object(object) => set_member(object, sub, value, op),
                        other => {
                            *other = Value::Object(Map::new());
                            if let Value::Object(object) = other {
                                set_member(object, sub, value, op);
                            }
                        }
                    }
                }
            }
        }
        (Some(filter), sub) => {
            let element_attributes = schema::find(container_attributes, &path.attribute)
                .map(|a| a.sub_attributes)
                .unwrap_or(&[]);
            let key = key_of(container, &path.attribute)
                .unwrap_or_else(|| canonical(container_attributes, &path.attribute));
            let mut matched = 0usize;
            if let Some(Value::Array(items)) = container.get_mut(&key) {
                match (operation.op, sub) {
                    (Op::Remove, None) => {
                        let before = items.len();
                        items.retain(|item| !matches(filter, item, element_attributes));
                        matched = before - items.len();
                    }
                    (op, sub) => {
                        for item in items.iter_mut() {
                            if !matches(filter, item, element_attributes) {
                                continue;
                            }
                            matched += 1;
                            let Some(object) = item.as_object_mut() else {
                                continue;
                            };
                            match (op, sub) {
                                (Op::Remove, Some(sub)) => remove_member(object, sub),
                                (_, Some(sub)) => set_member(object, sub, value.clone(), op),
                                (_, None) => {
                                    if let Value::Object(fields) = &value {
                                        for (field, field_value) in fields {
                                            set_member(object, field, field_value.clone(), op);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if matched == 0 && operation.op != Op::Remove {
                // A filter of equalities describes the value to create.
                let Some(mut created) = described_by(filter) else {
                    return Err(ScimError::no_target(format!(
                        "no value of `{}` matches the filter",
                        path.attribute
                    )));
                };
                match sub {
                    Some(sub) => set_member(&mut created, sub, value, operation.op),
                    None => {
                        if let Value::Object(fields) = value {
                            created.extend(fields);
                        }
                    }
                }
                match container.get_mut(&key) {
                    Some(Value::Array(items)) => items.push(Value::Object(created)),
                    _ => {
                        container.insert(key.clone(), Value::Array(vec![Value::Object(created)]));
                    }
                }
            }
            if let Some(Value::Array(items)) = container.get(&key)
                && items.is_empty()
            {
                container.remove(&key);
            }
        }
    }
    Ok(())
}

/// PATCH on a path naming a whole extension (`urn:…:enterprise:2.0:User`).
fn apply_to_extension(
    root: &mut Map<String, Value>,
    urn: &str,
    operation: &Operation,
    attributes: &[Attribute],
) -> Result<(), ScimError> {
    match operation.op {
        Op::Remove => {
            if let Some(key) = key_of(root, urn) {
                root.remove(&key);
            }
            Ok(())
        }
        op => {
            let Some(Value::Object(fields)) = &operation.value else {
                return Err(ScimError::invalid_value(format!(
                    "the value for `{urn}` must be an object"
                )));
            };
            let extension = object_member(root, urn)?;
            for (field, value) in fields {
                set_attribute(extension, field, value.clone(), op, attributes);
            }
            Ok(())
        }
    }
}

/// `add` appends to multi-valued attributes and merges complex ones; `replace` overwrites.
fn set_attribute(
    container: &mut Map<String, Value>,
    name: &str,
    value: Value,
    op: Op,
    attributes: &[Attribute],
) {
    let key = key_of(container, name).unwrap_or_else(|| canonical(attributes, name));
    if value.is_null() {
        container.remove(&key);
        return;
    }
    let multi_valued = schema::find(attributes, name).is_some_and(|a| a.multi_valued);
    let value = match value {
        Value::Array(_) => value,
        single if multi_valued => Value::Array(vec![single]),
        single => single,
    };
    match (op, container.get_mut(&key), value) {
        (Op::Add, Some(Value::Array(existing)), Value::Array(new)) => {
            for item in new {
                if !existing.contains(&item) {
                    existing.push(item);
                }
            }
        }
        (Op::Add, Some(Value::Object(existing)), Value::Object(new)) => {
            for (field, field_value) in new {
                set_member(existing, &field, field_value, Op::Add);
            }
        }
        (_, _, value) => {
            container.insert(key, value);
        }
    }
}

/// Sets one member of a complex value; a null value unassigns it.
fn set_member(object: &mut Map<String, Value>, name: &str, value: Value, _op: Op) {
    let key = key_of(object, name).unwrap_or_else(|| name.to_owned());
    if value.is_null() {
        object.remove(&key);
    } else {
        object.insert(key, value);
    }
}

fn remove_member(object: &mut Map<String, Value>, name: &str) {
    if let Some(key) = key_of(object, name) {
        object.remove(&key);
    }
}

/// Removes an attribute, or with a `value` array, just those values of a multi-valued attribute
/// (compared by their `value` sub-attribute).
fn remove_attribute(container: &mut Map<String, Value>, name: &str, value: Option<&Value>) {
    let Some(key) = key_of(container, name) else {
        return;
    };
    if let (Some(Value::Array(removed)), Some(Value::Array(items))) =
        (value, container.get_mut(&key))
    {
        let removed: Vec<&Value> = removed
            .iter()
            .map(|v| get(v, "value").unwrap_or(v))
            .collect();
        items.retain(|item| !removed.contains(&get(item, "value").unwrap_or(item)));
        if !items.is_empty() {
            return;
        }
    }
    container.remove(&key);
}

fn elements_mut<'a>(
    container: &'a mut Map<String, Value>,
    key: &str,
) -> Vec<&'a mut Map<String, Value>> {
    match container.get_mut(key) {
        Some(Value::Array(items)) => items.iter_mut().filter_map(Value::as_object_mut).collect(),
        Some(Value::Object(object)) => vec![object],
        _ => Vec::new(),
    }
}

/// The object member `name` (created empty when missing or not an object).
fn object_member<'a>(
    root: &'a mut Map<String, Value>,
    name: &str,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    let key = key_of(root, name).unwrap_or_else(|| name.to_owned());
    let entry = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry
        .as_object_mut()
        .ok_or_else(|| ScimError::internal("an extension is not an object"))
}

fn get_mut<'a>(root: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    let key = key_of(root, name)?;
    root.get_mut(&key)
}

/// The canonical spelling of an attribute name, or the name as given when unknown.
fn canonical(attributes: &[Attribute], name: &str) -> String {
    schema::find(attributes, name)
        .map(|a| a.name.to_owned())
        .unwrap_or_else(|| name.to_owned())
}

fn is_read_only_top_level(name: &str) -> bool {
    ["id", "meta", "schemas", "groups"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// The value a filter made only of `eq` comparisons joined by `and` describes, e.g.
/// `type eq "work"` → `{"type": "work"}`.
fn described_by(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.filter.is_none() && path.sub_attribute.is_none() && path.schema.is_none() => {
            let mut object = Map::new();
            object.insert(path.attribute.clone(), value.clone());
            Some(object)
        }
        Filter::And(operands) => {
            let mut object = Map::new();
            for operand in operands {
                object.extend(described_by(operand)?);
            }
            Some(object)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
