//! `POST /v1/fim/completions`, Mistral's fill-in-the-middle API (Codestral).
//! Its response has the shape of a chat completion.

use serde::{Deserialize, Serialize};

use crate::chat::Answering;

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"model": "codestral", "prompt": "def add(a, b):", "suffix": "\n", "max_tokens": 16}))]
pub struct FimRequest {
    pub model: String,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(flatten)]
    pub answering: Answering,
}
