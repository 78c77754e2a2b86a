//! The background task that signs checkpoints of the chain head: when enough events were appended
//! since the last checkpoint, or when the oldest of them has waited long enough, and once more at a
//! clean shutdown so that a restart begins from a signed head.
//!
//! It reads the head from the store rather than counting appends in memory, so checkpoints also
//! cover events written by other replicas, and restarts lose nothing. Replicas that race to sign the
//! same head keep one checkpoint (the store ignores the second).

use std::time::Duration;

use anyhow::Context as _;
use domain::{UnixMillis, now_millis};
use evidence::{AuditSigner, Checkpoint, SignedCheckpoint};
use store::{ChainHead, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How often the head is looked at: cheap (one row), and the bound on how late a checkpoint due by
/// count comes.
const POLL: Duration = Duration::from_secs(1);

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

/// Signs checkpoints of one store's chain.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    pub store: Store,
    pub signer: AuditSigner,
    pub policy: CheckpointPolicy,
}

impl Checkpointer {
    /// Signs and stores a checkpoint of the current head unless the newest checkpoint already
    /// covers it. Returns the new checkpoint.
    pub async fn checkpoint_now(&self) -> anyhow::Result<Option<SignedCheckpoint>> {
        let head = self.store.audit_chain_head().await?;
        let last = self.store.latest_audit_checkpoint().await?;
        if head.seq == 0 || last.is_some_and(|c| c.seq >= head.seq) {
            return Ok(None);
        }
        self.sign(&head).await
    }

    async fn sign(&self, head: &ChainHead) -> anyhow::Result<Option<SignedCheckpoint>> {
        let signed = Checkpoint {
            seq: head.seq,
            head: head.hash.parse().context("the stored chain head")?,
            at: now_millis(),
            event_count: head.event_count,
        }
        .sign(&self.signer);
        let stored = self.store.insert_audit_checkpoint(&signed).await?;
        if stored {
            tracing::debug!(seq = signed.seq, "audit checkpoint signed");
        }
        Ok(stored.then_some(signed))
    }

    async fn checkpoint_if_due(&self, since: UnixMillis) -> anyhow::Result<()> {
        let head = self.store.audit_chain_head().await?;
        let last = self.store.latest_audit_checkpoint().await?;
        if due(self.policy, &head, last.as_ref(), since, now_millis()) {
            self.sign(&head).await?;
        }
        Ok(())
    }
}

/// The running task; [`CheckpointTask::stop`] signs a last checkpoint and waits for it.
#[derive(Debug)]
pub struct CheckpointTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl CheckpointTask {
    pub fn spawn(checkpointer: Checkpointer) -> CheckpointTask {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let since = now_millis();
            let mut ticks = tokio::time::interval(POLL.min(checkpointer.policy.interval));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {
                        if let Err(error) = checkpointer.checkpoint_if_due(since).await {
                            tracing::warn!(error = format!("{error:#}"), "audit checkpoint failed; retrying");
                        }
                    }
                }
            }
            if let Err(error) = checkpointer.checkpoint_now().await {
                tracing::error!(
                    error = format!("{error:#}"),
                    "the shutdown audit checkpoint failed"
                );
            }
        });
        CheckpointTask { stop, task }
    }

    /// Signs a last checkpoint of the head and ends the task.
    pub async fn stop(self) {
        let _ = self.stop.send(());
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
