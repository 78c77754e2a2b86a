//! The configured models and endpoints, ready for the request path: what a model is called on its
//! backends, which endpoints serve it at each classification level, its fallbacks and prices.
//!
//! A leaf of the crate: stages name models and endpoints by [`ModelIdx`] and [`EndpointIdx`] and
//! look them up here; nothing here knows about requests.

use std::collections::HashMap;
use std::sync::Arc;

use configuration::Config;
use domain::{
    Classification, EndpointIdx, EndpointKind, FimTemplate, Hosting, ModelIdx, ModelKind,
};
use memchr::memmem;
use telemetry::{Metrics, ModelMetrics};
use upstream::{EndpointTarget, UpstreamError};

use crate::price::Price;

/// Every configured model and endpoint, by position, and the models by public name.
#[derive(Debug)]
pub(crate) struct Catalog {
    models: Vec<ModelRoute>,
    endpoints: Vec<EndpointRoute>,
    by_name: HashMap<String, ModelIdx>,
}

/// The endpoints a configuration names that cannot be called, each with why.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct InvalidEndpoints(pub Vec<String>);

/// One configured model, ready for the request path.
#[derive(Debug)]
pub(crate) struct ModelRoute {
    pub name: String,
    pub kind: ModelKind,
    /// The model's name as its backends know it.
    pub upstream_name: String,
    /// How to put the public name back into responses, when the backends use another one.
    /// Shared, so a stream can hold it without copying its patterns per request.
    pub rename: Option<Arc<ModelRename>>,
    /// For each classification level (by rank), the model's endpoints cleared for it.
    cleared: Vec<Vec<EndpointIdx>>,
    pub fallbacks: Vec<ModelIdx>,
    pub price: Price,
    /// Every endpoint is the GPU-backend simulator.
    pub simulated: bool,
    /// The model's metrics, by its name (the same series after a reload).
    pub metrics: Arc<ModelMetrics>,
    pub context_length: Option<u32>,
    /// How a FIM prompt is written for engines without a FIM route.
    pub fim_template: FimTemplate,
    /// The kind of a model's endpoint that has no route for the model's operation (a reranker
    /// served by Ollama), if one has none: the model is refused before anything is sent.
    pub unserved_by: Option<EndpointKind>,
}

/// One configured endpoint, ready to be called.
#[derive(Debug)]
pub(crate) struct EndpointRoute {
    pub name: String,
    pub kind: EndpointKind,
    pub target: EndpointTarget,
    pub hosting: Hosting,
    /// Path of the active health check: at the origin, or `None` to use `GET {url}/models`.
    pub health_path: Option<String>,
}

impl Catalog {
    /// Builds the catalog. Every endpoint must have a URL by now (the binary fills in the embedded
    /// simulator's address before the gateway is built). An error names every endpoint refused.
    pub fn new(config: &Config, metrics: &Metrics) -> Result<Catalog, InvalidEndpoints> {
        let mut refused = Vec::new();
        let endpoints = config
            .endpoints
            .iter()
            .filter_map(|e| match EndpointRoute::new(e) {
                Ok(endpoint) => Some(endpoint),
                Err(error) => {
                    refused.push(format!("endpoint `{}`: {error}", e.name));
                    None
                }
            })
            .collect();
        if !refused.is_empty() {
            return Err(InvalidEndpoints(refused));
        }
        let models: Vec<ModelRoute> = config
            .models
            .iter()
            .map(|m| ModelRoute::new(config, m, metrics))
            .collect();
        let by_name = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), ModelIdx::new(i)))
            .collect();
        Ok(Catalog {
            models,
            endpoints,
            by_name,
        })
    }

    /// The model of that public name.
    pub fn find(&self, name: &str) -> Option<ModelIdx> {
        self.by_name.get(name).copied()
    }

    pub fn model(&self, model: ModelIdx) -> &ModelRoute {
        &self.models[model.get()]
    }

    pub fn endpoint(&self, endpoint: EndpointIdx) -> &EndpointRoute {
        &self.endpoints[endpoint.get()]
    }

    /// Every model, in configuration order.
    pub fn models(&self) -> impl Iterator<Item = (ModelIdx, &ModelRoute)> {
        self.models
            .iter()
            .enumerate()
            .map(|(i, m)| (ModelIdx::new(i), m))
    }

    /// Every endpoint, in configuration order.
    pub fn endpoints(&self) -> impl Iterator<Item = (EndpointIdx, &EndpointRoute)> {
        self.endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (EndpointIdx::new(i), e))
    }
}

