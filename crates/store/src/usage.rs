//! Usage records: written in batches off the request path, one transaction and a few multi-row
//! INSERTs per batch.

use std::fmt::Write;
use std::sync::OnceLock;

use domain::{Hosting, Operation, UsageRecord};
use sqlx::Arguments;
use sqlx::any::{AnyArguments, AnyRow};

use crate::codec::{int, opt_parsed, opt_text, opt_unsigned, text, to_bigint, unsigned};
use crate::{Backend, Store, StoreError};

const USAGE_COLUMNS: [&str; 22] = [
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
];

/// Rows per INSERT statement at most: 256 × 22 = 5,632 parameters, under SQLite's limit of 32,766
/// and PostgreSQL's of 65,535.
const MAX_ROWS_PER_STATEMENT: usize = 256;

/// The statement sizes: every power of two up to [`MAX_ROWS_PER_STATEMENT`].
const STATEMENT_SIZES: usize = MAX_ROWS_PER_STATEMENT.trailing_zeros() as usize + 1;

impl Store {
    /// Inserts `records` atomically: all or none.
    ///
    /// A batch is cut into statements of a power-of-two number of rows, so that only a handful of
    /// distinct statements ever exist: each is prepared once per connection and reused, where a
    /// statement sized to each batch was parsed again for every batch (the writer's main cost).
    pub async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let mut rest = records;
        while !rest.is_empty() {
            let size = rest.len().min(MAX_ROWS_PER_STATEMENT);
            let rows = 1 << (usize::BITS - 1 - size.leading_zeros());
            let (chunk, tail) = rest.split_at(rows);
            let mut arguments = AnyArguments::default();
            for record in chunk {
                bind_usage(&mut arguments, record)?;
            }
            sqlx::query_with(insert_sql(self.backend(), rows), arguments)
                .execute(&mut *tx)
                .await?;
            rest = tail;
        }
        tx.commit().await?;
        Ok(())
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

/// The multi-row INSERT of `rows` records (a power of two), built once per backend and size.
/// SQLite gets anonymous `?` placeholders: with numbered ones the driver looks each parameter up
/// by name, a linear scan per parameter, which made a large batch quadratic.
fn insert_sql(backend: Backend, rows: usize) -> &'static str {
    static SQLITE: OnceLock<Vec<String>> = OnceLock::new();
    static POSTGRES: OnceLock<Vec<String>> = OnceLock::new();
    let statements = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    let statements = statements.get_or_init(|| {
        (0..STATEMENT_SIZES)
            .map(|power| multi_row_insert(backend, 1 << power))
            .collect()
    });
    &statements[rows.trailing_zeros() as usize]
}

fn multi_row_insert(backend: Backend, rows: usize) -> String {
    let mut sql = format!(
        "INSERT INTO usage_records ({}) VALUES ",
        USAGE_COLUMNS.join(", ")
    );
    let mut placeholder = 0usize;
    for index in 0..rows {
        sql.push_str(if index == 0 { "(" } else { ", (" });
        for column in 0..USAGE_COLUMNS.len() {
            placeholder += 1;
            let separator = if column == 0 { "" } else { ", " };
            // Writing to a String cannot fail.
            let _ = match backend {
                Backend::Sqlite => write!(sql, "{separator}?"),
                Backend::Postgres => write!(sql, "{separator}${placeholder}"),
            };
        }
        sql.push(')');
    }
    sql
}

fn bind_usage<'q>(arguments: &mut AnyArguments<'q>, r: &'q UsageRecord) -> Result<(), StoreError> {
    let add = |result: Result<(), sqlx::error::BoxDynError>| {
        result.map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))
    };
    add(arguments.add(r.request_id.as_str()))?;
    add(arguments.add(r.started_at))?;
    add(arguments.add(r.entity_id.map(|id| id.to_string())))?;
    add(arguments.add(r.user_id.map(|id| id.to_string())))?;
    add(arguments.add(r.service_account_id.map(|id| id.to_string())))?;
    add(arguments.add(r.key_id.map(|id| id.to_string())))?;
    add(arguments.add(r.operation.as_str()))?;
    add(arguments.add(r.model.as_str()))?;
    add(arguments.add(r.endpoint.as_deref()))?;
    add(arguments.add(i64::from(r.stream)))?;
    add(arguments.add(to_bigint("prompt_tokens", r.prompt_tokens)?))?;
    add(arguments.add(to_bigint("completion_tokens", r.completion_tokens)?))?;
    add(arguments.add(to_bigint("cost_micros", r.cost_micros)?))?;
    add(arguments.add(r.ttft_ms.map(i64::from)))?;
    add(arguments.add(i64::from(r.duration_ms)))?;
    add(arguments.add(i64::from(r.status)))?;
    add(arguments.add(r.error_code.as_deref()))?;
    add(arguments.add(i64::from(r.attempts)))?;
    add(arguments.add(r.classification.as_deref()))?;
    add(arguments.add(r.hosting.map(Hosting::as_str)))?;
    add(arguments.add(r.team_id.map(|id| id.to_string())))?;
    add(arguments.add(r.use_case.as_deref()))?;
    Ok(())
}

fn usage_row(row: &AnyRow) -> Result<UsageRecord, StoreError> {
    let operation = text(row, "operation")?;
    let stream = int(row, "stream")?;
    Ok(UsageRecord {
        request_id: text(row, "request_id")?,
        started_at: int(row, "started_at")?,
        entity_id: opt_parsed(row, "entity_id")?,
        user_id: opt_parsed(row, "user_id")?,
        service_account_id: opt_parsed(row, "service_account_id")?,
        key_id: opt_parsed(row, "key_id")?,
        team_id: opt_parsed(row, "team_id")?,
        use_case: opt_text(row, "use_case")?,
        operation: Operation::parse(&operation)
            .ok_or_else(|| StoreError::Corrupt(format!("operation = `{operation}`")))?,
        model: text(row, "model")?,
        endpoint: opt_text(row, "endpoint")?,
        stream: match stream {
            0 => false,
            1 => true,
            other => return Err(StoreError::Corrupt(format!("stream = {other}"))),
        },
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
