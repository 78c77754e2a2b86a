//! Rate limits of one scope: requests per minute and tokens per minute, each a [`Gcra`], and the
//! values the gateway turns into OpenAI's `x-ratelimit-*` headers.
//!
//! Token limits are charged twice: an estimate at admission (prompt tokens plus `max_tokens`, or a
//! default when the caller gave none, see [`estimate_tokens`]), then a correction at settlement with
//! the real count, which refunds what was over-estimated or debits what was under-estimated.

use std::time::Duration;

use domain::UnixMillis;

use crate::gcra::{Gcra, GcraStatus, MAX_LIMIT_PER_MINUTE, Shortfall};
use crate::scope::Scope;

/// The rate limits of one scope; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u64>,
}

/// What a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    Requests,
    Tokens,
}

impl LimitKind {
    /// The suffix of the OpenAI headers: `x-ratelimit-limit-requests`, `…-tokens`.
    pub fn header_suffix(self) -> &'static str {
        match self {
            LimitKind::Requests => "requests",
            LimitKind::Tokens => "tokens",
        }
    }
}

/// One limit's state as the OpenAI headers show it, from the tightest scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateStatus {
    /// The scope whose limit this is (the one with the fewest units remaining).
    pub scope: Scope,
    /// `x-ratelimit-limit-*`: units per minute.
    pub limit: u64,
    /// `x-ratelimit-remaining-*`: units that could be charged right now.
    pub remaining: u64,
    /// `x-ratelimit-reset-*`: time until the bucket is full again if nothing more is charged.
    pub reset: Duration,
}

/// The `x-ratelimit-*` values for a request, for requests and tokens separately, from the caller's
/// own scopes (key and user); `None` where none of them has that kind of limit (the gateway then
/// sends no such header).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub requests: Option<RateStatus>,
    pub tokens: Option<RateStatus>,
}

/// A limit that cannot be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLimit {
    #[error("a {} limit of zero per minute would refuse everything; disable the key or remove the limit instead", .0.header_suffix())]
    Zero(LimitKind),
    #[error("a {} limit above {MAX_LIMIT_PER_MINUTE} per minute is not supported", .0.header_suffix())]
    TooLarge(LimitKind),
    #[error("a soft threshold must be a percentage between 1 and 100, not {0}")]
    SoftThreshold(u8),
}

/// The token estimate admission charges: the prompt plus the completion the caller may ask for, or
/// `default_completion_tokens` when it set no `max_tokens`. Over-estimating is safe (settlement
/// refunds it); under-estimating lets a burst overshoot until settlement debits the difference.
pub fn estimate_tokens(
    prompt_tokens: u64,
    max_tokens: Option<u64>,
    default_completion_tokens: u64,
) -> u64 {
    prompt_tokens.saturating_add(max_tokens.unwrap_or(default_completion_tokens))
}

impl Limits {
    /// Checks the limits as [`crate::Admission::set_limit`] will, so a caller can refuse bad input
    /// before persisting it.
    pub fn validate(&self) -> Result<(), InvalidLimit> {
        for (kind, limit) in [
            (LimitKind::Requests, self.requests_per_minute.map(u64::from)),
            (LimitKind::Tokens, self.tokens_per_minute),
        ] {
            match limit {
                Some(0) => return Err(InvalidLimit::Zero(kind)),
                Some(n) if n > MAX_LIMIT_PER_MINUTE => return Err(InvalidLimit::TooLarge(kind)),
                _ => {}
            }
        }
        Ok(())
    }

    pub(crate) fn is_unlimited(&self) -> bool {
        self.requests_per_minute.is_none() && self.tokens_per_minute.is_none()
    }
}

/// The token limit's bucket, with the configuration epoch at which it was created, so that a
/// settlement only corrects buckets that its admission charged (see `Ticket`).
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    pub gcra: Gcra,
    pub created_epoch: u64,
}

/// The rate-limit state of one scope.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateState {
    pub requests: Option<Gcra>,
    pub tokens: Option<TokenBucket>,
}

/// What of a request an admission checks and charges against the rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// One request and its tokens.
    Whole,
    /// One request only: counted before anything else about it is known.
    Request,
    /// Its tokens only: the request was counted already.
    Tokens,
}

impl Part {
    fn counts_request(self) -> bool {
        matches!(self, Part::Whole | Part::Request)
    }

    fn counts_tokens(self) -> bool {
        matches!(self, Part::Whole | Part::Tokens)
    }
}

/// The first reason one scope refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateShortfall {
    pub kind: LimitKind,
    pub shortfall: Shortfall,
    /// The limit and what was asked, for a `RequestTooLarge` refusal.
    pub limit: u64,
    pub requested: u64,
}