impl EndpointRoute {
    /// The endpoint, or why it cannot be called.
    fn new(endpoint: &configuration::EndpointConfig) -> Result<EndpointRoute, String> {
        let url = endpoint.url.as_deref().ok_or_else(|| {
            "no URL (the embedded simulator serves only endpoints known when it started)".to_owned()
        })?;
        let target = EndpointTarget::new(url, endpoint.credential.as_deref())
            .map_err(|error: UpstreamError| error.to_string())?;
        Ok(EndpointRoute {
            name: endpoint.name.clone(),
            kind: endpoint.kind,
            target,
            hosting: endpoint.hosting,
            health_path: endpoint.health_path.clone(),
        })
    }
}

impl ModelRoute {
    fn new(config: &Config, model: &configuration::ModelConfig, metrics: &Metrics) -> ModelRoute {
        let endpoints: Vec<EndpointIdx> = model
            .endpoints
            .iter()
            .copied()
            .map(EndpointIdx::new)
            .collect();
        let cleared = (0..config.classifications.names().len())
            .map(|rank| {
                let level = Classification(u8::try_from(rank).unwrap_or(u8::MAX));
                endpoints
                    .iter()
                    .copied()
                    .filter(|i| {
                        config
                            .endpoints
                            .get(i.get())
                            .is_some_and(|e| e.clearance >= level)
                    })
                    .collect()
            })
            .collect();
        ModelRoute {
            metrics: metrics.model(&model.name, model.kind.operation().as_str()),
            name: model.name.clone(),
            kind: model.kind,
            upstream_name: model.upstream_name.clone(),
            rename: ModelRename::new(&model.upstream_name, &model.name).map(Arc::new),
            cleared,
            fallbacks: model.fallbacks.iter().copied().map(ModelIdx::new).collect(),
            price: Price {
                input_micros_per_million: model.price.input_micros_per_million,
                output_micros_per_million: model.price.output_micros_per_million,
            },
            context_length: model.context_length,
            fim_template: model.fim_template.clone(),
            unserved_by: endpoints
                .iter()
                .filter_map(|i| config.endpoints.get(i.get()))
                .map(|e| e.kind)
                .find(|kind| kind.route(model.kind.operation()).is_none()),
            simulated: endpoints.iter().all(|i| {
                config
                    .endpoints
                    .get(i.get())
                    .is_some_and(|e| e.kind == EndpointKind::Simulator)
            }),
        }
    }

    /// The highest level one of the model's endpoints is cleared for; `None` when none is
    /// cleared even for the lowest.
    pub fn highest_clearance(&self) -> Option<Classification> {
        let rank = self
            .cleared
            .iter()
            .rposition(|endpoints| !endpoints.is_empty())?;
        Some(Classification(u8::try_from(rank).unwrap_or(u8::MAX)))
    }

    /// The model's endpoints whose clearance is at least `level`.
    pub fn cleared_for(&self, level: Classification) -> &[EndpointIdx] {
        self.cleared
            .get(usize::from(level.0))
            .map_or(&[], Vec::as_slice)
    }
}

/// Rewrites the backend's model name into the public one in response bodies. Built only for models
/// whose backends know them by another name.
#[derive(Debug, Clone)]
pub(crate) struct ModelRename {
    patterns: [Vec<u8>; 2],
    replacement: Vec<u8>,
}

impl ModelRename {
    pub fn new(upstream: &str, public: &str) -> Option<Self> {
        if upstream == public {
            return None;
        }
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let (from, to) = (quoted(upstream), quoted(public));
        Some(ModelRename {
            // Compact (most servers) and Python's default `json.dumps` spacing.
            patterns: [
                format!("\"model\":{from}").into_bytes(),
                format!("\"model\": {from}").into_bytes(),
            ],
            replacement: format!("\"model\":{to}").into_bytes(),
        })
    }

    /// Replaces the first `"model": "<upstream>"` of `bytes`, if any.
    pub fn apply(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.patterns.iter().find_map(|pattern| {
            let at = memmem::find(bytes, pattern)?;
            let mut out = Vec::with_capacity(bytes.len() + self.replacement.len());
            out.extend_from_slice(&bytes[..at]);
            out.extend_from_slice(&self.replacement);
            out.extend_from_slice(&bytes[at + pattern.len()..]);
            Some(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_rewrites_compact_and_spaced_forms() {
        let r = ModelRename::new("org/Model-7B", "mistral-small").unwrap();
        assert_eq!(
            r.apply(br#"{"id":"x","model":"org/Model-7B"}"#).unwrap(),
            br#"{"id":"x","model":"mistral-small"}"#
        );
        assert_eq!(
            r.apply(br#"{"model": "org/Model-7B"}"#).unwrap(),
            br#"{"model":"mistral-small"}"#
        );
        assert!(r.apply(br#"{"model":"other"}"#).is_none());
        assert!(ModelRename::new("same", "same").is_none());
    }
}
