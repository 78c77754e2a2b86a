//! `POST /v1/embeddings`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Usage;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"model": "mistral-embed", "input": ["Bonjour", "Hello"]}))]
pub struct EmbeddingsRequest {
    pub model: String,
    /// A string, an array of strings, or token arrays.
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
}

impl EmbeddingsRequest {
    /// Each input as text; token arrays are rendered as their numbers so they still hash stably.
    pub fn inputs(&self) -> Vec<String> {
        match &self.input {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            other => vec![other.to_string()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmbeddingsResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub object: String,
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: EmbeddingsUsage,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Embedding {
    pub object: String,
    pub index: u32,
    pub embedding: Value,
}

/// Embeddings report only prompt tokens; `Usage` deserializes from this shape too.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmbeddingsUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

impl From<EmbeddingsUsage> for Usage {
    fn from(u: EmbeddingsUsage) -> Usage {
        Usage::new(u.prompt_tokens, 0)
    }
}
