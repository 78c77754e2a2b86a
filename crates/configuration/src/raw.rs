//! The file as written: serde structs mirroring the TOML keys one to one, every field optional unless
//! the file must give it, unknown keys refused. The meaning of each key is documented on the typed
//! structs in `lib.rs`; this module only knows shapes.
//!
//! The document is read in two steps so that one mistake does not hide the others: the top level
//! first (TOML syntax and unknown top-level keys, with line and column), then every section and every
//! `[[endpoints]]`, `[[models]]` and `[[entities]]` item on its own, each with the key path of its
//! first problem.

use std::collections::BTreeMap;

use domain::{EndpointKind, Hosting, ModelKind};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Value;

use crate::error::Collector;

/// The top level. Sections stay untyped here and are deserialized one by one in [`read`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    classifications: Option<Value>,
    server: Option<Value>,
    routing: Option<Value>,
    simulator: Option<Value>,
    endpoints: Option<Value>,
    models: Option<Value>,
    entities: Option<Value>,
    policy: Option<Value>,
    admission: Option<Value>,
    audit: Option<Value>,
    scim: Option<Value>,
    oidc: Option<Value>,
    seats: Option<Value>,
    telemetry: Option<Value>,
    scheduling: Option<Value>,
    use_cases: Option<Value>,
    retention: Option<Value>,
    authorization: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScim {
    pub entity_from: Option<String>,
    pub entity_map: Option<std::collections::BTreeMap<String, String>>,
}

