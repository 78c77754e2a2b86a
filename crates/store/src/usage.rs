//! Usage records: written in batches off the request path, one transaction and a few multi-row
//! INSERTs per batch.

use domain::{Hosting, Operation, UsageRecord};
use sqlx::Connection;
use sqlx::any::{AnyArguments, AnyRow};

use crate::codec::{int, opt_parsed, opt_text, opt_unsigned, text, to_bigint, unsigned};
use crate::multi_row::{MultiRowInsert, add};
use crate::{Store, StoreError};

const USAGE_COLUMNS: [&str; 26] = [
    "request_id",
    "started_at",
    "entity_id",
    "user_id",
    "service_account_id",
    "key_id",
    "operation",
    "model",
    "endpoint",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cost_micros",
    "ttft_ms",
    "duration_ms",
    "status",
    "error_code",
    "attempts",
    "classification",
    "hosting",
    "team_id",
    "use_case",
    "usage_estimated",
    "client_request_id",
    "use_case_version",
    "cache_hit",
];

pub(crate) static USAGE_INSERT: MultiRowInsert =
    MultiRowInsert::new("usage_records", &USAGE_COLUMNS);

impl Store {
    /// Inserts `records` atomically: all or none, in a few multi-row statements. Its caller may
    /// drop it mid-way (a timeout): its connection is then closed (`Store::leased`).
    pub async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.leased(async |conn| {
            let mut tx = conn.begin().await?;
            USAGE_INSERT
                .execute(&mut tx, self.backend(), records, bind_usage)
                .await?;
            crate::rollups::reopen_hours(&mut tx, records).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// The newest `limit` records, newest first.
    pub async fn list_usage(&self, limit: u32) -> Result<Vec<UsageRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM usage_records ORDER BY started_at DESC, seq DESC LIMIT $1",
            USAGE_COLUMNS.join(", ")
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(usage_row).collect()
    }
}

pub(crate) fn bind_usage<'q>(
    arguments: &mut AnyArguments<'q>,
    r: &'q UsageRecord,
) -> Result<(), StoreError> {
    add(arguments, r.request_id.as_str())?;
    add(arguments, r.started_at)?;
    add(arguments, r.entity_id.map(|id| id.to_string()))?;
    add(arguments, r.user_id.map(|id| id.to_string()))?;
    add(arguments, r.service_account_id.map(|id| id.to_string()))?;
    add(arguments, r.key_id.map(|id| id.to_string()))?;
    add(arguments, r.operation.as_str())?;
    add(arguments, r.model.as_str())?;
    add(arguments, r.endpoint.as_deref())?;
    add(arguments, i64::from(r.stream))?;
    add(arguments, to_bigint("prompt_tokens", r.prompt_tokens)?)?;
    add(
        arguments,
        to_bigint("completion_tokens", r.completion_tokens)?,
    )?;
    add(arguments, to_bigint("cost_micros", r.cost_micros)?)?;
    add(arguments, r.ttft_ms.map(i64::from))?;
    add(arguments, i64::from(r.duration_ms))?;
    add(arguments, i64::from(r.status))?;
    add(arguments, r.error_code.as_deref())?;
    add(arguments, i64::from(r.attempts))?;
    add(arguments, r.classification.as_deref())?;
    add(arguments, r.hosting.map(Hosting::as_str))?;
    add(arguments, r.team_id.map(|id| id.to_string()))?;
    add(arguments, r.use_case.as_deref())?;
    add(arguments, i64::from(r.usage_estimated))?;
    add(arguments, r.client_request_id.as_deref())?;
    add(arguments, r.use_case_version.map(i64::from))?;
    add(arguments, i64::from(r.cache_hit))?;
    Ok(())
}

fn usage_row(row: &AnyRow) -> Result<UsageRecord, StoreError> {
    let operation = text(row, "operation")?;
    let stream = int(row, "stream")?;
    let usage_estimated = int(row, "usage_estimated")?;
    let cache_hit = int(row, "cache_hit")?;
    Ok(UsageRecord {
        request_id: text(row, "request_id")?,
        client_request_id: opt_text(row, "client_request_id")?,
        started_at: int(row, "started_at")?,
        entity_id: opt_parsed(row, "entity_id")?,
        user_id: opt_parsed(row, "user_id")?,
        service_account_id: opt_parsed(row, "service_account_id")?,
        key_id: opt_parsed(row, "key_id")?,
        team_id: opt_parsed(row, "team_id")?,
        use_case: opt_text(row, "use_case")?,
        use_case_version: opt_unsigned(row, "use_case_version")?,
        operation: Operation::parse(&operation)
            .ok_or_else(|| StoreError::Corrupt(format!("operation = `{operation}`")))?,
        model: text(row, "model")?,
        endpoint: opt_text(row, "endpoint")?,
        stream: flag("stream", stream)?,
        usage_estimated: flag("usage_estimated", usage_estimated)?,
        cache_hit: flag("cache_hit", cache_hit)?,
        prompt_tokens: unsigned(row, "prompt_tokens")?,
        completion_tokens: unsigned(row, "completion_tokens")?,
        cost_micros: unsigned(row, "cost_micros")?,
        ttft_ms: opt_unsigned(row, "ttft_ms")?,
        duration_ms: unsigned(row, "duration_ms")?,
        status: unsigned(row, "status")?,
        error_code: opt_text(row, "error_code")?,
        attempts: unsigned(row, "attempts")?,
        classification: opt_text(row, "classification")?,
        hosting: match opt_text(row, "hosting")? {
            None => None,
            Some(name) => Some(
                Hosting::parse(&name)
                    .ok_or_else(|| StoreError::Corrupt(format!("hosting = `{name}`")))?,
            ),
        },
    })
}

/// A boolean stored as 0 or 1.
fn flag(column: &str, value: i64) -> Result<bool, StoreError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(StoreError::Corrupt(format!("{column} = {other}"))),
    }
}
