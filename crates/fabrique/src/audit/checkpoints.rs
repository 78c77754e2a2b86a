//! The background task that signs checkpoints of the chain head: when enough events were appended
//! since the last checkpoint, or when the oldest of them has waited long enough, and once more at a
//! clean shutdown so that a restart begins from a signed head.
//!
//! It reads the head from the store rather than counting appends in memory, so checkpoints also
//! cover events written by other replicas, and restarts lose nothing. Each checkpoint names the one
//! before it; replicas that race store one line of checkpoints (the store keeps the first, and the
//! other signs again from it at its next tick).
//!
//! It never signs what it has not checked. It remembers the newest checkpoint it trusts — at start
//! the newest one of the publish file, if there is one, else the newest stored — and before signing:
//! that checkpoint must still be stored unchanged, every checkpoint stored after it must name the
//! one before, and the events since the newest must link up from its head to the head about to be
//! signed. Anything else means the trail was edited behind Fabrique's back: it refuses to sign, says
//! why in an error log once, holds `fabrique_audit_checkpoints_refused` at 1, and keeps refusing
//! until the trail is whole again. Signing a rewritten head would vouch for the rewrite.

use std::time::Duration;

use anyhow::{Context as _, bail};
use domain::{UnixMillis, now_millis};
use evidence::{AuditSigner, Checkpoint, GENESIS, Scope, SignedCheckpoint, Verifier, broken_links};
use store::{ChainHead, ChainSelection, Store};
use telemetry::EvidenceMetrics;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::audit::publish::{Publisher, read_published};
use crate::cluster::Leading;

/// How often the head is looked at: cheap (one row), and the bound on how late a checkpoint due by
/// count comes.
const POLL: Duration = Duration::from_secs(1);

/// Events read per query when checking what a checkpoint is about to cover.
const PAGE: u32 = 1_000;

/// When to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    pub every_events: u64,
    pub interval: Duration,
}

/// Whether a checkpoint of `head` is due, given the newest checkpoint (`None`: there is none yet,
/// and `since` is when this process started looking).
pub fn due(
    policy: CheckpointPolicy,
    head: &ChainHead,
    last: Option<&SignedCheckpoint>,
    since: UnixMillis,
    now: UnixMillis,
) -> bool {
    let (signed_count, signed_at) = last.map_or((0, since), |c| (c.event_count, c.at));
    let new_events = head.event_count.saturating_sub(signed_count);
    let waited = u128::try_from(now.saturating_sub(signed_at)).unwrap_or(0);
    new_events > 0 && (new_events >= policy.every_events || waited >= policy.interval.as_millis())
}

/// Why a checkpoint was not signed although one was due.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit checkpoint refused: {0}")]
pub struct Refused(pub String);

/// Signs checkpoints of one store's chain, and publishes them.
#[derive(Debug)]
pub struct Checkpointer {
    store: Store,
    signer: AuditSigner,
    policy: CheckpointPolicy,
    publisher: Publisher,
    metrics: EvidenceMetrics,
    /// The newest checkpoint checked and trusted; `None` before the first.
    trusted: Option<SignedCheckpoint>,
    /// Why signing is refused, while it is.
    refused: Option<Refused>,
    /// When this process started looking, for a first checkpoint due by age.
    since: UnixMillis,
}

impl Checkpointer {
    /// A checkpointer starting from the newest checkpoint of the publish file, when there is one,
    /// else from the newest stored one; stored checkpoints the file lacks are queued for it.
    pub async fn start(
        store: Store,
        signer: AuditSigner,
        policy: CheckpointPolicy,
        mut publisher: Publisher,
        metrics: EvidenceMetrics,
    ) -> anyhow::Result<Checkpointer> {
        let newest_published = match publisher.file() {
            Some(path) => {
                let path = path.to_owned();
                tokio::task::spawn_blocking(move || read_published(&path))
                    .await??
                    .pop()
            }
            None => None,
        };
        let trusted = match newest_published {
            Some(published) => {
                let missing = store
                    .list_audit_checkpoints(published.seq + 1, None)
                    .await
                    .context("reading the audit checkpoints")?;
                publisher.queue_for_file(missing);
                Some(published)
            }
            None => {
                let stored = store
                    .list_audit_checkpoints(0, None)
                    .await
                    .context("reading the audit checkpoints")?;
                if publisher.file().is_some() {
                    publisher.queue_for_file(stored.iter().cloned());
                }
                stored.last().cloned()
            }
        };
        Ok(Checkpointer {
            store,
            signer,
            policy,
            publisher,
            metrics,
            trusted,
            refused: None,
            since: now_millis(),
        })
    }

