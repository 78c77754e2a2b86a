//! What administrators read and reset where the group counts: a scope's budgets with what the
//! group spent and reserved (Redis's counters, not this replica's table), and a reset that starts
//! the scope's counters afresh for every replica at once.
//!
//! A reset mirrors `admission::Admission::reset`: the scope's rate-limit buckets are emptied and
//! each budget's spending in its current period goes back to zero, its reservations kept (the
//! requests in flight settle them) and its soft-threshold warning cleared. The budget's counter
//! is written, not deleted: a deleted counter would be re-created by the next admission from the
//! spending the admitting replica remembers, which on another replica may still be the spending
//! from before the reset until its change notice arrives.

use crate::script::BUDGET_KEY_GRACE_MS;
use crate::shared::Shared;
use admission::{BudgetStatus, Scope};

/// Redis cannot be asked: the answer would be this replica's alone.
#[derive(Debug, thiserror::Error)]
#[error("the shared counters (Redis) cannot be reached: {0}")]
pub struct Unreachable(String);

impl Unreachable {
    pub(crate) fn because(error: impl std::fmt::Display) -> Unreachable {
        Unreachable(error.to_string())
    }
}

impl Shared {
    /// Replaces each status's spending and reservations by the group's, where Redis has a
    /// counter for its period; a budget nobody spent on yet this period keeps this replica's
    /// figure (what the first admission will seed the counter with).
    pub(crate) async fn group_statuses(
        &self,
        statuses: &mut [BudgetStatus],
    ) -> Result<(), Unreachable> {
        if statuses.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for status in statuses.iter() {
            pipe.cmd("HMGET")
                .arg(self.budget_key(status))
                .arg("s")
                .arg("r");
        }
        let counters: Vec<(Option<u64>, Option<u64>)> = self.run(&pipe).await?;
        for (status, (spent, reserved)) in statuses.iter_mut().zip(counters) {
            if let Some(spent) = spent {
                status.spent = spent;
                status.reserved = reserved.unwrap_or(0);
            }
        }
        Ok(())
    }

    /// Starts `scope`'s counters afresh for the group: `statuses` are its budgets in their
    /// current periods, as this replica's table holds them after its own reset.
    pub(crate) async fn reset(
        &self,
        scope: &Scope,
        statuses: &[BudgetStatus],
    ) -> Result<(), Unreachable> {
        let mut pipe = redis::pipe();
        pipe.atomic().del(self.keys.rate(scope)).ignore();
        for status in statuses {
            let key = self.budget_key(status);
            pipe.hset(&key, "s", 0)
                .ignore()
                .hdel(&key, "w")
                .ignore()
                .pexpire_at(&key, status.resets_at.saturating_add(BUDGET_KEY_GRACE_MS))
                .ignore();
        }
        let () = self.run(&pipe).await?;
        self.refused.lock().remove(scope);
        Ok(())
    }

    fn budget_key(&self, status: &BudgetStatus) -> String {
        self.keys.budget_of(
            &status.scope,
            status.period,
            status.unit,
            status.period_start,
        )
    }

    /// One pipelined round trip within the configured timeout.
    async fn run<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, Unreachable> {
        let mut connection = self.connection.clone();
        let answered =
            tokio::time::timeout(self.timeout(), pipe.query_async(&mut connection)).await;
        self.answered(answered)
    }

    /// One script's round trip within the configured timeout.
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        call: &redis::ScriptInvocation<'_>,
    ) -> Result<T, Unreachable> {
        let mut connection = self.connection.clone();
        let answered =
            tokio::time::timeout(self.timeout(), call.invoke_async(&mut connection)).await;
        self.answered(answered)
    }

    /// A round trip's outcome, noted as Redis reached or not.
    fn answered<T>(
        &self,
        answered: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, Unreachable> {
        match answered {
            Ok(Ok(answer)) => {
                self.reached();
                Ok(answer)
            }
            Ok(Err(error)) => {
                self.failed(&error);
                Err(Unreachable(error.to_string()))
            }
            Err(_) => {
                self.failed(&"no answer in time");
                Err(Unreachable("no answer in time".to_owned()))
            }
        }
    }
}
