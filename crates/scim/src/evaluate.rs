//! Evaluating a filter on a resource's JSON representation (RFC 7644 §3.4.2.2): attribute names
//! match case-insensitively, string comparisons follow each attribute's `caseExact`, a
//! multi-valued attribute matches when any of its values does, and a complex multi-valued
//! attribute named without a sub-attribute is compared through its `value` sub-attribute.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::filter::{CompareOp, Filter, Path};
use crate::schema::{self, Attribute};

/// Whether `document` (a resource of a schema with `attributes`) matches `filter`.
pub fn matches(filter: &Filter, document: &Value, attributes: &[Attribute]) -> bool {
    match filter {
        Filter::And(operands) => operands
            .iter()
            .all(|operand| matches(operand, document, attributes)),
        Filter::Or(operands) => operands
            .iter()
            .any(|operand| matches(operand, document, attributes)),
        Filter::Not(inner) => !matches(inner, document, attributes),
        Filter::Present(path) => resolve(document, path, attributes)
            .iter()
            .any(|value| is_present(value)),
        Filter::Has(path) => !resolve(document, path, attributes).is_empty(),
        Filter::Compare { path, op, value } => {
            let exact = case_exact_for(path, attributes);
            let values = resolve(document, path, attributes);
            match op {
                CompareOp::Ne => !values
                    .iter()
                    .any(|v| compare(v, CompareOp::Eq, value, exact)),
                CompareOp::Eq if value.is_null() => !values.iter().any(|v| is_present(v)),
                _ => values.iter().any(|v| compare(v, *op, value, exact)),
            }
        }
    }
}

/// Whether the attribute a path names compares case-exactly.
pub fn case_exact_for(path: &Path, attributes: &[Attribute]) -> bool {
    let attributes = match &path.schema {
        Some(urn) => schema::attributes_of(urn).unwrap_or(attributes),
        None => attributes,
    };
    schema::case_exact(attributes, &path.attribute, path.sub_attribute.as_deref())
}

/// The values a path designates in `document`, flattened: one entry per value of a multi-valued
/// attribute, `value` sub-attributes standing for complex values when no sub-attribute is named.
pub fn resolve<'a>(document: &'a Value, path: &Path, attributes: &[Attribute]) -> Vec<&'a Value> {
    let container = match &path.schema {
        Some(urn) if !is_core(urn) => match get(document, urn) {
            Some(extension) => extension,
            None => return Vec::new(),
        },
        _ => document,
    };
    let Some(value) = get(container, &path.attribute) else {
        return Vec::new();
    };
    let mut values: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    if let Some(filter) = &path.filter {
        let element_attributes = schema::find(attributes, &path.attribute)
            .map(|a| a.sub_attributes)
            .unwrap_or(&[]);
        values.retain(|element| matches(filter, element, element_attributes));
        if path.sub_attribute.is_none() {
            return values;
        }
    }
    match &path.sub_attribute {
        Some(sub) => values.into_iter().filter_map(|v| get(v, sub)).collect(),
        None => values
            .into_iter()
            .map(|v| match v {
                Value::Object(_) => get(v, "value").unwrap_or(v),
                other => other,
            })
            .collect(),
    }
}

/// Whether a schema URN is a core schema (its attributes sit at the top level).
pub fn is_core(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(schema::USER_SCHEMA) || urn.eq_ignore_ascii_case(schema::GROUP_SCHEMA)
}

/// The member `name` of an object, matched case-insensitively.
pub fn get<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The actual key of member `name` in an object, matched case-insensitively.
pub fn key_of(object: &Map<String, Value>, name: &str) -> Option<String> {
    if object.contains_key(name) {
        return Some(name.to_owned());
    }
    object
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => true,
    }
}

fn compare(actual: &Value, op: CompareOp, expected: &Value, case_exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(actual), Value::String(expected)) => {
            let (a, e) = if case_exact {
                (actual.clone(), expected.clone())
            } else {
                (actual.to_lowercase(), expected.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                    ordered(op, order_strings(&a, &e))
                }
            }
        }
        (Value::Bool(a), Value::Bool(e)) => match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            _ => false,
        },
        (Value::Number(a), Value::Number(e)) => {
            let (Some(a), Some(e)) = (a.as_f64(), e.as_f64()) else {
                return false;
            };
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                    a.partial_cmp(&e).is_some_and(|o| ordered(op, o))
                }
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
            }
        }
        _ => false,
    }
}

/// Timestamps compare as instants when both sides are RFC 3339 times, as text otherwise.
fn order_strings(a: &str, e: &str) -> Ordering {
    match (a.parse::<jiff::Timestamp>(), e.parse::<jiff::Timestamp>()) {
        (Ok(a), Ok(e)) => a.cmp(&e),
        _ => a.cmp(e),
    }
}

fn ordered(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        _ => false,
    }
}
