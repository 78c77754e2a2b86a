//! The async face of one pool: `admit` waits for a sequence, `Dispatch` holds it.
//!
//! One `parking_lot` mutex guards the pool's `FairQueue`; it is held for a few field updates and
//! never across an `.await`. The fast path (a free sequence, nobody waiting) takes it once and
//! allocates nothing; a request that must wait allocates one oneshot channel. Releasing a sequence
//! takes the lock once, and wakes the next waiters under it.
//!
//! **Cancel safety.** A waiting request is in line exactly while its waiter is; the grant is sent
//! under the lock, and a waiter giving up (dropped, or timed out) takes the lock and either removes
//! itself from the line or, if it lost that race, finds its grant in the channel and hands the
//! sequence back. So no interleaving leaks a sequence.

use std::sync::Arc;
use std::time::Duration;

use domain::EntityId;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::fair::{FairQueue, Grant, Place, Served, Withdrawal};
use crate::settings::{InvalidSettings, PoolSettings, Share};
use crate::snapshot::{EntitySnapshot, PoolSnapshot};
use crate::{Priority, Shed, Ticket};

/// A handle on one pool's scheduling. Cheap to clone; every clone is the same pool.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

/// A sequence of the pool, held for one request. Dropping it frees the sequence and keeps the
/// estimated charge; `settle` frees it and corrects the charge with the real counts.
#[derive(Debug)]
#[must_use = "dropping a dispatch frees its sequence at once"]
pub struct Dispatch {
    shared: Arc<Shared>,
    grant: Option<Grant>,
}

/// Called once per dispatched request, outside any lock, with how long it waited: for a wait-time
/// histogram. Cheap and non-blocking, please: it runs on the request path.
pub type WaitObserver = Arc<dyn Fn(&WaitObservation<'_>) + Send + Sync>;

/// One dispatched request's wait.
#[derive(Debug, Clone, Copy)]
pub struct WaitObservation<'a> {
    pub pool: &'a str,
    pub entity: EntityId,
    pub priority: Priority,
    pub waited: Duration,
}

struct Shared {
    name: String,
    queue: Mutex<FairQueue<Sender>>,
    observer: Option<WaitObserver>,
}

type Sender = oneshot::Sender<Result<Grant, Shed>>;
type Receiver = oneshot::Receiver<Result<Grant, Shed>>;

