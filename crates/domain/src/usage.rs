//! The usage record: one per inference request, the unit of metering and chargeback.

use serde::{Deserialize, Serialize};

use crate::{EntityId, Hosting, KeyId, ModelKind, ServiceAccountId, TeamId, UnixMillis, UserId};

/// What a request asked the model to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Chat,
    Embeddings,
    Fim,
    /// Documents ordered by their relevance to a query, by a reranker (a cross-encoder).
    Rerank,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::Embeddings => "embeddings",
            Operation::Fim => "fim",
            Operation::Rerank => "rerank",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            "chat" => Some(Operation::Chat),
            "embeddings" => Some(Operation::Embeddings),
            "fim" => Some(Operation::Fim),
            "rerank" => Some(Operation::Rerank),
            _ => None,
        }
    }

    /// The kind of model that serves this operation.
    pub fn model_kind(self) -> ModelKind {
        match self {
            Operation::Chat => ModelKind::Chat,
            Operation::Embeddings => ModelKind::Embeddings,
            Operation::Fim => ModelKind::Fim,
            Operation::Rerank => ModelKind::Rerank,
        }
    }

    /// The route the inference API serves this operation on.
    pub fn public_path(self) -> &'static str {
        match self {
            Operation::Chat => "/v1/chat/completions",
            Operation::Embeddings => "/v1/embeddings",
            Operation::Fim => "/v1/fim/completions",
            Operation::Rerank => "/v1/rerank",
        }
    }

    /// The path of this operation under a backend's API base (`…/v1`).
    pub fn upstream_path(self) -> &'static str {
        match self {
            Operation::Chat => "/chat/completions",
            Operation::Embeddings => "/embeddings",
            Operation::Fim => "/fim/completions",
            Operation::Rerank => "/rerank",
        }
    }
}

/// Whether `text` is a slug: 1 to 63 characters among `a-z`, `0-9` and `-`, not starting or
/// ending with `-`. Entity slugs and use-case labels follow this rule.
pub fn is_slug(text: &str) -> bool {
    (1..=63).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// One request's accounting. Written off the request path, in batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The request's id, the server's (`x-request-id` on the response): unique to the request,
    /// whatever the caller sends.
    pub request_id: String,
    /// The caller's own id for the request (`x-client-request-id`, else its `x-request-id`), kept
    /// apart from the server's: a caller may reuse one, so it identifies nothing by itself.
    pub client_request_id: Option<String>,
    pub started_at: UnixMillis,
    pub entity_id: Option<EntityId>,
    pub user_id: Option<UserId>,
    pub service_account_id: Option<ServiceAccountId>,
    pub key_id: Option<KeyId>,
    /// The team the request is charged to: of the user's teams, the one whose id sorts first (ids
    /// are time-ordered, so the oldest team; joining a new team does not move a user's charges).
    pub team_id: Option<TeamId>,
    /// The use case the request served: the one invoked as `usecase/<slug>`, else the caller's
    /// `x-fabrique-use-case` label (a slug; a registered use case's only when the caller may
    /// name it, any other label as the caller said).
    pub use_case: Option<String>,
    /// The use-case version that answered, when the caller invoked `usecase/<slug>`.
    pub use_case_version: Option<u32>,
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
    /// The token counts are the gateway's estimate, not the backend's: the backend gave no usage
    /// for an answer (a stream cut before its usage chunk, a backend that reports none), so the
    /// request is charged its prompt's estimate and the completion relayed (characters ÷ 4).
    pub usage_estimated: bool,
    /// The answer came from the response cache: no backend was asked, no token is charged.
    #[serde(default)]
    pub cache_hit: bool,
}

/// The error codes of requests the data policy refused (blocked terms, suspected prompt
/// injections, personal data it blocks): what reports count as refusals by the data policy.
pub const DATA_POLICY_REFUSALS: [&str; 3] = [
    "blocked_term",
    "prompt_injection_suspected",
    "personal_data_blocked",
];

/// A caller's verdict on one answer (thumbs up or down, and a comment), given through the
/// inference API or the chat. It names the request it judges; reports count it only when the
/// same caller made that request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    pub request_id: String,
    pub at: UnixMillis,
    /// Who gave it: the key id, else the signed-in user's id (the audit actor's form).
    pub actor: String,
    pub entity_id: Option<EntityId>,
    pub rating: Rating,
    pub comment: Option<String>,
}

/// Thumbs up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    Up,
    Down,
}

impl Rating {
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Up => "up",
            Rating::Down => "down",
        }
    }

    pub fn parse(name: &str) -> Option<Rating> {
        match name {
            "up" => Some(Rating::Up),
            "down" => Some(Rating::Down),
            _ => None,
        }
    }
}

/// What a set of usage records adds up to. Integer sums only: money is in micro-units, so a total
/// is exactly the sum of its records, whatever the order of addition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micros: u64,
    /// Requests that ended in an error (an error code was recorded).
    pub errors: u64,
    /// Requests answered from the response cache, at no token and no cost.
    #[serde(default)]
    pub cache_hits: u64,
}

impl From<&UsageRecord> for UsageTotals {
    /// One record's contribution to a total.
    fn from(record: &UsageRecord) -> UsageTotals {
        UsageTotals {
            requests: 1,
            input_tokens: record.prompt_tokens,
            output_tokens: record.completion_tokens,
            cost_micros: record.cost_micros,
            errors: u64::from(record.error_code.is_some()),
            cache_hits: u64::from(record.cache_hit),
        }
    }
}

impl UsageTotals {
    /// Adds `other` to these totals (saturating, though no real total comes near `u64::MAX`).
    pub fn add(&mut self, other: &UsageTotals) {
        self.requests = self.requests.saturating_add(other.requests);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cost_micros = self.cost_micros.saturating_add(other.cost_micros);
        self.errors = self.errors.saturating_add(other.errors);
        self.cache_hits = self.cache_hits.saturating_add(other.cache_hits);
    }
}

#[cfg(test)]
mod tests {
    use super::{Operation, is_slug};

    #[test]
    fn each_operation_is_served_by_one_model_kind_on_its_own_paths() {
        let all = [
            Operation::Chat,
            Operation::Embeddings,
            Operation::Fim,
            Operation::Rerank,
        ];
        for operation in all {
            assert_eq!(operation.model_kind().operation(), operation);
            assert_eq!(operation.model_kind().as_str(), operation.as_str());
            assert!(operation.public_path().ends_with(operation.upstream_path()));
            assert_eq!(Operation::parse(operation.as_str()), Some(operation));
        }
    }

    #[test]
    fn slugs_are_short_lowercase_words_joined_by_dashes() {
        for good in ["a", "credit-scoring", "kyc2", &"x".repeat(63)] {
            assert!(is_slug(good), "{good}");
        }
        for bad in ["", "-a", "a-", "Credit", "a b", "é", "a_b", &"x".repeat(64)] {
            assert!(!is_slug(bad), "{bad}");
        }
    }
}
