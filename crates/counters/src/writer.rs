//! The background writer: settlements and late counts, sent to Redis in pipelined batches off the
//! request path, kept and retried while Redis cannot be reached.
//!
//! A batch is a pipeline, not a transaction: if the connection breaks after Redis ran part of it,
//! the retry runs that part again. A budget then counts a settlement twice — spending over-counted,
//! which errs towards refusing, never towards overspending.

use std::sync::Weak;
use std::time::Duration;

use admission::{Consumption, ScopeRules, ticks_to_duration};
use domain::UnixMillis;
use tokio::sync::{mpsc, oneshot};

use crate::script::{self, Mode};
use crate::shared::Shared;

/// Writes sent in one round trip, at most.
const BATCH: usize = 256;
/// The wait before a failed batch is tried again.
const RETRY: Duration = Duration::from_millis(500);
/// A request-rate limit's window, in ticks per unit.
const WINDOW_TICKS: i64 = 60_000;

/// One write for Redis.
#[derive(Debug)]
pub(crate) enum Write {
    Settle {
        admitted: Vec<ScopeRules>,
        current: Vec<ScopeRules>,
        estimate: Consumption,
        actual: Consumption,
        now: UnixMillis,
    },
    /// The count of a request that left before admission: `rules` have request-rate limits.
    Count {
        rules: Vec<ScopeRules>,
        now: UnixMillis,
    },
    /// Answered once every write queued before it is in Redis.
    Flush(oneshot::Sender<()>),
}

pub(crate) async fn run(shared: Weak<Shared>, mut queue: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if batch.is_empty() {
            match queue.recv().await {
                Some(write) => batch.push(write),
                None => return,
            }
        }
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match send(&shared, &batch).await {
            Ok(()) => {
                shared.reached();
                for write in batch.drain(..) {
                    if let Write::Flush(done) = write {
                        let _ = done.send(());
                    }
                }
            }
            Err(error) => {
                shared.failed(&error);
                drop(shared);
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Sends `batch` in one round trip; counts refused until later are remembered.
async fn send(shared: &Shared, batch: &[Write]) -> Result<(), String> {
    let mut pipe = redis::pipe();
    pipe.load_script(&shared.scripts.admit).ignore();
    pipe.load_script(&shared.scripts.settle).ignore();
    let calls: Vec<_> = batch
        .iter()
        .filter_map(|write| match write {
            Write::Settle {
                admitted,
                current,
                estimate,
                actual,
                now,
            } => Some(script::settle_call(
                &shared.scripts.settle,
                &shared.keys,
                admitted,
                current,
                (*estimate, *actual),
                *now,
            )),
            Write::Count { rules, now } => Some(script::admit_call(
                &shared.scripts.admit,
                &shared.keys,
                rules,
                Consumption::default(),
                Mode::RecordCount,
                *now,
            )),
            Write::Flush(_) => None,
        })
        .collect();
    for call in &calls {
        pipe.invoke_script(call);
    }
    let mut connection = shared.connection.clone();
    let answers: Vec<redis::Value> =
        tokio::time::timeout(shared.timeout() * 4, pipe.query_async(&mut connection))
            .await
            .map_err(|_| "no answer in time".to_owned())?
            .map_err(|error| error.to_string())?;
    let sent = batch.iter().filter(|w| !matches!(w, Write::Flush(_)));
    for (write, answer) in sent.zip(answers) {
        if let Write::Count { rules, now } = write {
            let numbers: Vec<i64> = redis::from_redis_value(answer).unwrap_or_default();
            remember_refusals(shared, rules, &numbers, *now);
        }
    }
    Ok(())
}

/// After a late count, the scopes whose request rate is now spent are refused from memory until
/// they may send again, as after a refusal at admission.
fn remember_refusals(shared: &Shared, rules: &[ScopeRules], numbers: &[i64], now: UnixMillis) {
    // Each scope's request debt is the first of its four numbers, after the verdict.
    for (rule, debt) in rules.iter().zip(numbers.iter().skip(1).step_by(4)) {
        let Some(limit) = rule.limits.requests_per_minute.map(u64::from) else {
            continue;
        };
        let over = debt - WINDOW_TICKS * i64::try_from(limit).unwrap_or(i64::MAX) + WINDOW_TICKS;
        if over > 0 {
            let wait = ticks_to_duration(over.unsigned_abs(), limit);
            let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            shared.refuse_until(&rule.scope, now.saturating_add(wait));
        }
    }
}
