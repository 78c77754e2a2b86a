//! What a request asks of the scheduler, and why it may be refused.

use std::time::Duration;

use domain::EntityId;

/// How urgent a request is; the type lives in `domain` because API keys carry a class too.
pub use domain::Priority;

/// One request asking for a sequence of a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub entity: EntityId,
    pub priority: Priority,
    /// Prompt tokens, as estimated before the backend counts them.
    pub input_tokens_estimate: u64,
    /// Completion tokens expected: `max_tokens` when the caller set it, else a per-model default.
    pub output_tokens_estimate: u64,
    /// The longest this request may wait; `None` (or anything longer) means its priority's limit.
    pub max_wait: Option<Duration>,
}

/// Why a request was not given a sequence. Each maps to a 429 (`Timeout`, `QueueFull`, with
/// `Retry-After`) or a 503 (`NoCapacity`) at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Shed {
    /// The request waited its whole `max_wait` without a sequence freeing up for it.
    #[error("the GPU pool is saturated: no capacity freed up in time (retry after {}s)", retry_after.as_secs())]
    Timeout { retry_after: Duration },
    /// The pool's waiting line is full, and this request's entity holds the longest share of it.
    #[error("the GPU pool's queue is full (retry after {}s)", retry_after.as_secs())]
    QueueFull { retry_after: Duration },
    /// The pool has no capacity at all: no endpoint of it is available.
    #[error("the GPU pool has no available endpoint")]
    NoCapacity,
}

impl Shed {
    /// When a retry may succeed, in whole seconds, for the `Retry-After` header.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Shed::Timeout { retry_after } | Shed::QueueFull { retry_after } => Some(*retry_after),
            Shed::NoCapacity => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Shed::Timeout { .. } => "timeout",
            Shed::QueueFull { .. } => "queue_full",
            Shed::NoCapacity => "no_capacity",
        }
    }
}
