//! [`Allotments`]: the GPU endpoints' capacity shared by the replicas, each using only the part
//! Redis allots it, so that what they all send to an endpoint never exceeds its capacity.
//!
//! **The lease.** Every renewal period (a second) each replica runs one script (`allot.lua`)
//! that renews its lease (a sorted set of live replicas scored by when their lease runs out, in
//! Redis's own clock) and, for each endpoint, records its demand (requests in flight and waiting
//! in the endpoint's pool) and what it holds, and answers its allotment. A replica whose lease
//! ran out is forgotten by the next renewal of any other, and its holdings with it.
//!
//! **The split.** Each live replica first gets one sequence (while the capacity allows), then the
//! rest is divided by weight, `min(demand, capacity) + 1` (idle replicas split evenly, a busy one
//! draws the capacity towards it), by the largest remainder. A replica is allotted its target only
//! as far as the others leave free.
//!
//! **The bound: no overcommit.** What a replica *holds* at an endpoint in Redis is at least what
//! it may be using there: the script records `max(allotment, held)`, where `held` is measured
//! before the renewal was sent as `max(outstanding, the last two allotments)`, and an allotment is
//! the capacity minus the others' holdings at most. A replica sizes its pools and routes new
//! requests by its newest allotment at once; a request the pool granted just before a lowered
//! allotment arrived may still be sent within the one before (routing's ceiling), and that one is
//! still held in Redis until the next renewal. So a replica lowers its use before another can raise
//! its own: the holdings of live replicas sum to at most each endpoint's capacity, and so does what
//! they send (routing never sends beyond the ceiling, `routing::Endpoints::allot`). Capacity moves
//! from one replica to another within three renewal periods.
//!
//! **A replica's death.** Its holdings stay until its lease runs out (`lease`, three periods),
//! then any other renewal frees them: a dead replica's part is reused within a lease and a
//! period. A live replica whose renewals fail stops using its allotment when its own lease runs
//! out, measured from when it sent its last successful renewal (before Redis started the lease,
//! so it stops first), and falls back to `capacity ÷ [redis] replicas` per endpoint, rounded down:
//! with Redis unreachable for every replica, they sum to at most the capacity when `replicas` is
//! at least their number; with Redis unreachable for one replica only, the others reclaim its part
//! and the sum may exceed the capacity by that replica's fallback and what it still had
//! outstanding, until its requests finish or it reaches Redis again. Clocks need not agree: only
//! their rates (the lease is measured by Redis on one side, by the replica's monotonic clock on
//! the other).
//!
//! [`Allotments::renew_lease`] keeps the lease and says which applies after each renewal: the
//! allotments Redis answered, the last ones while the lease runs, or the fallback shares.
//!
//! The request path does no round trip for any of it: renewals are a background task's (the
//! gateway's), and the request path reads the allotments from memory.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use tokio::time::Instant;

use crate::shared::Shared;
use crate::status::Unreachable;

/// How often a replica renews its lease and allotments.
pub const RENEWAL_PERIOD: Duration = Duration::from_secs(1);
/// How long a lease lasts without renewal: three periods, so one late renewal loses nothing.
pub const LEASE: Duration = Duration::from_secs(3);

/// One replica's allotments of the endpoints' capacity, renewed in Redis.
pub struct Allotments {
    shared: Arc<Shared>,
    script: Script,
    replica: String,
    lease: Duration,
    /// Until when the last renewal that answered lets this replica use its allotments.
    held: Lease,
}

/// What a replica knows of its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lease {
    /// Never renewed, or run out: the fallback shares are in force.
    None,
    /// Renewed, valid until then.
    Until(Instant),
}

/// What a replica applies after [`Allotments::renew_lease`], for each claimed endpoint in the
/// claims' order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Redis answered: these allotments.
    Allotted(Vec<u32>),
    /// Redis did not answer and the lease still runs: the last allotments hold.
    Held,
    /// Redis did not answer and the lease ran out (or never began): the fallback shares.
    FellBack(Vec<u32>),
}

