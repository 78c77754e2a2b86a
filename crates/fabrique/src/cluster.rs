//! Replicas that agree: each replica holds in memory what a request needs (keys, users, limits,
//! budgets, seats, pool shares, the use-case registry, the web sessions it served, the knowledge
//! libraries and its own index of their documents), and a change committed through one replica
//! reaches the others within a second.
//!
//! On PostgreSQL the store's triggers send a change notice per topic at commit
//! (`store::ChangeFeed`). Two tasks follow them: the receiver marks the topic due and wakes the
//! reloader, which reloads every due topic from the store (`Directory::refresh`,
//! `limits::refresh_admission`, `Seats::refresh`, `Directory::refresh_sessions`,
//! `knowledge::Libraries::sync`, …). Notices that come while it reloads are
//! gathered into its next round, so a burst of changes costs one reload per topic, not one per
//! change. A lost connection, or a failed reload, makes every topic (or that one) due again, and
//! every [`FULL_REFRESH_INTERVAL`] all topics are reloaded anyway, as a safety net.
//!
//! The jobs that must run on one replica at a time (seat reclaim, the content purge, audit
//! checkpoints, canary checks) ask [`Leading::now`] before each run. The replica holding the
//! store's lease (`store::Lease`: a PostgreSQL advisory lock on a connection of its own) leads; the
//! others try to take it every [`LEASE_CHECK_INTERVAL`], so the jobs of a replica that dies are
//! taken over within that interval. Between a holder losing its connection and noticing it, two
//! replicas may both run a job for at most that interval: reclaim and the purge act on what the
//! store still holds, so a second run does no harm; two checkpoints of one head may be signed.
//!
//! On SQLite nothing runs: one process owns the database, applies its own changes in memory and
//! always leads.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use identity::{Directory, ScimTokens};
use parking_lot::Mutex;
use store::{ChangeFeed, Notice, Store, Topic};
use telemetry::Gauge;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::limits::Resets;

/// How often every topic is reloaded whatever the notices said.
pub const FULL_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// How long to wait before trying again after the feed or a reload failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Everything a change notice may make a replica reload.
pub struct Replica {
    pub store: Store,
    /// The configuration in force, which a reload may change (its shares).
    pub config: crate::reload::Running,
    pub directory: Arc<Directory>,
    pub scim_tokens: Arc<ScimTokens>,
    pub seats: Arc<seats::Seats>,
    pub gateway: Arc<gateway::Gateway>,
    pub libraries: Arc<knowledge::Libraries>,
    pub resets: Resets,
}

/// Topics due for a reload, and the reloader's wake-up.
#[derive(Default)]
struct Due {
    topics: Mutex<BTreeSet<Topic>>,
    wake: Notify,
}

impl Due {
    fn mark(&self, topics: &[Topic]) {
        self.topics.lock().extend(topics);
        self.wake.notify_one();
    }

    fn take(&self) -> BTreeSet<Topic> {
        std::mem::take(&mut *self.topics.lock())
    }
}

/// Starts following the store's change notices; no task on SQLite.
pub async fn follow(replica: Replica) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let Some(feed) = replica.store.change_feed().await? else {
        return Ok(Vec::new());
    };
    let due = Arc::new(Due::default());
    Ok(vec![
        tokio::spawn(receive(feed, Arc::clone(&due))),
        tokio::spawn(reload(replica, due)),
    ])
}

