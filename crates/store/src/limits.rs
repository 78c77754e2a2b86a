//! Rate limits and budgets as administrators set them. The store keeps definitions only: the
//! in-memory admission table enforces them, and the amounts spent in a budget period are recomputed
//! from usage records (the durable truth) when the table is rebuilt at start.
//!
//! Scopes are `(kind, id)` text pairs here (`key`/`user`/`team`/`entity`, and the id) so the store
//! stays independent of the admission crate's types.

use domain::{AuditEvent, UnixMillis};
use sqlx::Any;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;

use crate::audit::insert_audit;
use crate::codec::{opt_int, text, to_bigint, unsigned};
use crate::{Store, StoreError};

/// A scope's rate limits; `None` is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLimit {
    pub scope_kind: String,
    pub scope_id: String,
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
}

/// One budget of a scope: at most one per (period, unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBudget {
    pub scope_kind: String,
    pub scope_id: String,
    /// `day` or `month`.
    pub period: String,
    /// `tokens` or `money_micros`.
    pub unit: String,
    pub hard_limit: u64,
    pub soft_threshold_percent: Option<u8>,
    /// When an administrator last reset the scope's spending; usage before it does not count.
    pub reset_at: Option<UnixMillis>,
}

/// What a scope consumed since some instant, from usage records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub tokens: u64,
    pub cost_micros: u64,
}