    /// Signs, stores and publishes a checkpoint of the current head, when one is due (or always
    /// with `force`, unless the newest checkpoint already covers the head). Returns the new
    /// checkpoint.
    pub async fn step(&mut self, force: bool) -> anyhow::Result<Option<SignedCheckpoint>> {
        self.publisher.flush().await;
        let result = self.checked_step(force).await;
        match &result {
            Ok(_) => self.clear_refusal(),
            Err(error) => {
                if let Some(refused) = error.downcast_ref::<Refused>() {
                    self.note_refusal(refused.clone());
                }
            }
        }
        result
    }

    async fn checked_step(&mut self, force: bool) -> anyhow::Result<Option<SignedCheckpoint>> {
        let head = self.store.audit_chain_head().await?;
        let newest = self.newest_trusted().await?;
        let due = due(
            self.policy,
            &head,
            newest.as_ref(),
            self.since,
            now_millis(),
        );
        let covered = newest.as_ref().is_some_and(|c| c.seq >= head.seq);
        if head.seq == 0 || covered || !(due || force) {
            return Ok(None);
        }
        self.check_events_since(newest.as_ref(), &head).await?;
        let previous = Checkpoint::previous_of(newest.as_ref())
            .ok_or_else(|| Refused("the newest checkpoint does not decode".into()))?;
        let signed = Checkpoint {
            seq: head.seq,
            head: head.hash.parse().context("the stored chain head")?,
            at: now_millis(),
            event_count: head.event_count,
            previous,
        }
        .sign(&self.signer);
        if !self.store.insert_audit_checkpoint(&signed).await? {
            // Another replica signed first; the next tick starts from its checkpoint.
            return Ok(None);
        }
        tracing::debug!(seq = signed.seq, "audit checkpoint signed");
        self.trusted = Some(signed.clone());
        self.publisher.queue(&signed);
        self.publisher.flush().await;
        Ok(Some(signed))
    }

    /// The newest stored checkpoint, once it is known to descend from the trusted one.
    async fn newest_trusted(&mut self) -> anyhow::Result<Option<SignedCheckpoint>> {
        let from = self.trusted.as_ref().map_or(0, |c| c.seq);
        let stored = self.store.list_audit_checkpoints(from, None).await?;
        let before = match &self.trusted {
            Some(trusted) => {
                if stored.first() != Some(trusted) {
                    bail!(Refused(format!(
                        "the checkpoint of seq {} signed earlier is no longer stored as it was: checkpoints were deleted or replaced",
                        trusted.seq
                    )));
                }
                None
            }
            None => Some(GENESIS),
        };
        if let Some(broken) = broken_links(before, &stored).first() {
            bail!(Refused(format!(
                "the stored checkpoint of seq {} does not name the one before it: a checkpoint was deleted or replaced",
                broken.seq
            )));
        }
        if let Some(newest) = stored.last() {
            self.trusted = Some(newest.clone());
        }
        Ok(stored.last().cloned())
    }

    /// Checks that the events after `newest` link up from its head to `head`.
    async fn check_events_since(
        &self,
        newest: Option<&SignedCheckpoint>,
        head: &ChainHead,
    ) -> anyhow::Result<()> {
        let mut verifier = Verifier::new(
            Scope::Whole {
                legacy_through: head.legacy_through,
            },
            Vec::new(),
            Vec::new(),
        );
        if let Some(newest) = newest {
            let hash = newest
                .head_hash()
                .ok_or_else(|| Refused("the newest checkpoint does not decode".into()))?;
            verifier.resume_after(newest.seq, hash, newest.event_count);
        }
        verifier.expect_head(head.seq, head.hash.clone());
        let mut selection = ChainSelection {
            after: newest.map_or(0, |c| c.seq),
            through: Some(head.seq),
            entity_id: None,
        };
        loop {
            let page = self.store.read_audit_chain(&selection, PAGE).await?;
            let Some(last) = page.last() else { break };
            selection.after = last.seq;
            for event in &page {
                verifier.push(event);
            }
        }
        let report = verifier.finish();
        match report.problems.first() {
            None => Ok(()),
            Some(problem) => bail!(Refused(format!(
                "the events since the last checkpoint do not descend from it: {problem}"
            ))),
        }
    }

