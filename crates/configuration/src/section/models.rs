//! `[[models]]`: the public model names, what serves each and what it falls back to, or the
//! built-in models when the file declares none.

use domain::{FimTemplate, ModelKind};
use serde::Deserialize;

use crate::error::Collector;
use crate::names::{Names, Resolved};
use crate::read::Items;
use crate::section::endpoints::BUILTIN_ENDPOINT;

/// One `[[models]]` item: a public model name and what serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Key `name`: required, unique; the public name callers put in `model`. No whitespace.
    pub name: String,
    /// Key `kind`: required; `chat`, `embeddings`, `fim` (fill-in-the-middle) or `rerank` (a
    /// reranker, served by vLLM, TGI or the simulator endpoints only).
    pub kind: ModelKind,
    /// Key `endpoints`: required, at least one endpoint name, each declared, none twice. Here:
    /// indexes into [`Config::endpoints`](crate::Config::endpoints).
    pub endpoints: Vec<usize>,
    /// Key `upstream_name`: the name the backends know the model by. Default: `name`.
    pub upstream_name: String,
    /// Key `fallbacks`: optional model names tried in order when every endpoint of this model failed.
    /// Each must be declared, of the same kind, not this model, and fallbacks must not form a cycle.
    /// Here: indexes into [`Config::models`](crate::Config::models).
    pub fallbacks: Vec<usize>,
    /// Keys `input_price_per_million` and `output_price_per_million`.
    pub price: Price,
    /// Key `context_length`: optional, the model's context window in tokens, at least 1.
    pub context_length: Option<u32>,
    /// Key `fim_template`: `fim` models only; how the prompt is written with the model's FIM tokens
    /// for engines without a FIM route (vLLM, TGI, mistral.rs), `{prefix}` and `{suffix}` each
    /// once. Default: Codestral's, `[SUFFIX]{suffix}[PREFIX]{prefix}`.
    pub fim_template: FimTemplate,
}

/// A model's internal price, derived from the GPU cost, in the group's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    /// Key `input_price_per_million`: price per million input tokens, a finite number ≥ 0, default 0.
    /// Here: in millionths of the currency unit, rounded (2.0 → 2_000_000).
    pub input_micros_per_million: u64,
    /// Key `output_price_per_million`: the same for output tokens.
    pub output_micros_per_million: u64,
}

/// As written; the keys are documented on [`ModelConfig`].
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
    pub fim_template: Option<String>,
}

/// The built-in models, all served by the endpoint at `endpoint`. Prices are plausible internal
/// prices per million tokens, in the spirit of the public Mistral list prices.
pub(crate) fn builtin_models(endpoint: usize) -> Vec<ModelConfig> {
    let model =
        |name: &str, kind, fallbacks: Vec<usize>, input, output, context_length| ModelConfig {
            name: name.to_owned(),
            kind,
            endpoints: vec![endpoint],
            upstream_name: name.to_owned(),
            fallbacks,
            price: Price {
                input_micros_per_million: input,
                output_micros_per_million: output,
            },
            context_length: Some(context_length),
            fim_template: FimTemplate::default(),
        };
    // Indexes below follow this order: mistral-large falls back to mistral-small at index 0.
    vec![
        model(
            "mistral-small",
            ModelKind::Chat,
            vec![],
            200_000,
            600_000,
            32_768,
        ),
        model(
            "mistral-large",
            ModelKind::Chat,
            vec![0],
            2_000_000,
            6_000_000,
            131_072,
        ),
        model(
            "mistral-embed",
            ModelKind::Embeddings,
            vec![],
            100_000,
            0,
            8_192,
        ),
        model(
            "codestral",
            ModelKind::Fim,
            vec![],
            300_000,
            900_000,
            32_768,
        ),
    ]
}