impl Store {
    /// Creates or replaces a scope's rate limits, with its audit event, in one transaction.
    pub async fn set_rate_limit(
        &self,
        limit: &StoredLimit,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
        sqlx::query(
            "INSERT INTO rate_limits (scope_kind, scope_id, requests_per_minute, tokens_per_minute, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (scope_kind, scope_id) DO UPDATE SET \
             requests_per_minute = excluded.requests_per_minute, \
             tokens_per_minute = excluded.tokens_per_minute, updated_at = excluded.updated_at",
        )
        .bind(limit.scope_kind.as_str())
        .bind(limit.scope_id.as_str())
        .bind(opt_bigint("requests_per_minute", limit.requests_per_minute)?)
        .bind(opt_bigint("tokens_per_minute", limit.tokens_per_minute)?)
        .bind(audit.at),
            audit,
        )
        .await?;
        Ok(())
    }

    /// Removes a scope's rate limits. `false` (and nothing audited) when it had none.
    pub async fn delete_rate_limit(
        &self,
        scope_kind: &str,
        scope_id: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited(
            sqlx::query("DELETE FROM rate_limits WHERE scope_kind = $1 AND scope_id = $2")
                .bind(scope_kind)
                .bind(scope_id),
            audit,
        )
        .await
    }

    pub async fn list_rate_limits(&self) -> Result<Vec<StoredLimit>, StoreError> {
        let rows = sqlx::query(
            "SELECT scope_kind, scope_id, requests_per_minute, tokens_per_minute FROM rate_limits \
             ORDER BY scope_kind, scope_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredLimit {
                    scope_kind: text(row, "scope_kind")?,
                    scope_id: text(row, "scope_id")?,
                    requests_per_minute: opt_u64(row, "requests_per_minute")?,
                    tokens_per_minute: opt_u64(row, "tokens_per_minute")?,
                })
            })
            .collect()
    }

    /// Creates or replaces one budget of a scope, with its audit event, in one transaction.
    pub async fn set_budget(
        &self,
        budget: &StoredBudget,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
        sqlx::query(
            "INSERT INTO budgets (scope_kind, scope_id, period, unit, hard_limit, soft_threshold_percent, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (scope_kind, scope_id, period, unit) DO UPDATE SET \
             hard_limit = excluded.hard_limit, \
             soft_threshold_percent = excluded.soft_threshold_percent, updated_at = excluded.updated_at",
        )
        .bind(budget.scope_kind.as_str())
        .bind(budget.scope_id.as_str())
        .bind(budget.period.as_str())
        .bind(budget.unit.as_str())
        .bind(to_bigint("hard_limit", budget.hard_limit)?)
        .bind(budget.soft_threshold_percent.map(i64::from))
        .bind(audit.at),
            audit,
        )
        .await?;
        Ok(())
    }

    /// Removes one budget. `false` (and nothing audited) when there was none.
    pub async fn delete_budget(
        &self,
        scope_kind: &str,
        scope_id: &str,
        period: &str,
        unit: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited(sqlx::query(
            "DELETE FROM budgets WHERE scope_kind = $1 AND scope_id = $2 AND period = $3 AND unit = $4",
        )
        .bind(scope_kind)
        .bind(scope_id)
        .bind(period)
        .bind(unit), audit).await
    }

    pub async fn list_budgets(&self) -> Result<Vec<StoredBudget>, StoreError> {
        let rows = sqlx::query(
            "SELECT scope_kind, scope_id, period, unit, hard_limit, soft_threshold_percent, reset_at \
             FROM budgets \
             ORDER BY scope_kind, scope_id, period, unit",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredBudget {
                    scope_kind: text(row, "scope_kind")?,
                    scope_id: text(row, "scope_id")?,
                    period: text(row, "period")?,
                    unit: text(row, "unit")?,
                    hard_limit: unsigned(row, "hard_limit")?,
                    soft_threshold_percent: opt_u64(row, "soft_threshold_percent")?
                        .map(|p| u8::try_from(p).unwrap_or(u8::MAX)),
                    reset_at: opt_int(row, "reset_at")?,
                })
            })
            .collect()
    }

    /// Records that a scope's spending was reset at `audit.at`: from then on, only later usage
    /// counts against its budgets (also after a restart). `false` when the scope has no budget.
    pub async fn reset_budgets(
        &self,
        scope_kind: &str,
        scope_id: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited(
            sqlx::query("UPDATE budgets SET reset_at = $1 WHERE scope_kind = $2 AND scope_id = $3")
                .bind(audit.at)
                .bind(scope_kind)
                .bind(scope_id),
            audit,
        )
        .await
    }

    /// Runs one change and, when it touched a row, its audit event, in one transaction. `false`
    /// (and nothing audited) when no row changed.
    pub(crate) async fn change_audited<'q>(
        &self,
        change: Query<'q, Any, AnyArguments<'q>>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        if change.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Tokens and cost recorded for a scope since `since`, from usage records; an entity's from
    /// the hourly roll-ups too (`usage_groups`). Keys', users' and teams' read raw records, which
    /// `[retention] raw_usage_days` keeps for longer than a budget period.
    ///
    /// A team's spending is what its current members consumed plus what was charged to the team
    /// by people who have left it: admission charges every team of a user, while a record names
    /// only the user's chargeback team, so the records of current members stand for the rest.
    pub async fn spent_since(
        &self,
        scope_kind: &str,
        scope_id: &str,
        since: UnixMillis,
    ) -> Result<Spent, StoreError> {
        if scope_kind == "entity"
            && let Ok(entity) = scope_id.parse()
        {
            // An entity's records are many: summed from roll-ups for the hours they cover.
            let selection = crate::UsageSelection {
                from: since,
                to: UnixMillis::MAX,
                entity: Some(entity),
            };
            let totals = self
                .usage_groups(&selection, &[], None, 1)
                .await?
                .first()
                .map(|g| g.totals)
                .unwrap_or_default();
            return Ok(Spent {
                tokens: totals.input_tokens.saturating_add(totals.output_tokens),
                cost_micros: totals.cost_micros,
            });
        }
        // The condition is one of four constants, never caller text.
        let condition = match scope_kind {
            "key" => "key_id = $1",
            "user" => "user_id = $1",
            "entity" => "entity_id = $1",
            "team" => {
                "(team_id = $1 OR user_id IN (SELECT user_id FROM team_members WHERE team_id = $1))"
            }
            _ => return Ok(Spent::default()),
        };
        // SUM is cast back to BIGINT because PostgreSQL sums BIGINTs as NUMERIC.
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT) AS tokens, \
             CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost FROM usage_records \
             WHERE {condition} AND started_at >= $2"
        );
        let row = sqlx::query(&sql)
            .bind(scope_id)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(Spent {
            tokens: unsigned(&row, "tokens")?,
            cost_micros: unsigned(&row, "cost")?,
        })
    }
}

fn opt_bigint(column: &str, value: Option<u64>) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_bigint(column, v)).transpose()
}

fn opt_u64(row: &AnyRow, column: &str) -> Result<Option<u64>, StoreError> {
    opt_int(row, column)?
        .map(|v| u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{column} = {v}"))))
        .transpose()
}
