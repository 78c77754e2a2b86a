//! `[[endpoints]]`: the inference servers Fabrique relays to, or the built-in `simulator`
//! endpoint when the file declares none.

use std::fmt;

use domain::{Classification, ClassificationLadder, EndpointKind, Hosting};
use serde::Deserialize;

use crate::error::Collector;
use crate::names::Names;
use crate::read::Items;
use crate::rules::{Env, NameRule, at_least_one, credential, name_problem, url_problem};
use crate::section::classifications::level;
use crate::section::simulator::SimulatorConfig;

/// One `[[endpoints]]` item: an inference server speaking the OpenAI-compatible protocol.
#[derive(Clone, PartialEq)]
pub struct EndpointConfig {
    /// Key `name`: required, unique, `[a-z0-9][a-z0-9_-]*`. Appears in metrics, usage and audit.
    pub name: String,
    /// Key `kind`: required; `openai`, `vllm`, `tgi`, `mistral_rs`, `llama_cpp`, `ollama`, `mistral`
    /// or `simulator`.
    pub kind: EndpointKind,
    /// Key `url`: the base URL including the `/v1` prefix (e.g. `http://10.1.2.3:8000/v1`), `http` or
    /// `https`; a trailing `/` is removed. Required, except for kind `simulator` when
    /// `simulator.embedded = true`: then an absent `url` (`None`) means the embedded simulator.
    pub url: Option<String>,
    /// Key `api_key_env`: optional, the *name* of an environment variable holding the bearer
    /// credential sent to the endpoint (never the credential itself, which does not belong in a file).
    /// The variable must be set when the configuration is loaded. Here: the resolved value, which
    /// `Debug` redacts.
    pub credential: Option<String>,
    /// Key `hosting`: required; `on_premises`, `sovereign_cloud`, `eu_cloud` or `non_eu_cloud`.
    pub hosting: Hosting,
    /// Key `clearance`: required; the highest classification level (one of `classifications`) this
    /// endpoint may receive.
    pub clearance: Classification,
    /// Key `pool`: the GPU pool the endpoint belongs to, `[a-z0-9][a-z0-9_-]*`. Default `default`.
    pub pool: String,
    /// Key `capacity`: concurrent sequences the endpoint serves, at least 1. Default 32.
    pub capacity: u32,
    /// Key `weight`: relative share of traffic for load balancing, at least 1. Default 1.
    pub weight: u32,
    /// Key `health_path`: optional, a path starting with `/`, relative to the URL's origin (not to the
    /// `/v1` prefix). Default `/health` for `vllm`, `tgi`, `mistral_rs`, `llama_cpp` and `simulator`;
    /// none otherwise, meaning health is checked with `GET {url}/models`.
    pub health_path: Option<String>,
}

impl fmt::Debug for EndpointConfig {
    /// Written by hand so that the credential never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .field("hosting", &self.hosting)
            .field("clearance", &self.clearance)
            .field("pool", &self.pool)
            .field("capacity", &self.capacity)
            .field("weight", &self.weight)
            .field("health_path", &self.health_path)
            .finish()
    }
}

/// As written; the keys are documented on [`EndpointConfig`].
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

pub(crate) const POOL: &str = "default";
pub(crate) const ENDPOINT_CAPACITY: u32 = 32;
pub(crate) const ENDPOINT_WEIGHT: u32 = 1;
/// The name of the built-in endpoint, which the built-in models are served by.
pub(crate) const BUILTIN_ENDPOINT: &str = "simulator";

/// The health path used when `health_path` is absent: the kind's own (see `domain::engine`).
pub(crate) fn health_path(kind: EndpointKind) -> Option<String> {
    kind.health_path().map(str::to_owned)
}

/// The built-in endpoint: the embedded simulator, cleared for every level since its data never
/// leaves the process.
pub(crate) fn builtin_endpoint(
    simulator: &SimulatorConfig,
    ladder: &ClassificationLadder,
) -> EndpointConfig {
    EndpointConfig {
        name: BUILTIN_ENDPOINT.to_owned(),
        kind: EndpointKind::Simulator,
        url: None,
        credential: None,
        hosting: Hosting::OnPremises,
        clearance: ladder.highest(),
        pool: POOL.to_owned(),
        capacity: u32::try_from(simulator.capacity).unwrap_or(u32::MAX),
        weight: ENDPOINT_WEIGHT,
        health_path: health_path(EndpointKind::Simulator),
    }
}

