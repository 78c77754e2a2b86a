//! `POST /v1/rerank`: documents scored against a query, in the shape Cohere and Jina defined and
//! vLLM serves. The request names the `documents` as strings; the answer gives their positions
//! in that list, most relevant first, each with its `relevance_score` and, when asked
//! (`return_documents`), its text.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "model": "bge-reranker",
    "query": "How long is the notice period?",
    "documents": ["The notice period is three months.", "The canteen opens at noon."],
    "top_n": 1
}))]
pub struct RerankRequest {
    pub model: String,
    /// The text the documents are scored against.
    pub query: String,
    /// The texts to score; at least one.
    pub documents: Vec<String>,
    /// Only the `top_n` most relevant are returned. Default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_n: Option<u32>,
    /// Whether each result carries its document's text. Default: vLLM's, which returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_documents: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RerankResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub model: String,
    /// Most relevant first.
    pub results: Vec<RerankResult>,
    /// What the scoring read; absent when the engine does not count it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<RerankUsage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RerankResult {
    /// The document's position in the request's `documents`.
    pub index: u32,
    /// Higher is more relevant; comparable only within one model.
    pub relevance_score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<RerankDocument>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RerankDocument {
    pub text: String,
}

/// A reranker reads and completes nothing else: its tokens are all input.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RerankUsage {
    pub total_tokens: u64,
}
