//! The OpenAI- and Mistral-compatible wire protocol, as plain serde types.
//!
//! This crate knows nothing of Fabrique's domain: it describes what travels on the wire between a
//! caller, the gateway and a GPU backend. Requests are typed only as far as some component needs to
//! read them; everything else a caller sends is carried through untouched by the gateway (see
//! `gateway::accept`), so these types are *views*, not the whole truth.

pub mod chat;
pub mod embeddings;
pub mod error;
pub mod fim;
pub mod models;
pub mod object;
pub mod rerank;
pub mod sse;
pub mod strings;
pub mod validate;

pub use error::{ErrorBody, ErrorDetail, ErrorType};

use serde::{Deserialize, Serialize};

/// Token accounting as every OpenAI-compatible server reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}