/// Section `[seats]`; documented on `SeatsConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSeats {
    /// The group's seat pool until a group administrator sets it (`PUT /admin/v1/seats/pool`);
    /// absent: unlimited.
    pub pool: Option<u64>,
    /// Days without an authenticated request after which a user's seat is reclaimed; default 90.
    pub reclaim_after_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub max_connections: Option<u64>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouting {
    pub max_attempts: Option<u32>,
    pub deadline_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub circuit_failures: Option<u32>,
    pub circuit_open_ms: Option<u64>,
    pub health_check_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSimulator {
    pub embedded: Option<bool>,
    pub ttft_ms: Option<u64>,
    pub tokens_per_second: Option<f64>,
    pub capacity: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAudit {
    pub signing_key_env: Option<String>,
    pub signing_key_file: Option<String>,
    pub checkpoint_every_events: Option<u64>,
    pub checkpoint_interval_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEndpoint {
    pub name: String,
    pub kind: EndpointKind,
    pub url: Option<String>,
    pub api_key_env: Option<String>,
    pub hosting: Hosting,
    pub clearance: String,
    pub pool: Option<String>,
    pub capacity: Option<u32>,
    pub weight: Option<u32>,
    pub health_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    pub name: String,
    pub kind: ModelKind,
    pub endpoints: Vec<String>,
    pub upstream_name: Option<String>,
    pub fallbacks: Option<Vec<String>>,
    pub input_price_per_million: Option<f64>,
    pub output_price_per_million: Option<f64>,
    pub context_length: Option<u32>,
}

/// Section `[oidc]`; documented on `OidcConfig`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOidc {
    pub issuer: String,
    pub client_id: String,
    pub client_secret_env: Option<String>,
    pub redirect_url: String,
    pub scopes: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    pub algorithms: Option<Vec<String>>,
    pub user_name_claim: Option<crate::UserNameClaim>,
    pub entity_claim: Option<String>,
    pub entity_map: Option<std::collections::BTreeMap<String, String>>,
    pub default_entity: Option<String>,
    pub roles_claim: Option<String>,
    pub role_map: Option<std::collections::BTreeMap<String, RawMappedRole>>,
    pub jit_provisioning: Option<bool>,
    pub session_lifetime_secs: Option<u64>,
    pub cookie_secure: Option<bool>,
    pub leeway_secs: Option<u64>,
    pub jwks_min_refetch_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntity {
    pub slug: String,
    pub name: String,
    pub models: Option<Vec<String>>,
    pub classification: Option<String>,
    pub policy: Option<RawDataPolicy>,
    pub retention: Option<crate::retention::RawEntityRetention>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmission {
    pub time_zone: Option<String>,
    pub default_completion_tokens: Option<u64>,
}

/// Section `[policy]`: the group's rules, which are also every entity's defaults. The data-policy
/// keys repeat [`RawDataPolicy`]'s, since `deny_unknown_fields` cannot be combined with flattening.
/// Section `[authorization]`; documented on `AuthorizationConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthorization {
    pub policies: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelemetry {
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub personal_data_classification: Option<String>,
    pub actions: Option<BTreeMap<String, String>>,
    pub output: Option<BTreeMap<String, String>>,
    pub blocked_terms: Option<Vec<String>>,
    pub blocked_terms_action: Option<String>,
    pub prompt_injection: Option<String>,
    pub trace_content: Option<bool>,
}

/// `[entities.policy]`: an entity's data policy; documented on `DataPolicy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDataPolicy {
    /// Table `actions`: personal-data type (`IBAN`…) → `redact`, `pseudonymize`, `block` or `flag`.
    pub actions: Option<BTreeMap<String, String>>,
    /// Table `output`: personal-data type → `redact` or `flag`, on completions.
    pub output: Option<BTreeMap<String, String>>,
    /// Key `blocked_terms`: words or phrases matched case-insensitively, on whole words.
    pub blocked_terms: Option<Vec<String>>,
    /// Key `blocked_terms_action`: `block` (default) or `flag`.
    pub blocked_terms_action: Option<String>,
    /// Key `prompt_injection`: `block` or `flag`; absent, the heuristic is off.
    pub prompt_injection: Option<String>,
    /// Key `trace_content`: `true` lets exported traces carry the request's input as sent.
    pub trace_content: Option<bool>,
}

impl RawPolicy {
    /// The group's data policy, apart from the classification key.
    pub(crate) fn split(self) -> (Option<String>, RawDataPolicy) {
        let data = RawDataPolicy {
            actions: self.actions,
            output: self.output,
            blocked_terms: self.blocked_terms,
            blocked_terms_action: self.blocked_terms_action,
            prompt_injection: self.prompt_injection,
            trace_content: self.trace_content,
        };
        (self.personal_data_classification, data)
    }
}

/// A single-valued section (`[server]`, `classifications`…).
pub(crate) enum Section<T> {
    /// Not in the file: defaults apply.
    Absent,
    /// In the file but unreadable; the error is already reported. Defaults stand in so the rest can
    /// still be checked.
    Invalid,
    Given(T),
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

/// Everything read from the file, before any rule is checked.
pub(crate) struct RawConfig {
    pub classifications: Section<Vec<String>>,
    pub server: Section<RawServer>,
    pub routing: Section<RawRouting>,
    pub simulator: Section<RawSimulator>,
    /// `None` when the file has no `endpoints` key at all (built-in endpoints apply).
    pub endpoints: Option<Items<RawEndpoint>>,
    pub models: Option<Items<RawModel>>,
    pub entities: Option<Items<RawEntity>>,
    pub policy: Section<RawPolicy>,
    pub admission: Section<RawAdmission>,
    pub audit: Section<RawAudit>,
    pub scim: Section<RawScim>,
    pub oidc: Section<RawOidc>,
    pub seats: Section<RawSeats>,
    pub telemetry: Section<RawTelemetry>,
    pub scheduling: Section<crate::scheduling::RawScheduling>,
    pub use_cases: Option<Items<crate::use_cases::RawUseCase>>,
    pub retention: Section<crate::retention::RawRetention>,
    pub authorization: Section<RawAuthorization>,
}

/// Reads the file into raw structs, pushing every shape error. `None` only when the document itself
/// is not TOML (or has an unknown top-level key), since nothing else can then be trusted.
pub(crate) fn read(text: &str, errors: &mut Collector) -> Option<RawConfig> {
    let document: RawDocument = match toml::from_str(text) {
        Ok(document) => document,
        Err(error) => {
            report_document_error(text, &error, errors);
            return None;
        }
    };
    Some(RawConfig {
        classifications: section(document.classifications, "classifications", errors),
        server: section(document.server, "server", errors),
        routing: section(document.routing, "routing", errors),
        simulator: section(document.simulator, "simulator", errors),
        endpoints: items(document.endpoints, "endpoints", "name", errors),
        models: items(document.models, "models", "name", errors),
        entities: items(document.entities, "entities", "slug", errors),
        policy: section(document.policy, "policy", errors),
        admission: section(document.admission, "admission", errors),
        audit: section(document.audit, "audit", errors),
        scim: section(document.scim, "scim", errors),
        oidc: section(document.oidc, "oidc", errors),
        seats: section(document.seats, "seats", errors),
        telemetry: section(document.telemetry, "telemetry", errors),
        scheduling: section(document.scheduling, "scheduling", errors),
        use_cases: items(document.use_cases, "use_cases", "slug", errors),
        retention: section(document.retention, "retention", errors),
        authorization: section(document.authorization, "authorization", errors),
    })
}

fn section<T: DeserializeOwned>(
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

fn items<T: DeserializeOwned>(
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
fn report_document_error(text: &str, error: &toml::de::Error, errors: &mut Collector) {
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

/// A `role_map` value: a role's name (`"auditor"`), or a table naming its scope
/// (`{ role = "auditor", scope = "group" }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawMappedRole {
    pub role: domain::Role,
    pub scope: Option<crate::RoleScope>,
}

impl<'de> Deserialize<'de> for RawMappedRole {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawMappedRole;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a role name, or a table `{ role = \"…\", scope = \"group\" | \"entity\" }`",
                )
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<RawMappedRole, E> {
                use serde::de::IntoDeserializer;
                let role = domain::Role::deserialize(name.into_deserializer())?;
                Ok(RawMappedRole { role, scope: None })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawMappedRole, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Table {
                    role: domain::Role,
                    scope: Option<crate::RoleScope>,
                }
                let table = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawMappedRole {
                    role: table.role,
                    scope: table.scope,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
