//! "Last seen" times (a key's last use, a user's last activity) written in batches: one UPDATE
//! per chunk of rows joined to a VALUES list, instead of one statement per row, so storing a
//! minute of activity of 100,000 users costs a few hundred statements, not 100,000.
//!
//! Their writers (the seat writer, the binary's key-use and session flushes) keep what was not
//! written for their next flush, and bound nothing themselves: each write is bounded here, through
//! `Store::leased_in_time` like every background writer's. A database gone silent fails it with
//! `StoreError::Unanswered` after `STORE_WRITE_TIMEOUT` and costs no pool connection; written
//! again, an instant never moves a stored one back, so a write whose answer was lost does no harm.

use std::fmt::Write;

use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, Connection};

use crate::multi_row::add;
use crate::{Backend, Store, StoreError};

/// Rows per statement: 2 parameters each, far under both databases' limits.
const ROWS_PER_STATEMENT: usize = 500;

/// Sets `column` of the rows of `table` whose `id` is given to the paired instant, never moving a
/// stored instant backwards, in one transaction. `table` and `column` are the store's own names,
/// never input.
pub(crate) async fn record(
    store: &Store,
    table: &'static str,
    column: &'static str,
    rows: &[(String, i64)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    store
        .leased_in_time(async |conn| {
            let mut tx = conn.begin().await?;
            update(&mut tx, store.backend(), table, column, rows).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
}

async fn update(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &'static str,
    column: &'static str,
    rows: &[(String, i64)],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        // VALUES columns are `column1`, `column2` in SQLite and PostgreSQL alike; the cast gives
        // PostgreSQL the instant's type.
        let mut sql = format!("UPDATE {table} SET {column} = v.column2 FROM (VALUES ");
        let mut arguments = AnyArguments::default();
        for (index, (id, at)) in chunk.iter().enumerate() {
            let separator = if index == 0 { "" } else { ", " };
            // SQLite gets anonymous placeholders, which its driver binds without a lookup by name.
            let _ = match backend {
                Backend::Sqlite => write!(sql, "{separator}(?, CAST(? AS BIGINT))"),
                Backend::Postgres => write!(
                    sql,
                    "{separator}(${}, CAST(${} AS BIGINT))",
                    2 * index + 1,
                    2 * index + 2
                ),
            };
            add(&mut arguments, id.as_str())?;
            add(&mut arguments, *at)?;
        }
        let _ = write!(
            sql,
            ") AS v WHERE {table}.id = v.column1 \
             AND ({table}.{column} IS NULL OR {table}.{column} < v.column2)"
        );
        sqlx::query_with(&sql, arguments)
            .persistent(false)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
