//! Section `[scim]`: how users provisioned over SCIM are placed in entities.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::{NameRule, name_problem};

/// Section `[scim]`: how users provisioned over SCIM (`/scim/v2`) are placed in entities.
///
/// ```toml
/// [scim]
/// entity_from = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization"
///
/// [scim.entity_map]
/// "Banque Régionale" = "banque-regionale"
/// "Assurances" = "assurances"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScimConfig {
    /// Key `entity_from`: where a provisioned user's entity comes from. `"token"` (the default): the
    /// entity the SCIM token is bound to. Or an enterprise-extension attribute,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:<attribute>` with `<attribute>`
    /// one of `organization`, `division`, `department`, `costCenter`: its value is looked up in
    /// `entity_map`; a user without the attribute falls back to the token's entity, and a value
    /// missing from the map is refused (SCIM `400 invalidValue` naming it).
    pub entity_from: EntityFrom,
    /// Table `entity_map`: attribute value (exact text) → entity slug. Required, and only allowed,
    /// when `entity_from` names an attribute. Slugs follow the entity slug rule; whether the entity
    /// exists is checked when a user is provisioned, since entities are also created at run time.
    pub entity_map: BTreeMap<String, String>,
}

/// Where a provisioned user's entity comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EntityFrom {
    #[default]
    Token,
    /// The enterprise-extension attribute of this name, through `entity_map`.
    EnterpriseAttribute(String),
}

/// The SCIM schema URN of the enterprise user extension.
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The enterprise-extension attributes `scim.entity_from` may name.
pub const ENTERPRISE_ENTITY_ATTRIBUTES: &[&str] =
    &["organization", "division", "department", "costCenter"];

/// As written; the keys are documented on [`ScimConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScim {
    pub entity_from: Option<String>,
    pub entity_map: Option<BTreeMap<String, String>>,
}

pub(crate) fn validate(raw: RawScim, errors: &mut Collector) -> ScimConfig {
    let entity_from = match raw.entity_from.as_deref() {
        None | Some("token") => EntityFrom::Token,
        Some(other) => match other
            .strip_prefix(ENTERPRISE_USER_SCHEMA)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|name| {
                ENTERPRISE_ENTITY_ATTRIBUTES
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(name))
            }) {
            Some(name) => EntityFrom::EnterpriseAttribute((*name).to_owned()),
            None => {
                errors.push(
                    "scim.entity_from",
                    format!(
                        "expected `token` or `{ENTERPRISE_USER_SCHEMA}:<attribute>` with <attribute> one of {}, found `{other}`",
                        ENTERPRISE_ENTITY_ATTRIBUTES.join(", ")
                    ),
                );
                EntityFrom::Token
            }
        },
    };
    let entity_map = raw.entity_map.unwrap_or_default();
    for (value, slug) in &entity_map {
        if let Some(message) = name_problem(slug, NameRule::Slug) {
            errors.push(format!("scim.entity_map.\"{value}\""), message);
        }
    }
    let named_attribute = matches!(entity_from, EntityFrom::EnterpriseAttribute(_))
        // An unreadable `entity_from` is already reported; its map is not a second mistake.
        || raw.entity_from.as_deref().is_some_and(|v| v != "token");
    if entity_map.is_empty() && matches!(entity_from, EntityFrom::EnterpriseAttribute(_)) {
        errors.push(
            "scim.entity_map",
            "required when `entity_from` names an attribute: map each of its values to an entity slug",
        );
    }
    if !entity_map.is_empty() && !named_attribute {
        errors.push(
            "scim.entity_map",
            "only read when `entity_from` names an attribute, but it is `token` (the default)",
        );
    }
    ScimConfig {
        entity_from,
        entity_map,
    }
}