async fn receive(mut feed: ChangeFeed, due: Arc<Due>) {
    loop {
        match feed.next().await {
            Ok(Notice::Changed(topic)) => due.mark(&[topic]),
            Ok(Notice::Resync) => {
                tracing::warn!("change notices: connection lost and back; reloading everything");
                due.mark(&Topic::ALL);
            }
            Err(error) => {
                tracing::error!(%error, "change notices: cannot listen; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                due.mark(&Topic::ALL);
            }
        }
    }
}

async fn reload(mut replica: Replica, due: Arc<Due>) {
    let mut full = tokio::time::interval(FULL_REFRESH_INTERVAL);
    full.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    full.tick().await;
    loop {
        tokio::select! {
            () = due.wake.notified() => {}
            _ = full.tick() => due.mark(&Topic::ALL),
        }
        let mut failed = Vec::new();
        for topic in due.take() {
            match replica.reload(topic).await {
                Ok(true) => {}
                Ok(false) => due.mark(&[topic]),
                Err(error) => {
                    tracing::error!(%error, topic = topic.as_str(), "could not reload after a change; retrying");
                    failed.push(topic);
                }
            }
        }
        if !failed.is_empty() {
            tokio::time::sleep(RETRY_AFTER).await;
            due.mark(&failed);
        }
    }
}

impl Replica {
    /// Reloads one topic from the store; `false` when the read must be done again (this process
    /// changed the same state meanwhile).
    async fn reload(&mut self, topic: Topic) -> anyhow::Result<bool> {
        let store = &self.store;
        match topic {
            Topic::Directory => match self.directory.refresh(store).await? {
                None => return Ok(false),
                Some(refreshed) if !refreshed.is_empty() => {
                    tracing::info!(?refreshed, "directory brought in line with the store");
                }
                Some(_) => {}
            },
            Topic::ScimTokens => {
                self.scim_tokens.refresh(store).await?;
            }
            Topic::Limits => {
                let admission = &self.gateway.admission;
                crate::limits::refresh_admission(store, admission, &mut self.resets).await?;
            }
            Topic::Seats => self.seats.refresh(store).await?,
            Topic::Shares => {
                let config = Arc::clone(&self.config.read());
                crate::scheduling::apply_shares(store, &config, &self.gateway.scheduling).await?;
            }
            Topic::UseCases => admin::refresh_registry(store, &self.gateway.factory).await?,
            Topic::Sessions => {
                let forgotten = self.directory.refresh_sessions(store).await?;
                if forgotten > 0 {
                    tracing::debug!(forgotten, "web sessions ended elsewhere forgotten");
                }
            }
            Topic::Libraries => {
                let synced = self.libraries.sync().await?;
                if !synced.is_empty() {
                    tracing::info!(?synced, "knowledge index brought in line with the store");
                }
            }
        }
        tracing::debug!(topic = topic.as_str(), "reloaded after a change");
        Ok(true)
    }
}

/// How often a replica without the background jobs' lease tries to take it, and the holder checks
/// that it still holds it. A dead holder's jobs are taken over within this interval.
pub const LEASE_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Whether this replica runs the background jobs now: read by each job before it runs, set by
/// the lease task. Always true on SQLite.
#[derive(Debug, Clone)]
pub struct Leading(Arc<AtomicBool>);

impl Leading {
    /// A replica that always leads (a single process; tests of one job).
    pub fn always() -> Leading {
        Leading(Arc::new(AtomicBool::new(true)))
    }

    pub fn now(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, leading: bool, gauge: &Gauge) {
        self.0.store(leading, Ordering::Relaxed);
        gauge.set(i64::from(leading));
    }
}

/// Tries to take the background jobs' lease now, so that a single process leads from the jobs'
/// first run, and starts the task that keeps trying (or checking it still holds) every
/// [`LEASE_CHECK_INTERVAL`]. No task on SQLite, where the one process always leads.
pub async fn lead(store: Store, gauge: Gauge) -> anyhow::Result<(Leading, Option<JoinHandle<()>>)> {
    let mut lease = store.try_lease().await?;
    let leading = Leading(Arc::new(AtomicBool::new(false)));
    leading.set(lease.is_some(), &gauge);
    if store.backend() == store::Backend::Sqlite {
        return Ok((leading, None));
    }
    let flag = leading.clone();
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(LEASE_CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            lease = match lease.take() {
                Some(mut held) => {
                    if held.holds().await {
                        Some(held)
                    } else {
                        tracing::warn!(
                            "background jobs' lease lost; another replica will take them over"
                        );
                        flag.set(false, &gauge);
                        None
                    }
                }
                None => match store.try_lease().await {
                    Ok(Some(taken)) => {
                        tracing::info!("this replica now runs the background jobs");
                        flag.set(true, &gauge);
                        Some(taken)
                    }
                    Ok(None) => None,
                    Err(error) => {
                        tracing::warn!(%error, "could not try the background jobs' lease");
                        None
                    }
                },
            };
        }
    });
    Ok((leading, Some(task)))
}