impl Pool {
    pub fn new(
        name: impl Into<String>,
        settings: PoolSettings,
        observer: Option<WaitObserver>,
    ) -> Result<Self, InvalidSettings> {
        Ok(Pool {
            shared: Arc::new(Shared {
                name: name.into(),
                queue: Mutex::new(FairQueue::new(settings)?),
                observer,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Waits for a sequence of this pool, fairly, until the request's `max_wait`. Cancel-safe: a
    /// dropped future leaves no trace in the line and holds no sequence.
    pub async fn admit(&self, ticket: Ticket) -> Result<Dispatch, Shed> {
        let now = Instant::now();
        let queued = {
            let mut queue = self.shared.queue.lock();
            if let Some(grant) = queue.try_dispatch_now(&ticket, now) {
                drop(queue);
                return Ok(self.dispatch(ticket.entity, grant));
            }
            let (sender, receiver) = oneshot::channel();
            match queue.enqueue(&ticket, sender, now) {
                Ok(queued) => {
                    // Room was made by pushing out another entity's newest request: tell it.
                    if let Some((victim, shed)) = queued.evicted {
                        let _gone = victim.send(Err(shed));
                    }
                    // A line that was not empty with a free sequence happens after a capacity raise
                    // not yet followed by a dispatch; serving it now keeps the pool work-conserving.
                    self.shared.fill(&mut queue, now);
                    (queued.place, queued.deadline, receiver)
                }
                Err((_sender, shed)) => return Err(shed),
            }
        };
        let (place, deadline, receiver) = queued;
        let waiter = Waiter {
            shared: &self.shared,
            place,
            receiver: Some(receiver),
        };
        let granted = waiter.wait(deadline).await?;
        Ok(self.dispatch(ticket.entity, granted))
    }

    /// A sequence now, or `None` when none is free or others are waiting: for a request that was
    /// admitted elsewhere and would only come here as a fallback, never to wait in this line.
    pub fn try_admit(&self, ticket: &Ticket) -> Option<Dispatch> {
        let grant = self
            .shared
            .queue
            .lock()
            .try_dispatch_now(ticket, Instant::now())?;
        Some(self.dispatch(ticket.entity, grant))
    }

    /// Sets the capacity (the sum of the pool's available endpoints' capacities) and serves the line
    /// if it grew.
    pub fn set_capacity(&self, capacity: u32) {
        self.set_usable_capacity(capacity, capacity);
    }

    /// Sets the capacity when replicas share the pool's endpoints: `usable` of the `available`
    /// sequences are this replica's allotment (`FairQueue::set_usable_capacity`).
    pub fn set_usable_capacity(&self, usable: u32, available: u32) {
        let mut queue = self.shared.queue.lock();
        queue.set_usable_capacity(usable, available);
        self.shared.fill(&mut queue, Instant::now());
    }

    /// Puts `settings` in force but for the capacity (`FairQueue::reconfigure`), and serves the
    /// line, which a lower batch headroom may let move.
    pub fn reconfigure(&self, settings: PoolSettings) -> Result<(), InvalidSettings> {
        let mut queue = self.shared.queue.lock();
        queue.reconfigure(settings)?;
        self.shared.fill(&mut queue, Instant::now());
        Ok(())
    }

    /// Sets an entity's weight and guaranteed minimum in this pool.
    pub fn set_share(&self, entity: EntityId, share: Share) -> Result<(), InvalidSettings> {
        self.shared.queue.lock().set_share(entity, share)
    }

    /// Each entity's weighted tokens served here (`FairQueue::service`).
    pub fn service(&self) -> Vec<(EntityId, f64)> {
        self.shared.queue.lock().service()
    }

    /// Charges entities with what other replicas served them (`FairQueue::absorb`).
    pub fn absorb(&self, served_elsewhere: &[(EntityId, f64)]) {
        let mut queue = self.shared.queue.lock();
        for &(entity, cost) in served_elsewhere {
            queue.absorb(entity, cost);
        }
    }

    pub fn snapshot(&self) -> PoolSnapshot {
        self.shared.queue.lock().snapshot()
    }

    pub fn entity(&self, entity: EntityId) -> Option<EntitySnapshot> {
        self.shared.queue.lock().entity(entity)
    }

    fn dispatch(&self, entity: EntityId, grant: Grant) -> Dispatch {
        if let Some(observer) = &self.shared.observer {
            observer(&WaitObservation {
                pool: &self.shared.name,
                entity,
                priority: grant.priority(),
                waited: grant.waited(),
            });
        }
        Dispatch {
            shared: Arc::clone(&self.shared),
            grant: Some(grant),
        }
    }
}

impl Shared {
    /// Dispatches waiters while sequences are free. Runs under the lock, so a waiter giving up
    /// concurrently either is still in line or already has its grant, never neither.
    fn fill(&self, queue: &mut FairQueue<Sender>, now: Instant) {
        while let Some((sender, grant)) = queue.next_dispatch(now) {
            if let Err(Ok(grant)) = sender.send(Ok(grant)) {
                // Unreachable while waiters withdraw under the lock before dropping their receiver;
                // handled anyway so that a sequence can never leak.
                queue.undo(grant);
            }
        }
    }

    fn release(&self, grant: Grant, served: Option<Served>) {
        let now = Instant::now();
        let mut queue = self.queue.lock();
        queue.finish(grant, served, now);
        self.fill(&mut queue, now);
    }
}

/// A request in line. Dropping it before it resolves withdraws it (see the module's docs).
struct Waiter<'a> {
    shared: &'a Shared,
    place: Place,
    /// Taken once the outcome is known; `None` means nothing is left to clean up.
    receiver: Option<Receiver>,
}

impl Waiter<'_> {
    async fn wait(mut self, deadline: Instant) -> Result<Grant, Shed> {
        let Some(receiver) = self.receiver.as_mut() else {
            return Err(Shed::NoCapacity);
        };
        let outcome = tokio::time::timeout_at(deadline, receiver).await;
        match outcome {
            Ok(Ok(decided)) => {
                self.receiver = None;
                decided
            }
            // The sender was dropped without a word: only if the pool dropped its line.
            Ok(Err(_closed)) => {
                self.receiver = None;
                Err(Shed::NoCapacity)
            }
            Err(_elapsed) => self.give_up(Withdrawal::TimedOut),
        }
    }

    /// Leaves the line. `Ok` when the grant arrived just before: the request goes after all.
    fn give_up(&mut self, why: Withdrawal) -> Result<Grant, Shed> {
        let mut queue = self.shared.queue.lock();
        let Some(mut receiver) = self.receiver.take() else {
            return Err(Shed::NoCapacity);
        };
        if queue.withdraw(self.place, why).is_some() {
            return Err(Shed::Timeout {
                retry_after: queue.retry_after(),
            });
        }
        // Not in line any more, so the decision was sent under the lock we now hold.
        receiver.try_recv().unwrap_or(Err(Shed::NoCapacity))
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.receiver.is_none() {
            return;
        }
        if let Ok(grant) = self.give_up(Withdrawal::Cancelled) {
            // Granted as the caller went away: hand the sequence to the next in line.
            self.shared.release(grant, None);
        }
    }
}

impl Dispatch {
    /// Frees the sequence and corrects the entity's counter with the real token counts (those the
    /// backend reported in `usage`), so estimates do not bias fairness.
    pub fn settle(mut self, input_tokens: u64, output_tokens: u64) {
        if let Some(grant) = self.grant.take() {
            self.shared.release(
                grant,
                Some(Served {
                    input_tokens,
                    output_tokens,
                }),
            );
        }
    }

    /// How long the request waited for its sequence.
    pub fn waited(&self) -> Duration {
        self.grant.as_ref().map_or(Duration::ZERO, Grant::waited)
    }

    pub fn priority(&self) -> Option<Priority> {
        self.grant.as_ref().map(Grant::priority)
    }

    pub fn pool(&self) -> &str {
        &self.shared.name
    }
}

impl Drop for Dispatch {
    fn drop(&mut self) {
        if let Some(grant) = self.grant.take() {
            self.shared.release(grant, None);
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