pub(crate) fn validate(
    items: Option<Items<RawEndpoint>>,
    simulator: &SimulatorConfig,
    ladder: &ClassificationLadder,
    ladder_is_known: bool,
    env: Env<'_>,
    errors: &mut Collector,
) -> (Vec<EndpointConfig>, Names) {
    let Some(items) = items else {
        if !simulator.embedded {
            errors.push(
                "endpoints",
                "no `[[endpoints]]` are declared, and the built-in `simulator` endpoint needs `simulator.embedded = true`",
            );
        }
        let endpoints = vec![builtin_endpoint(simulator, ladder)];
        let names = Names::of_builtin(endpoints.iter().map(|e| e.name.as_str()));
        return (endpoints, names);
    };
    let mut names = Names::new(items.invalid_names, items.wholly_invalid);
    let mut endpoints = Vec::new();
    for (index, raw) in items.given {
        let key = format!("endpoints[{index}]");
        if let Some(first) = names.declare(&raw.name, endpoints.len(), &key) {
            errors.push(
                format!("{key}.name"),
                format!(
                    "duplicate endpoint name `{}`, already used by {first}",
                    raw.name
                ),
            );
        }
        endpoints.push(endpoint(
            raw,
            &key,
            simulator,
            ladder,
            ladder_is_known,
            env,
            errors,
        ));
    }
    (endpoints, names)
}

fn endpoint(
    raw: RawEndpoint,
    key: &str,
    simulator: &SimulatorConfig,
    ladder: &ClassificationLadder,
    ladder_is_known: bool,
    env: Env<'_>,
    errors: &mut Collector,
) -> EndpointConfig {
    if let Some(message) = name_problem(&raw.name, NameRule::Identifier) {
        errors.push(format!("{key}.name"), message);
    }
    let url = match raw.url {
        Some(url) => {
            if let Some(message) = url_problem(&url) {
                errors.push(format!("{key}.url"), message);
            }
            // Callers append paths such as `/chat/completions`; a trailing slash would double it.
            Some(url.trim_end_matches('/').to_owned())
        }
        None if raw.kind == EndpointKind::Simulator => {
            if !simulator.embedded {
                errors.push(
                    format!("{key}.url"),
                    "required key is missing: without `url`, a `simulator` endpoint means the embedded simulator, but `simulator.embedded` is false",
                );
            }
            None
        }
        None => {
            errors.push(
                format!("{key}.url"),
                format!("required key is missing for kind `{}`", raw.kind.as_str()),
            );
            None
        }
    };
    let credential = raw
        .api_key_env
        .and_then(|variable| credential(&variable, &format!("{key}.api_key_env"), env, errors));
    let clearance = level(
        &raw.clearance,
        &format!("{key}.clearance"),
        ladder,
        ladder_is_known,
        errors,
    )
    .unwrap_or(Classification(0));
    let pool = raw.pool.unwrap_or_else(|| POOL.to_owned());
    if let Some(message) = name_problem(&pool, NameRule::Identifier) {
        errors.push(format!("{key}.pool"), message);
    }
    let capacity = at_least_one(
        raw.capacity.map(u64::from),
        u64::from(ENDPOINT_CAPACITY),
        &format!("{key}.capacity"),
        errors,
    );
    let weight = at_least_one(
        raw.weight.map(u64::from),
        u64::from(ENDPOINT_WEIGHT),
        &format!("{key}.weight"),
        errors,
    );
    let health_path = match raw.health_path {
        Some(path) => {
            if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                errors.push(
                    format!("{key}.health_path"),
                    format!("`{path}` must be a path starting with `/`, without spaces"),
                );
            }
            Some(path)
        }
        None => health_path(raw.kind),
    };
    EndpointConfig {
        name: raw.name,
        kind: raw.kind,
        url,
        credential,
        hosting: raw.hosting,
        clearance,
        pool,
        capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
        weight: u32::try_from(weight).unwrap_or(u32::MAX),
        health_path,
    }
}