pub(crate) fn validate(
    items: Option<Items<RawModel>>,
    endpoint_names: &Names,
    errors: &mut Collector,
) -> (Vec<ModelConfig>, Names) {
    let Some(items) = items else {
        let endpoint = match endpoint_names.resolve(BUILTIN_ENDPOINT) {
            Resolved::Found(index) => index,
            Resolved::Unverifiable => 0,
            Resolved::Unknown => {
                errors.push(
                    "models",
                    "no `[[models]]` are declared, and the built-in models need an endpoint named `simulator`, which is not declared",
                );
                0
            }
        };
        let models = builtin_models(endpoint);
        let names = Names::of_builtin(models.iter().map(|m| m.name.as_str()));
        return (models, names);
    };

    // First pass: everything but fallbacks, which need every model's name and kind.
    let mut names = Names::new(items.invalid_names, items.wholly_invalid);
    let mut models = Vec::new();
    let mut pending_fallbacks = Vec::new();
    let mut keys = Vec::new();
    for (index, raw) in items.given {
        let key = format!("models[{index}]");
        if let Some(first) = names.declare(&raw.name, models.len(), &key) {
            errors.push(
                format!("{key}.name"),
                format!(
                    "duplicate model name `{}`, already used by {first}",
                    raw.name
                ),
            );
        }
        pending_fallbacks.push(raw.fallbacks.clone().unwrap_or_default());
        models.push(model(raw, &key, endpoint_names, errors));
        keys.push(key);
    }

    for (position, fallbacks) in pending_fallbacks.into_iter().enumerate() {
        let mut resolved = Vec::new();
        for (index, fallback) in fallbacks.iter().enumerate() {
            let key = format!("{}.fallbacks[{index}]", keys[position]);
            let model = &models[position];
            if *fallback == model.name {
                errors.push(
                    key,
                    format!("model `{fallback}` cannot fall back to itself"),
                );
                continue;
            }
            match names.resolve(fallback) {
                Resolved::Found(target) if resolved.contains(&target) => {
                    errors.push(key, format!("model `{fallback}` is listed twice"));
                }
                Resolved::Found(target) if models[target].kind != model.kind => errors.push(
                    key,
                    format!(
                        "fallback `{fallback}` has kind `{}`, but `{}` has kind `{}`",
                        models[target].kind.as_str(),
                        model.name,
                        model.kind.as_str()
                    ),
                ),
                Resolved::Found(target) => resolved.push(target),
                Resolved::Unknown => errors.push(key, format!("unknown model `{fallback}`")),
                Resolved::Unverifiable => {}
            }
        }
        models[position].fallbacks = resolved;
    }
    report_fallback_cycles(&models, &keys, errors);
    (models, names)
}

fn model(raw: RawModel, key: &str, endpoint_names: &Names, errors: &mut Collector) -> ModelConfig {
    // The rule requests' `model` is checked against: a model no request can name is a mistake.
    if !wire::validate::is_model_name(&raw.name) {
        errors.push(
            format!("{key}.name"),
            format!(
                "`{}` is not a valid model name: 1 to {} ASCII letters, digits and `-._:/@+`, starting with a letter or digit, as requests name models",
                raw.name,
                wire::validate::MAX_MODEL_NAME_CHARS
            ),
        );
    }
    if raw.endpoints.is_empty() {
        errors.push(
            format!("{key}.endpoints"),
            "at least one endpoint is required",
        );
    }
    let mut endpoints = Vec::new();
    for (index, name) in raw.endpoints.iter().enumerate() {
        let item_key = format!("{key}.endpoints[{index}]");
        match endpoint_names.resolve(name) {
            Resolved::Found(endpoint) if endpoints.contains(&endpoint) => {
                errors.push(item_key, format!("endpoint `{name}` is listed twice"));
            }
            Resolved::Found(endpoint) => endpoints.push(endpoint),
            Resolved::Unknown => errors.push(item_key, format!("unknown endpoint `{name}`")),
            Resolved::Unverifiable => {}
        }
    }
    let upstream_name = match raw.upstream_name {
        Some(upstream) => {
            if upstream.trim().is_empty() {
                errors.push(format!("{key}.upstream_name"), "must not be empty");
            }
            upstream
        }
        None => raw.name.clone(),
    };
    if raw.context_length == Some(0) {
        errors.push(format!("{key}.context_length"), "must be at least 1");
    }
    let fim_template = fim_template(raw.fim_template.as_deref(), raw.kind, key, errors);
    ModelConfig {
        name: raw.name,
        kind: raw.kind,
        endpoints,
        upstream_name,
        fallbacks: Vec::new(),
        price: Price {
            input_micros_per_million: micros(
                raw.input_price_per_million,
                &format!("{key}.input_price_per_million"),
                errors,
            ),
            output_micros_per_million: micros(
                raw.output_price_per_million,
                &format!("{key}.output_price_per_million"),
                errors,
            ),
        },
        context_length: raw.context_length,
        fim_template,
    }
}