impl RateState {
    pub fn limits(&self) -> Limits {
        Limits {
            requests_per_minute: self
                .requests
                .as_ref()
                .map(|g| u32::try_from(g.limit()).unwrap_or(u32::MAX)),
            tokens_per_minute: self.tokens.as_ref().map(|t| t.gcra.limit()),
        }
    }

    /// Applies new limits, keeping each surviving bucket's state; `next_epoch` is called only when a
    /// token bucket is created.
    pub fn set_limits(&mut self, limits: Limits, next_epoch: impl FnOnce() -> u64) {
        self.requests = match (self.requests.take(), limits.requests_per_minute) {
            (_, None) => None,
            (Some(mut gcra), Some(limit)) => {
                gcra.set_limit(u64::from(limit));
                Some(gcra)
            }
            (None, Some(limit)) => Some(Gcra::new(u64::from(limit))),
        };
        self.tokens = match (self.tokens.take(), limits.tokens_per_minute) {
            (_, None) => None,
            (Some(mut bucket), Some(limit)) => {
                bucket.gcra.set_limit(limit);
                Some(bucket)
            }
            (None, Some(limit)) => Some(TokenBucket {
                gcra: Gcra::new(limit),
                created_epoch: next_epoch(),
            }),
        };
    }

    /// The worst shortfall of this scope for one request of `tokens` estimated tokens: a request
    /// that can never pass comes first, then the longest wait.
    pub fn check(&self, part: Part, tokens: u64, now: UnixMillis) -> Option<RateShortfall> {
        let requests = self.requests.as_ref().filter(|_| part.counts_request());
        let requests = requests.and_then(|g| {
            g.check(1, now).err().map(|shortfall| RateShortfall {
                kind: LimitKind::Requests,
                shortfall,
                limit: g.limit(),
                requested: 1,
            })
        });
        let bucket = self.tokens.as_ref().filter(|_| part.counts_tokens());
        let tokens = bucket.and_then(|t| {
            t.gcra
                .check(tokens, now)
                .err()
                .map(|shortfall| RateShortfall {
                    kind: LimitKind::Tokens,
                    shortfall,
                    limit: t.gcra.limit(),
                    requested: tokens,
                })
        });
        match (requests, tokens) {
            (Some(a), Some(b)) => Some(if b.is_worse_than(&a) { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    pub fn charge(&mut self, part: Part, tokens: u64, now: UnixMillis) {
        if let Some(g) = self.requests.as_mut().filter(|_| part.counts_request()) {
            g.charge(1, now);
        }
        if let Some(t) = self.tokens.as_mut().filter(|_| part.counts_tokens()) {
            t.gcra.charge(tokens, now);
        }
    }

    /// Replaces a token estimate charged by an admission of configuration epoch `epoch` with the
    /// real count.
    pub fn settle(&mut self, epoch: u64, estimated: u64, actual: u64, now: UnixMillis) {
        if let Some(t) = self.tokens.as_mut().filter(|t| t.created_epoch <= epoch) {
            if actual >= estimated {
                t.gcra.charge(actual - estimated, now);
            } else {
                t.gcra.refund(estimated - actual);
            }
        }
    }

    pub fn reset(&mut self) {
        if let Some(g) = self.requests.as_mut() {
            g.reset();
        }
        if let Some(t) = self.tokens.as_mut() {
            t.gcra.reset();
        }
    }

    pub fn status(&self, kind: LimitKind, now: UnixMillis) -> Option<GcraStatus> {
        match kind {
            LimitKind::Requests => self.requests.as_ref().map(|g| g.status(now)),
            LimitKind::Tokens => self.tokens.as_ref().map(|t| t.gcra.status(now)),
        }
    }
}

impl RateShortfall {
    /// Ordering for choosing what to report: never-admissible first, then the longest wait.
    pub fn is_worse_than(&self, other: &RateShortfall) -> bool {
        match (self.shortfall, other.shortfall) {
            (Shortfall::TooLarge, Shortfall::TooLarge) => false,
            (Shortfall::TooLarge, _) => true,
            (_, Shortfall::TooLarge) => false,
            (Shortfall::RetryAfter(a), Shortfall::RetryAfter(b)) => a > b,
        }
    }
}

/// Picks the tightest scope for one header: fewest units remaining, then the longest reset.
pub(crate) fn is_tighter(candidate: &GcraStatus, current: &GcraStatus) -> bool {
    candidate.remaining < current.remaining
        || (candidate.remaining == current.remaining && candidate.resets_later_than(current))
}

#[cfg(test)]
mod tests;
