//! Rate limits and budgets counted once for all the replicas of an installation, in Redis.
//!
//! Without `[redis]`, a process counts alone in its `admission::Admission` table, as a single
//! replica should ([`Counters::local`]). With it ([`Counters::shared`]), the table keeps the
//! configuration (the admin API and the cluster refresh set limits and budgets there, as before)
//! and the counting moves to Redis, so a limit of N requests a minute admits N for the group, not N
//! per replica.
//!
//! ## The request path: one round trip
//!
//! A request is counted, checked and charged against every limit and budget of its key, user,
//! teams and entity by **one** Lua script (`admit.lua`, run by its digest), all or none, at the
//! admission stage. The earlier count stage (before the body is read) costs no round trip: it
//! refuses from this replica's memory of the scopes Redis last refused for their request rate,
//! until the instant Redis said they could retry, so a flood is still refused before its body is
//! read. A request that leaves before admission (refused by a later check, a bad body) is counted
//! afterwards, off the request path. Settlement (the real tokens and cost replacing the estimate)
//! is queued and written in pipelined batches by a background task, so it never delays an answer.
//! No lock is held across the round trip.
//!
//! ## The bounds
//!
//! - **Rate limits** are GCRA exactly as in `admission`, evaluated atomically in Redis: across
//!   replicas a limit of N a minute admits exactly what one process would, N in a burst, then one
//!   per N-th of a minute. Exact for limits up to 10^11 a minute (Lua's numbers are doubles).
//! - **Budgets** reserve the estimate at admission and settle the real amount, as in `admission`:
//!   `spent <= hard_limit + Σ max(0, actual − estimate)`, so with estimates that are upper bounds
//!   (money always is: prompt plus `max_tokens` at the model's price) a hard budget is **never
//!   exceeded**, whatever the number of replicas. A replica that dies with requests in flight
//!   leaves their reservations until the period ends: the group may then under-spend, never
//!   overspend.
//! - A budget's counter that does not exist yet in Redis (the period's first request, or a Redis
//!   that lost its data) starts from the spending this replica recomputed from usage records.
//!
//! ## When Redis cannot be reached
//!
//! A round trip that fails or takes longer than `[redis] timeout_ms` marks Redis down: the gauge
//! `fabrique_shared_counters_up` goes to 0, `fabrique_shared_counters_failures` counts, and one
//! log line says so. Then:
//! - a request under any **hard budget is refused** (HTTP 503, fail closed): money is never spent
//!   that no counter saw;
//! - **rate limits fall back to this replica's share**: `ceil(limit / [redis] replicas)`, counted
//!   in memory, so the group admits at most about the limit;
//! - settlements wait in a bounded queue and are written when Redis is back.
//!
//! Every request tries Redis again, so recovery needs nothing: the first round trip that succeeds
//! sets the gauge back to 1 and logs it.
//!
//! ## The GPU endpoints, shared
//!
//! Two background exchanges, once a renewal period each, keep the replicas' schedulers from
//! each believing they own every endpoint: [`Allotments`] lease each replica its part of each
//! endpoint's capacity, so that in sum they never send an endpoint more than its capacity
//! (`allotment.rs` states the bound, during rebalancing, a replica's death and an outage), and
//! [`Exchange`] carries what each replica served each entity, so token-fair shares hold across
//! replicas (`service.rs`, with the bound). Neither is on the request path.
//!
//! ## What administrators see and reset
//!
//! A budget's status (`Counters::budgets`, behind `GET /admin/v1/budgets…`) reads the group's
//! spending and reservations from Redis, and a reset (`Counters::reset`, behind
//! `POST /admin/v1/budgets/{kind}/{id}/reset`) writes them there (`status.rs`), so neither
//! shows nor changes one replica's table alone. Either answers an error while Redis cannot be
//! reached (the admin API's `503`), rather than a figure that is not the group's.

mod allotment;
mod script;
mod service;
mod shared;
mod status;
mod writer;

use std::sync::Arc;

use admission::{Admission, BudgetStatus, Consumption, Refusal, Refused, Request, Scope};
use domain::UnixMillis;

pub use allotment::{Allotments, Allotted, Claim, LEASE, RENEWAL_PERIOD, Renewal};
pub use service::{Exchange, Service};
pub use shared::Shared;
pub use status::Unreachable;

/// How this process counts: alone, or with the other replicas through Redis.
#[derive(Debug, Clone)]
pub struct Counters {
    admission: Arc<Admission>,
    shared: Option<Arc<Shared>>,
}

/// An admitted request, with what settles it here or in Redis.
pub type Admitted = admission::Admitted<Ticket>;

/// What settlement needs: where the admission was charged, and what.
#[derive(Debug)]
#[must_use = "an admitted request must be settled with its ticket"]
pub enum Ticket {
    /// In this process's table.
    Local(admission::Ticket),
    /// In Redis.
    Shared(shared::SharedTicket),
    /// In this replica's share of the rate limits, while Redis could not be reached.
    Fallback(admission::Ticket),
}

/// Why a request is not admitted.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    #[error("{0}")]
    Refused(Refused),
    /// A hard budget applies and its shared counter cannot be reached: refused, fail closed.
    #[error(
        "the budgets that apply to this request cannot be checked right now (their shared counter is unreachable); retry shortly"
    )]
    Unavailable,
}

