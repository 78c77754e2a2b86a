//! The seat writer: seat changes decided by the reclaim job (and, on SQLite, first seats decided on
//! the request path), and users' last activity, reach the store from here in batches, never from
//! the request path itself.
//!
//! Changes are written every [`CHANGE_FLUSH_INTERVAL`], activity every
//! [`ACTIVITY_FLUSH_INTERVAL`], both on demand ([`crate::Seats::flush`]) and at shutdown. A batch
//! the store refuses is kept and tried again at the next tick: a batch is one transaction, so a
//! failed one wrote nothing and nothing is written twice. A write of last activity the database
//! leaves unanswered fails after `store::STORE_WRITE_TIMEOUT` (the store bounds it), so a silent
//! database never holds this task.

use std::sync::Arc;
use std::time::Duration;

use store::{SeatChange, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::Seats;

/// How often seat changes are written: what a crash can lose of them, at most.
pub const CHANGE_FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// How often last activity is written. Losing a few minutes of it in a crash only delays reclaiming.
pub const ACTIVITY_FLUSH_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) enum Message {
    Change(SeatChange),
    Flush(oneshot::Sender<()>),
    Stop(oneshot::Sender<()>),
}

/// The running writer; [`SeatWriter::shutdown`] writes what is pending and stops it.
#[derive(Debug)]
pub struct SeatWriter {
    sender: mpsc::UnboundedSender<Message>,
    task: JoinHandle<()>,
}

impl SeatWriter {
    pub(crate) fn spawn(
        store: Store,
        seats: Arc<Seats>,
        receiver: mpsc::UnboundedReceiver<Message>,
    ) -> SeatWriter {
        let sender = seats.writer.clone();
        let task = tokio::spawn(run(store, seats, receiver));
        SeatWriter { sender, task }
    }

    /// Writes everything pending, then stops.
    pub async fn shutdown(self) {
        let (done, written) = oneshot::channel();
        if self.sender.send(Message::Stop(done)).is_ok() {
            let _ = written.await;
        }
        let _ = self.task.await;
    }
}

async fn run(store: Store, seats: Arc<Seats>, mut receiver: mpsc::UnboundedReceiver<Message>) {
    let mut pending: Vec<SeatChange> = Vec::new();
    let mut changes_tick = tokio::time::interval(CHANGE_FLUSH_INTERVAL);
    let mut activity_tick = tokio::time::interval(ACTIVITY_FLUSH_INTERVAL);
    loop {
        tokio::select! {
            message = receiver.recv() => match message {
                Some(Message::Change(change)) => pending.push(change),
                Some(Message::Flush(done)) => {
                    write_changes(&store, &seats, &mut pending).await;
                    write_activity(&store, &seats).await;
                    let _ = done.send(());
                }
                Some(Message::Stop(done)) => {
                    // Changes sent before the stop are already in the channel: take them too.
                    while let Ok(Message::Change(change)) = receiver.try_recv() {
                        pending.push(change);
                    }
                    write_changes(&store, &seats, &mut pending).await;
                    write_activity(&store, &seats).await;
                    let _ = done.send(());
                    return;
                }
                None => return,
            },
            _ = changes_tick.tick() => write_changes(&store, &seats, &mut pending).await,
            _ = activity_tick.tick() => write_activity(&store, &seats).await,
        }
    }
}

async fn write_changes(store: &Store, seats: &Seats, pending: &mut Vec<SeatChange>) {
    if pending.is_empty() {
        return;
    }
    match store.record_seat_changes(pending, seats.default_pool).await {
        Ok(refused) => {
            pending.clear();
            if !refused.is_empty() {
                tracing::warn!(
                    users = refused.len(),
                    "seats given on first use refused by the store"
                );
                seats.refused_by_store(&refused);
            }
        }
        Err(error) => {
            tracing::error!(%error, changes = pending.len(), "could not store seat changes; will retry");
        }
    }
}

async fn write_activity(store: &Store, seats: &Seats) {
    let activity = seats.unflushed_activity();
    if activity.is_empty() {
        return;
    }
    match store.record_activity(&activity).await {
        Ok(()) => seats.mark_flushed(&activity),
        Err(error) => {
            tracing::error!(%error, users = activity.len(), "could not store last activity; will retry");
        }
    }
}
