//! The AI Factory's registry (migration 0018): use cases, their versions and approvals,
//! evaluation suites, runs and results, and callers' feedback. A use case's definition and a
//! version's content are stored as JSON (`factory`'s types); the columns the store filters on
//! (owner, state, digest, weight) are columns.
//!
//! Every change made by a person commits with its audit event. A version's state changes only
//! from the state the caller read (`WHERE state = $from`), so two reviewers acting at once cannot
//! both move it: the second gets [`StoreError::VersionMismatch`].

use std::collections::BTreeMap;

use domain::{AuditEvent, EntityId, Feedback, UnixMillis};
use factory::canary::VersionStats;
use factory::report::{CaseResult, Summary};
use factory::{Approval, UseCase, Version, VersionSpec, VersionState};
use sqlx::Connection;
use sqlx::any::AnyRow;

use crate::audit::insert_audit;
use crate::codec::{int, opt_text, text, to_bigint, unsigned};
use crate::multi_row::{MultiRowInsert, add};
use crate::{Store, StoreError};

/// An evaluation run, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRun {
    pub id: String,
    pub use_case: String,
    pub version: u32,
    /// The content digest of the version when the run started.
    pub digest: String,
    pub suite: String,
    pub suite_revision: u32,
    pub status: EvalStatus,
    pub cases: u64,
    pub done: u64,
    pub summary: Option<Summary>,
    pub started_by: String,
    pub created_at: UnixMillis,
    pub finished_at: Option<UnixMillis>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalStatus {
    Running,
    Finished,
    /// It could not finish (the server stopped, the suite vanished): its results do not count.
    Failed,
}

impl EvalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EvalStatus::Running => "running",
            EvalStatus::Finished => "finished",
            EvalStatus::Failed => "failed",
        }
    }

    fn parse(name: &str) -> Result<EvalStatus, StoreError> {
        match name {
            "running" => Ok(EvalStatus::Running),
            "finished" => Ok(EvalStatus::Finished),
            "failed" => Ok(EvalStatus::Failed),
            other => Err(StoreError::Corrupt(format!("eval run status `{other}`"))),
        }
    }
}

/// One approval as stored: who, at which level, on which run, why.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredApproval {
    pub approval: Approval,
    pub eval_run: String,
    pub reason: String,
    pub at: UnixMillis,
}

/// A version's state change: from the state read, to the next, with its weight and entities.
#[derive(Debug, Clone)]
pub struct VersionMove<'a> {
    pub use_case: &'a str,
    pub number: u32,
    pub from: VersionState,
    pub to: VersionState,
    /// The traffic weight after the move (0 unless deployed).
    pub weight: u32,
    pub rollout_entities: Option<&'a [String]>,
}

