//! `GET /v1/models` and `GET /v1/models/{id}`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelCard>,
}

/// One model as callers see it. `owned_by` and the Fabrique extension fields tell what serves it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelCard {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub owned_by: String,
    /// `chat`, `embeddings` or `fim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// True when every endpoint serving the model is the built-in GPU-backend simulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated: Option<bool>,
    /// Mistral's card fields: the `mistralai` SDK requires `type` and `capabilities`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub card_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<ModelCapabilities>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_context_length: Option<u32>,
    /// Where the model runs (Fabrique): its endpoints' hostings, e.g. `on_premises`,
    /// `sovereign_cloud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosting: Option<Vec<String>>,
    /// The highest classification the model accepts (Fabrique): the highest level one of its
    /// endpoints is cleared for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clearance: Option<String>,
}

/// What a model can do, in the Mistral API's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelCapabilities {
    #[serde(default)]
    pub completion_chat: bool,
    #[serde(default)]
    pub completion_fim: bool,
    #[serde(default)]
    pub function_calling: bool,
    #[serde(default)]
    pub fine_tuning: bool,
    #[serde(default)]
    pub vision: bool,
}

impl ModelCard {
    /// A card with the OpenAI fields and Mistral's, for a model of `kind` (`chat`, `embeddings`, `fim`).
    pub fn new(id: String, created: u64, owned_by: String, kind: &str, simulated: bool) -> Self {
        ModelCard {
            id,
            object: "model".to_owned(),
            created,
            owned_by,
            kind: Some(kind.to_owned()),
            simulated: Some(simulated),
            card_type: Some("base".to_owned()),
            capabilities: Some(ModelCapabilities {
                completion_chat: kind == "chat",
                completion_fim: kind == "fim",
                function_calling: kind == "chat",
                ..ModelCapabilities::default()
            }),
            max_context_length: None,
            hosting: None,
            clearance: None,
        }
    }
}

impl ModelList {
    pub fn new(data: Vec<ModelCard>) -> Self {
        ModelList {
            object: "list".to_owned(),
            data,
        }
    }
}