/// The model's FIM template, read; the default when absent or wrong (the error is collected).
fn fim_template(
    text: Option<&str>,
    kind: ModelKind,
    key: &str,
    errors: &mut Collector,
) -> FimTemplate {
    let Some(text) = text else {
        return FimTemplate::default();
    };
    if kind != ModelKind::Fim {
        errors.push(
            format!("{key}.fim_template"),
            format!(
                "only `fim` models have one, this model's kind is `{}`",
                kind.as_str()
            ),
        );
        return FimTemplate::default();
    }
    FimTemplate::parse(text).unwrap_or_else(|message| {
        errors.push(format!("{key}.fim_template"), message);
        FimTemplate::default()
    })
}

/// A price in currency units to integer millionths, so that costs add up exactly.
fn micros(price: Option<f64>, key: &str, errors: &mut Collector) -> u64 {
    let Some(price) = price else { return 0 };
    let micros = (price * 1_000_000.0).round();
    if !price.is_finite() {
        errors.push(key, format!("must be a finite number, found {price}"));
        0
    } else if price < 0.0 {
        errors.push(key, format!("must not be negative, found {price}"));
        0
    } else if micros >= u64::MAX as f64 {
        errors.push(key, "is too large");
        0
    } else {
        micros as u64
    }
}

/// Reports each cycle among resolved fallbacks once, at the first model of the cycle in file order.
fn report_fallback_cycles(models: &[ModelConfig], keys: &[String], errors: &mut Collector) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Unvisited,
        OnPath,
        Done,
    }
    fn visit(
        node: usize,
        models: &[ModelConfig],
        state: &mut [State],
        path: &mut Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        state[node] = State::OnPath;
        path.push(node);
        for &next in &models[node].fallbacks {
            match state[next] {
                State::Unvisited => visit(next, models, state, path, cycles),
                State::OnPath => {
                    if let Some(start) = path.iter().position(|&n| n == next) {
                        cycles.push(path[start..].to_vec());
                    }
                }
                State::Done => {}
            }
        }
        path.pop();
        state[node] = State::Done;
    }

    let mut state = vec![State::Unvisited; models.len()];
    let mut cycles = Vec::new();
    for start in 0..models.len() {
        if state[start] == State::Unvisited {
            visit(start, models, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    for mut cycle in cycles {
        let Some(first) = cycle
            .iter()
            .enumerate()
            .min_by_key(|(_, model)| **model)
            .map(|(i, _)| i)
        else {
            continue;
        };
        cycle.rotate_left(first);
        let mut names: Vec<String> = cycle
            .iter()
            .map(|&m| format!("`{}`", models[m].name))
            .collect();
        names.push(format!("`{}`", models[cycle[0]].name));
        errors.push(
            format!("{}.fallbacks", keys[cycle[0]]),
            format!("fallbacks form a cycle: {}", names.join(" → ")),
        );
    }
}