/// Whether a request's count is done at the count stage, or owed to the admission stage (or, if
/// it never gets there, to [`Counters::record_count`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Done,
    Owed,
}

impl Counters {
    /// Counting in this process alone.
    pub fn local(admission: Arc<Admission>) -> Counters {
        Counters {
            admission,
            shared: None,
        }
    }

    /// Counting in Redis, with `admission` holding the configuration.
    pub fn shared(admission: Arc<Admission>, shared: Arc<Shared>) -> Counters {
        Counters {
            admission,
            shared: Some(shared),
        }
    }

    /// The connection to the other replicas through Redis, when there is one.
    pub fn redis(&self) -> Option<&Arc<Shared>> {
        self.shared.as_ref()
    }

    /// The table that holds the limits and budgets (and, alone, counts them).
    pub fn admission(&self) -> &Arc<Admission> {
        &self.admission
    }

    /// Counts one request against the request-rate limit of every scope (alone), or refuses it
    /// from memory if Redis refused one of its scopes until later (shared). Before the body is
    /// read: no round trip.
    pub fn count(&self, scopes: &[Scope], now: UnixMillis) -> Result<Counted, Refused> {
        match &self.shared {
            None => self
                .admission
                .count_request(scopes, now)
                .map(|()| Counted::Done),
            Some(shared) => shared.refused_until(scopes, now).map(|()| Counted::Owed),
        }
    }

    /// Checks and charges the request's estimate against every limit and budget of `scopes`, all
    /// or none; `counted` says whether the count stage counted it already.
    pub async fn admit(
        &self,
        scopes: Vec<Scope>,
        estimate: Consumption,
        counted: Counted,
        now: UnixMillis,
    ) -> Result<Admitted, Denied> {
        match &self.shared {
            None => {
                let request = Request {
                    scopes,
                    estimate,
                    counted: counted == Counted::Done,
                };
                let admitted = self
                    .admission
                    .check_and_charge(request, now)
                    .map_err(Denied::Refused)?;
                Ok(admitted.map_ticket(Ticket::Local))
            }
            Some(shared) => shared.admit(&self.admission, scopes, estimate, now).await,
        }
    }

    /// Replaces an admission's estimate with the real consumption. Never waits: a shared
    /// settlement is queued for the background writer.
    pub fn settle(&self, ticket: Ticket, actual: Consumption, now: UnixMillis) {
        match (ticket, &self.shared) {
            (Ticket::Local(ticket), _) => self.admission.settle(ticket, actual, now),
            (Ticket::Fallback(ticket), Some(shared)) => shared.settle_fallback(ticket, actual, now),
            (Ticket::Shared(ticket), Some(shared)) => {
                shared.settle(&self.admission, ticket, actual, now);
            }
            (Ticket::Fallback(_) | Ticket::Shared(_), None) => {
                tracing::error!("a shared admission's ticket reached a process that counts alone");
            }
        }
    }

    /// Waits until every settlement and late count queued so far is written (shared); at once
    /// (alone).
    pub async fn flush(&self) {
        if let Some(shared) = &self.shared {
            shared.flush().await;
        }
    }

    /// `scope`'s budgets in their current periods with what the group spent and reserved: from
    /// Redis (shared), or this process's table (alone).
    pub async fn budgets(
        &self,
        scope: &Scope,
        now: UnixMillis,
    ) -> Result<Vec<BudgetStatus>, Unreachable> {
        let mut statuses = self.admission.budgets(scope, now);
        self.group_spending(&mut statuses).await?;
        Ok(statuses)
    }

    /// Replaces the spending and reservations of budget statuses read from this process's table
    /// by the group's (shared; one round trip for all); leaves them as they are (alone).
    pub async fn group_spending(&self, statuses: &mut [BudgetStatus]) -> Result<(), Unreachable> {
        match &self.shared {
            None => Ok(()),
            Some(shared) => shared.group_statuses(statuses).await,
        }
    }

    /// Starts `scope`'s rate limits and budgets afresh at `at` (an administrator's reset): in this
    /// process's table, and for the whole group in Redis (shared). The other replicas' tables
    /// learn of it from the store, as of any change.
    pub async fn reset(&self, scope: &Scope, at: UnixMillis) -> Result<(), Unreachable> {
        self.admission.reset(scope, at);
        match &self.shared {
            None => Ok(()),
            Some(shared) => {
                shared
                    .reset(scope, &self.admission.budgets(scope, at))
                    .await
            }
        }
    }

    /// Counts a request whose count was owed (see [`Counted::Owed`]) and that left before
    /// admission: refused by a later check, it still counts, off the request path.
    pub fn record_count(&self, scopes: &[Scope], now: UnixMillis) {
        if let Some(shared) = &self.shared {
            shared.record_count(&self.admission, scopes, now);
        }
    }
}

/// Whether a refusal is by a request-rate limit (the only kind the count stage can remember).
fn by_request_rate(refusal: &Refusal) -> bool {
    matches!(
        refusal,
        Refusal::RateLimited {
            kind: admission::LimitKind::Requests,
            ..
        }
    )
}
