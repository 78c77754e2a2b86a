//! The usage record: one per inference request, the unit of metering and chargeback.

use serde::{Deserialize, Serialize};

use crate::{EntityId, Hosting, KeyId, ServiceAccountId, UnixMillis, UserId};

/// What a request asked the model to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Chat,
    Embeddings,
    Fim,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::Embeddings => "embeddings",
            Operation::Fim => "fim",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            "chat" => Some(Operation::Chat),
            "embeddings" => Some(Operation::Embeddings),
            "fim" => Some(Operation::Fim),
            _ => None,
        }
    }
}

/// One request's accounting. Written off the request path, in batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The `x-request-id` of the request.
    pub request_id: String,
    pub started_at: UnixMillis,
    pub entity_id: Option<EntityId>,
    pub user_id: Option<UserId>,
    pub service_account_id: Option<ServiceAccountId>,
    pub key_id: Option<KeyId>,
    pub operation: Operation,
    /// The public model name the caller asked for (after fallback: the one that answered).
    pub model: String,
    /// The endpoint that answered, if any did.
    pub endpoint: Option<String>,
    pub stream: bool,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Cost in micro-units of the group's currency, from the model's prices.
    pub cost_micros: u64,
    pub ttft_ms: Option<u32>,
    pub duration_ms: u32,
    /// HTTP status returned to the caller (200 even when a stream later ended in error).
    pub status: u16,
    /// Error code when the request failed, e.g. `upstream_unavailable`, `stream_interrupted`.
    pub error_code: Option<String>,
    /// Endpoints tried, the answering one included.
    pub attempts: u32,
    /// The request's data classification (a level name of the configuration's ladder), once known.
    pub classification: Option<String>,
    /// Where the answering endpoint runs, if one answered.
    pub hosting: Option<Hosting>,
}