/// What a replica asks of one endpoint at a renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'a> {
    /// The endpoint's name, the same on every replica.
    pub endpoint: &'a str,
    /// Its capacity, as configured.
    pub capacity: u32,
    /// The most this replica may be using there until it applies the answer:
    /// `max(outstanding, its last two allotments)`.
    pub held: u32,
    /// Requests of its pool in flight and waiting here.
    pub demand: u32,
}

/// A renewal's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allotted {
    /// Each claimed endpoint's allotment, in the claims' order.
    pub sequences: Vec<u32>,
    /// When the lease runs out unless renewed again: from then on, use the fallback.
    pub until: Instant,
}

impl std::fmt::Debug for Allotments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Allotments")
            .field("replica", &self.replica)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Allotments {
    /// The allotments of the replica named `replica` (unique among the live ones: a random id per
    /// process), under a lease of `lease` ([`LEASE`] in service).
    pub fn new(shared: Arc<Shared>, replica: impl Into<String>, lease: Duration) -> Allotments {
        Allotments {
            shared,
            script: Script::new(include_str!("allot.lua")),
            replica: replica.into(),
            lease,
            held: Lease::None,
        }
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Renews the lease and answers each claimed endpoint's allotment: one round trip.
    pub async fn renew(&self, claims: &[Claim<'_>]) -> Result<Allotted, Unreachable> {
        let sent = Instant::now();
        let keys = self.shared.keys();
        let mut call = self.script.prepare_invoke();
        call.key(keys.live_replicas())
            .arg(&self.replica)
            .arg(u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX));
        for claim in claims {
            call.key(keys.allotments(claim.endpoint))
                .arg(claim.capacity)
                .arg(claim.held)
                .arg(claim.demand);
        }
        let sequences: Vec<u32> = self.shared.invoke(&call).await?;
        if sequences.len() != claims.len() {
            let error = format!(
                "an allotment answer of {} numbers for {} endpoints",
                sequences.len(),
                claims.len()
            );
            self.shared.failed(&error);
            return Err(Unreachable::because(error));
        }
        Ok(Allotted {
            sequences,
            until: sent + self.lease,
        })
    }

    /// Renews the lease ([`Allotments::renew`]) and says what to apply. When Redis does not
    /// answer, `now` says whether the lease still runs: this replica's monotonic clock, read once
    /// the round trip has failed (`Instant::now`; a test moves it on to run a lease out).
    pub async fn renew_lease(
        &mut self,
        claims: &[Claim<'_>],
        now: impl FnOnce() -> Instant,
    ) -> Renewal {
        let error = match self.renew(claims).await {
            Ok(allotted) => {
                if self.held == Lease::None {
                    tracing::info!(
                        replica = self.replica.as_str(),
                        "the GPU endpoints' capacity is shared with the other replicas through Redis"
                    );
                }
                self.held = Lease::Until(allotted.until);
                return Renewal::Allotted(allotted.sequences);
            }
            Err(error) => error,
        };
        let now = now();
        match self.held {
            Lease::Until(until) if now < until => {
                tracing::warn!(%error, "the allotments of the GPU endpoints' capacity could not be renewed; the last ones hold until the lease runs out");
                Renewal::Held
            }
            Lease::Until(_) => {
                tracing::error!(%error, "the lease on the GPU endpoints' capacity ran out: each endpoint's `[redis] replicas` share applies");
                self.held = Lease::None;
                self.fall_back(claims)
            }
            Lease::None => self.fall_back(claims),
        }
    }

    fn fall_back(&self, claims: &[Claim<'_>]) -> Renewal {
        Renewal::FellBack(claims.iter().map(|c| self.fallback(c.capacity)).collect())
    }

    /// What this replica uses of an endpoint of `capacity` while it holds no lease: its share by
    /// `[redis] replicas`, rounded down.
    pub fn fallback(&self, capacity: u32) -> u32 {
        capacity / self.shared.replicas().max(1)
    }
}