static RESULT_INSERT: MultiRowInsert =
    MultiRowInsert::new("eval_results", &["run_id", "case_id", "passed", "result"]);

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::OutOfRange(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

impl Store {
    /// Registers a use case; a taken slug is a conflict.
    pub async fn create_use_case(
        &self,
        use_case: &UseCase,
        owner: Option<EntityId>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO use_cases (slug, owner_entity_id, definition, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(use_case.slug.as_str())
        .bind(owner.map(|id| id.to_string()))
        .bind(to_json(use_case)?)
        .bind(use_case.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            StoreError::from_write(e, || format!("use case `{}` already exists", use_case.slug))
        })?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a use case's definition (its slug and owner stay).
    pub async fn update_use_case(
        &self,
        use_case: &UseCase,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let changed = self
            .change_audited(
                sqlx::query(
                    "UPDATE use_cases SET definition = $2, updated_at = $3 WHERE slug = $1",
                )
                .bind(use_case.slug.as_str())
                .bind(to_json(use_case)?)
                .bind(audit.at),
                audit,
            )
            .await?;
        if changed {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!(
                "no use case `{}`",
                use_case.slug
            )))
        }
    }

    /// Every use case with its versions (oldest first), by slug.
    pub async fn use_cases(&self) -> Result<Vec<(UseCase, Vec<Version>)>, StoreError> {
        let rows = sqlx::query("SELECT definition FROM use_cases ORDER BY slug")
            .fetch_all(&self.pool)
            .await?;
        let versions = sqlx::query(
            "SELECT use_case, number, state, spec, weight, rollout_entities, created_at \
             FROM use_case_versions ORDER BY use_case, number",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(UseCase, Vec<Version>)> = rows
            .iter()
            .map(|row| {
                Ok((
                    from_json("definition", &text(row, "definition")?)?,
                    Vec::new(),
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        for row in &versions {
            let slug = text(row, "use_case")?;
            if let Ok(at) = out.binary_search_by(|(u, _)| u.slug.as_str().cmp(&slug)) {
                out[at].1.push(version_row(row)?);
            }
        }
        Ok(out)
    }

    /// One use case with its versions.
    pub async fn use_case(
        &self,
        slug: &str,
    ) -> Result<Option<(UseCase, Vec<Version>)>, StoreError> {
        let Some(row) = sqlx::query("SELECT definition FROM use_cases WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let use_case = from_json("definition", &text(&row, "definition")?)?;
        let versions = sqlx::query(
            "SELECT use_case, number, state, spec, weight, rollout_entities, created_at \
             FROM use_case_versions WHERE use_case = $1 ORDER BY number",
        )
        .bind(slug)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(version_row)
        .collect::<Result<_, _>>()?;
        Ok(Some((use_case, versions)))
    }

    /// Adds a draft version numbered after the last one; returns its number.
    pub async fn create_version(
        &self,
        use_case: &str,
        spec: &VersionSpec,
        at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<u32, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Taking the use case's row first serializes concurrent creations on PostgreSQL; SQLite
        // runs one writer at a time anyway.
        let touched = sqlx::query("UPDATE use_cases SET updated_at = $2 WHERE slug = $1")
            .bind(use_case)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        if touched.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no use case `{use_case}`")));
        }
        let last: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(MAX(number), 0) AS BIGINT) FROM use_case_versions WHERE use_case = $1",
        )
        .bind(use_case)
        .fetch_one(&mut *tx)
        .await?;
        let number =
            u32::try_from(last + 1).map_err(|_| StoreError::OutOfRange("version".into()))?;
        sqlx::query(
            "INSERT INTO use_case_versions (use_case, number, state, spec, digest, weight, \
             rollout_entities, created_at, updated_at) VALUES ($1, $2, 'draft', $3, $4, 0, NULL, $5, $5)",
        )
        .bind(use_case)
        .bind(i64::from(number))
        .bind(to_json(spec)?)
        .bind(spec.digest())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let mut audit = audit.clone();
        audit.target = format!("{use_case}@{number}");
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(number)
    }

    /// Replaces a draft version's content; `false` when it is not a draft (any more).
    pub async fn update_draft(
        &self,
        use_case: &str,
        number: u32,
        spec: &VersionSpec,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE use_case_versions SET spec = $3, digest = $4, updated_at = $5 \
                 WHERE use_case = $1 AND number = $2 AND state = 'draft'",
            )
            .bind(use_case)
            .bind(i64::from(number))
            .bind(to_json(spec)?)
            .bind(spec.digest())
            .bind(audit.at),
            audit,
        )
        .await
    }

    /// Moves a version from the state read to the next, with the move's approval (if it is
    /// one) and its audit event; [`StoreError::VersionMismatch`] when it was moved meanwhile.
    pub async fn move_version(
        &self,
        change: &VersionMove<'_>,
        approval: Option<&StoredApproval>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if change.from != change.to {
            let entities = change.rollout_entities.map(to_json).transpose()?;
            let moved = sqlx::query(
                "UPDATE use_case_versions SET state = $4, weight = $5, rollout_entities = $6, \
                 updated_at = $7 WHERE use_case = $1 AND number = $2 AND state = $3",
            )
            .bind(change.use_case)
            .bind(i64::from(change.number))
            .bind(change.from.as_str())
            .bind(change.to.as_str())
            .bind(i64::from(change.weight))
            .bind(entities)
            .bind(audit.at)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() == 0 {
                return Err(StoreError::VersionMismatch(format!(
                    "version {} of `{}` is no longer `{}`",
                    change.number,
                    change.use_case,
                    change.from.as_str()
                )));
            }
        }
        if let Some(approval) = approval {
            sqlx::query(
                "INSERT INTO use_case_approvals (use_case, number, approver, group_level, \
                 eval_run, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(change.use_case)
            .bind(i64::from(change.number))
            .bind(approval.approval.approver.as_str())
            .bind(i64::from(approval.approval.group_level))
            .bind(approval.eval_run.as_str())
            .bind(approval.reason.as_str())
            .bind(approval.at)
            .execute(&mut *tx)
            .await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The approvals a use case's versions received, by version number, each version's oldest
    /// first: one query, however many versions the use case has.
    pub async fn approvals(
        &self,
        use_case: &str,
    ) -> Result<BTreeMap<u32, Vec<StoredApproval>>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, approver, group_level, eval_run, reason, at FROM use_case_approvals \
             WHERE use_case = $1 ORDER BY number, at",
        )
        .bind(use_case)
        .fetch_all(&self.pool)
        .await?;
        let mut by_version: BTreeMap<u32, Vec<StoredApproval>> = BTreeMap::new();
        for row in &rows {
            let approval = StoredApproval {
                approval: Approval {
                    approver: text(row, "approver")?,
                    group_level: int(row, "group_level")? != 0,
                },
                eval_run: text(row, "eval_run")?,
                reason: text(row, "reason")?,
                at: int(row, "at")?,
            };
            let number = unsigned(row, "number")?;
            by_version.entry(number).or_default().push(approval);
        }
        Ok(by_version)
    }

    /// Sets the weights (and per-entity rollouts) of deployed versions, all or none.
    pub async fn set_rollout(
        &self,
        use_case: &str,
        weights: &[(u32, u32, Option<Vec<String>>)],
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (number, weight, entities) in weights {
            let entities = entities.as_ref().map(to_json).transpose()?;
            let set = sqlx::query(
                "UPDATE use_case_versions SET weight = $3, rollout_entities = $4, updated_at = $5 \
                 WHERE use_case = $1 AND number = $2 AND state = 'deployed'",
            )
            .bind(use_case)
            .bind(i64::from(*number))
            .bind(i64::from(*weight))
            .bind(entities)
            .bind(audit.at)
            .execute(&mut *tx)
            .await?;
            if set.rows_affected() == 0 {
                return Err(StoreError::VersionMismatch(format!(
                    "version {number} of `{use_case}` is not deployed"
                )));
            }
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new revision of a suite; returns its revision number (1, 2, …).
    pub async fn put_suite(
        &self,
        use_case: &str,
        name: &str,
        cases: &str,
        case_count: usize,
        audit: &AuditEvent,
    ) -> Result<u32, StoreError> {
        // One statement numbers and writes the revision: on SQLite a transaction that read first
        // fails at its first write when another writer (the audit channel's, say) committed in
        // between (SQLITE_BUSY_SNAPSHOT), where one that writes first waits for the lock.
        let mut tx = self.pool.begin().await?;
        let revision: i64 = sqlx::query_scalar(
            "INSERT INTO eval_suites (use_case, name, revision, cases, case_count, created_at) \
             SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), COALESCE(MAX(revision), 0) + 1, \
             CAST($3 AS TEXT), CAST($4 AS BIGINT), CAST($5 AS BIGINT) \
             FROM eval_suites WHERE use_case = $1 AND name = $2 RETURNING revision",
        )
        .bind(use_case)
        .bind(name)
        .bind(cases)
        .bind(to_bigint("case_count", case_count)?)
        .bind(audit.at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, || format!("suite `{name}` was just changed")))?;
        let revision =
            u32::try_from(revision).map_err(|_| StoreError::OutOfRange("revision".into()))?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(revision)
    }

    /// A suite's text: the given revision, else the newest; with its revision number.
    pub async fn suite(
        &self,
        use_case: &str,
        name: &str,
        revision: Option<u32>,
    ) -> Result<Option<(u32, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT revision, cases FROM eval_suites WHERE use_case = $1 AND name = $2 \
             AND ($3 < 0 OR revision = $3) ORDER BY revision DESC LIMIT 1",
        )
        .bind(use_case)
        .bind(name)
        .bind(revision.map_or(-1, i64::from))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((unsigned(&row, "revision")?, text(&row, "cases")?)))
            .transpose()
    }

    /// Records a run that starts now, with its audit event.
    pub async fn create_eval_run(
        &self,
        run: &EvalRun,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO eval_runs (id, use_case, version, digest, suite, suite_revision, status, \
             cases, done, summary, started_by, created_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, NULL, $9, $10, NULL)",
        )
        .bind(run.id.as_str())
        .bind(run.use_case.as_str())
        .bind(i64::from(run.version))
        .bind(run.digest.as_str())
        .bind(run.suite.as_str())
        .bind(i64::from(run.suite_revision))
        .bind(run.status.as_str())
        .bind(to_bigint("cases", run.cases)?)
        .bind(run.started_by.as_str())
        .bind(run.created_at)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores some of a run's results and its progress.
    pub async fn add_eval_results(
        &self,
        run_id: &str,
        results: &[CaseResult],
        done: u64,
    ) -> Result<(), StoreError> {
        let rows = results
            .iter()
            .map(|r| {
                Ok((
                    run_id,
                    r.case_id.as_str(),
                    i64::from(r.passed()),
                    to_json(r)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut tx = self.pool.begin().await?;
        RESULT_INSERT
            .execute(&mut tx, self.backend(), &rows, |arguments, row| {
                add(arguments, row.0)?;
                add(arguments, row.1)?;
                add(arguments, row.2)?;
                add(arguments, row.3.as_str())
            })
            .await?;
        sqlx::query("UPDATE eval_runs SET done = $2 WHERE id = $1")
            .bind(run_id)
            .bind(to_bigint("done", done)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a run: finished with its summary, or failed.
    pub async fn finish_eval_run(
        &self,
        run_id: &str,
        status: EvalStatus,
        summary: Option<&Summary>,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE eval_runs SET status = $2, summary = $3, finished_at = $4 WHERE id = $1",
        )
        .bind(run_id)
        .bind(status.as_str())
        .bind(summary.map(to_json).transpose()?)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks runs left `running` by a stopped server as failed; returns how many.
    pub async fn fail_interrupted_eval_runs(&self, at: UnixMillis) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE eval_runs SET status = 'failed', finished_at = $1 WHERE status = 'running'",
        )
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn eval_run(&self, id: &str) -> Result<Option<EvalRun>, StoreError> {
        sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM eval_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(run_row)
        .transpose()
    }

    /// A use case's runs, newest first.
    pub async fn eval_runs(&self, use_case: &str) -> Result<Vec<EvalRun>, StoreError> {
        sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM eval_runs WHERE use_case = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(use_case)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(run_row)
        .collect()
    }

    /// A run's results, by case id.
    pub async fn eval_results(&self, run_id: &str) -> Result<Vec<CaseResult>, StoreError> {
        sqlx::query("SELECT result FROM eval_results WHERE run_id = $1 ORDER BY case_id")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| from_json("result", &text(row, "result")?))
            .collect()
    }

    /// Stores feedback; a caller's later verdict on the same answer replaces an earlier one, never
    /// the reverse: a batch tried again (its commit's answer lost) stores nothing twice and undoes
    /// no verdict given since (on another replica, say). A caller's timeout closes its connection
    /// (`Store::leased`).
    pub async fn insert_feedback(&self, batch: &[Feedback]) -> Result<(), StoreError> {
        self.leased(async |conn| {
            let mut tx = conn.begin().await?;
            for f in batch {
                sqlx::query(
                    "INSERT INTO feedback (request_id, actor, entity_id, rating, comment, at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id, actor) DO UPDATE \
                     SET rating = excluded.rating, comment = excluded.comment, at = excluded.at \
                     WHERE feedback.at <= excluded.at",
                )
                .bind(f.request_id.as_str())
                .bind(f.actor.as_str())
                .bind(f.entity_id.map(|id| id.to_string()))
                .bind(f.rating.as_str())
                .bind(f.comment.as_deref())
                .bind(f.at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// What each version of a use case did since `since`: requests, errors (5xx, and answers
    /// that broke the output schema), refusals by the data policy, and the feedback its callers
    /// gave on their own answers.
    pub async fn version_stats(
        &self,
        use_case: &str,
        since: UnixMillis,
    ) -> Result<Vec<(u32, VersionStats, u64, u64)>, StoreError> {
        // The codes are the domain's constants, never input: quoting them inline is safe.
        let refusals = domain::DATA_POLICY_REFUSALS
            .map(|code| format!("'{code}'"))
            .join(", ");
        let usage = sqlx::query(&format!(
            "SELECT use_case_version AS version, COUNT(*) AS requests, \
             CAST(SUM(CASE WHEN status >= 500 OR error_code = 'output_schema_violation' THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
             CAST(SUM(CASE WHEN error_code IN ({refusals}) THEN 1 ELSE 0 END) AS BIGINT) AS refusals, \
             CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost, \
             CAST(COALESCE(SUM(duration_ms), 0) AS BIGINT) AS duration \
             FROM usage_records WHERE use_case = $1 AND use_case_version IS NOT NULL \
             AND started_at >= $2 GROUP BY use_case_version ORDER BY use_case_version",
        ))
        .bind(use_case)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        let feedback = sqlx::query(
            "SELECT u.use_case_version AS version, \
             CAST(SUM(CASE WHEN f.rating = 'up' THEN 1 ELSE 0 END) AS BIGINT) AS up, \
             CAST(SUM(CASE WHEN f.rating = 'down' THEN 1 ELSE 0 END) AS BIGINT) AS down \
             FROM feedback f JOIN usage_records u ON u.request_id = f.request_id \
             AND (f.actor = u.key_id OR f.actor = u.user_id) \
             WHERE u.use_case = $1 AND u.use_case_version IS NOT NULL AND u.started_at >= $2 \
             GROUP BY u.use_case_version",
        )
        .bind(use_case)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in &usage {
            let version: u32 = unsigned(row, "version")?;
            let mut stats = VersionStats {
                requests: unsigned(row, "requests")?,
                errors: unsigned(row, "errors")?,
                policy_refusals: unsigned(row, "refusals")?,
                ..VersionStats::default()
            };
            for f in &feedback {
                if unsigned::<u32>(f, "version")? == version {
                    stats.thumbs_up = unsigned(f, "up")?;
                    stats.thumbs_down = unsigned(f, "down")?;
                }
            }
            out.push((
                version,
                stats,
                unsigned(row, "cost")?,
                unsigned(row, "duration")?,
            ));
        }
        Ok(out)
    }
}

const RUN_COLUMNS: &str = "id, use_case, version, digest, suite, suite_revision, status, cases, \
     done, summary, started_by, created_at, finished_at";

fn run_row(row: &AnyRow) -> Result<EvalRun, StoreError> {
    Ok(EvalRun {
        id: text(row, "id")?,
        use_case: text(row, "use_case")?,
        version: unsigned(row, "version")?,
        digest: text(row, "digest")?,
        suite: text(row, "suite")?,
        suite_revision: unsigned(row, "suite_revision")?,
        status: EvalStatus::parse(&text(row, "status")?)?,
        cases: unsigned(row, "cases")?,
        done: unsigned(row, "done")?,
        summary: opt_text(row, "summary")?
            .map(|s| from_json("summary", &s))
            .transpose()?,
        started_by: text(row, "started_by")?,
        created_at: int(row, "created_at")?,
        finished_at: crate::codec::opt_int(row, "finished_at")?,
    })
}

fn version_row(row: &AnyRow) -> Result<Version, StoreError> {
    let state = text(row, "state")?;
    Ok(Version {
        number: unsigned(row, "number")?,
        state: VersionState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("version state `{state}`")))?,
        spec: from_json("spec", &text(row, "spec")?)?,
        weight: unsigned(row, "weight")?,
        rollout_entities: opt_text(row, "rollout_entities")?
            .map(|s| from_json("rollout_entities", &s))
            .transpose()?,
        created_at: int(row, "created_at")?,
    })
}
