//! `GET /v1/models` and `GET /v1/models/{id}`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelCard>,
}

/// One model as callers see it. `owned_by` and the Fabrique extension fields tell what serves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

impl ModelList {
    pub fn new(data: Vec<ModelCard>) -> Self {
        ModelList {
            object: "list".to_owned(),
            data,
        }
    }
}