    fn note_refusal(&mut self, refused: Refused) {
        if self.refused.as_ref() != Some(&refused) {
            tracing::error!(
                reason = %refused.0,
                "the audit trail was altered behind Fabrique's back; no checkpoint is signed until it is whole again: run `fabrique audit verify`"
            );
        }
        self.metrics.checkpoints_refused.set(1);
        self.refused = Some(refused);
    }

    fn clear_refusal(&mut self) {
        if self.refused.take().is_some() {
            tracing::info!("the audit trail is whole again; checkpoints are signed");
        }
        self.metrics.checkpoints_refused.set(0);
    }
}

/// What the running task is asked.
enum Request {
    /// Sign now if the head is not covered; answer with the outcome.
    Sign(oneshot::Sender<anyhow::Result<Option<SignedCheckpoint>>>),
    /// Sign a last checkpoint and end.
    Stop,
}

/// The running task; [`CheckpointTask::stop`] signs a last checkpoint and waits for it.
#[derive(Debug)]
pub struct CheckpointTask {
    requests: mpsc::Sender<Request>,
    task: JoinHandle<()>,
}

impl CheckpointTask {
    /// Starts the task. It signs on its own (when due, and a last checkpoint at shutdown) only
    /// while `leading` says this replica runs the background jobs; [`CheckpointTask::sign_now`]
    /// signs whatever replica it runs on.
    pub fn spawn(mut checkpointer: Checkpointer, leading: Leading) -> CheckpointTask {
        let (requests, mut received) = mpsc::channel::<Request>(4);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(POLL.min(checkpointer.policy.interval));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    request = received.recv() => match request {
                        Some(Request::Sign(answer)) => {
                            let _ = answer.send(checkpointer.step(true).await);
                        }
                        Some(Request::Stop) | None => break,
                    },
                    _ = ticks.tick() => {
                        if !leading.now() {
                            continue;
                        }
                        if let Err(error) = checkpointer.step(false).await
                            && error.downcast_ref::<Refused>().is_none()
                        {
                            tracing::warn!(error = format!("{error:#}"), "audit checkpoint failed; retrying");
                        }
                    }
                }
            }
            if !leading.now() {
                return;
            }
            if let Err(error) = checkpointer.step(true).await {
                tracing::error!(
                    error = format!("{error:#}"),
                    "the shutdown audit checkpoint failed"
                );
            }
        });
        CheckpointTask { requests, task }
    }

    /// Signs a checkpoint of the head now (unless one covers it), as at shutdown, and returns it.
    pub async fn sign_now(&self) -> anyhow::Result<Option<SignedCheckpoint>> {
        let (answer, answered) = oneshot::channel();
        self.requests
            .send(Request::Sign(answer))
            .await
            .map_err(|_| anyhow::anyhow!("the checkpoint task has stopped"))?;
        answered
            .await
            .map_err(|_| anyhow::anyhow!("the checkpoint task has stopped"))?
    }

    /// Signs a last checkpoint of the head and ends the task.
    pub async fn stop(self) {
        let _ = self.requests.send(Request::Stop).await;
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(event_count: u64) -> ChainHead {
        ChainHead {
            seq: event_count,
            hash: "0".repeat(64),
            event_count,
            legacy_through: 0,
        }
    }

    fn signed(event_count: u64, at: UnixMillis) -> SignedCheckpoint {
        SignedCheckpoint {
            seq: event_count,
            head: "0".repeat(64),
            at,
            event_count,
            previous: None,
            public_key: String::new(),
            signature: String::new(),
        }
    }

    #[test]
    fn a_checkpoint_is_due_by_count_or_by_age_and_never_for_nothing() {
        let policy = CheckpointPolicy {
            every_events: 10,
            interval: Duration::from_secs(60),
        };
        let last = signed(5, 1_000);
        // Not enough events, not old enough.
        assert!(!due(policy, &head(14), Some(&last), 0, 30_000));
        // Enough events.
        assert!(due(policy, &head(15), Some(&last), 0, 30_000));
        // Old enough.
        assert!(due(policy, &head(6), Some(&last), 0, 61_000));
        // Nothing new, however old.
        assert!(!due(policy, &head(5), Some(&last), 0, 10_000_000));
        // No checkpoint yet: counted from when the task started.
        assert!(!due(policy, &head(3), None, 50_000, 100_000));
        assert!(due(policy, &head(3), None, 50_000, 110_000));
        assert!(!due(policy, &head(0), None, 0, 110_000));
    }
}
