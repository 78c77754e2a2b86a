//! Multi-row INSERTs for batches (usage records, audit events): a batch is cut into statements of
//! any number of rows up to [`EXACT_ROWS`] (a page's few audit events: one statement) or of a
//! power-of-two number above, so that only a handful of distinct statements ever exist; each is
//! built once per backend and prepared once per connection, where a statement sized to each batch
//! was parsed again for every batch.

use std::fmt::Write;
use std::sync::OnceLock;

use sqlx::AnyConnection;
use sqlx::any::AnyArguments;

use crate::{Backend, StoreError};

/// Parameters per statement at most: under SQLite's limit of 32,766 and PostgreSQL's of 65,535.
const MAX_PARAMETERS: usize = 8_192;

/// Rows per statement at most, whatever the width.
const MAX_ROWS: usize = 256;

/// Batches of up to this many rows (a power of two) are inserted by one statement of their size.
const EXACT_ROWS: usize = 8;

/// The INSERT statements of one table and column list, at every power-of-two size.
pub(crate) struct MultiRowInsert {
    table: &'static str,
    columns: &'static [&'static str],
    sqlite: OnceLock<Vec<String>>,
    postgres: OnceLock<Vec<String>>,
}

impl MultiRowInsert {
    pub(crate) const fn new(table: &'static str, columns: &'static [&'static str]) -> Self {
        MultiRowInsert {
            table,
            columns,
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// Inserts `rows`, each bound by `bind` in column order, in as few statements as the sizes
    /// allow, on `conn` (the caller's transaction, so a batch is all or none).
    pub(crate) async fn execute<T>(
        &self,
        conn: &mut AnyConnection,
        backend: Backend,
        rows: &[T],
        bind: impl for<'q> Fn(&mut AnyArguments<'q>, &'q T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut rest = rows;
        while !rest.is_empty() {
            let count = statement_rows(rest.len().min(self.max_rows()));
            let (chunk, tail) = rest.split_at(count);
            let mut arguments = AnyArguments::default();
            for row in chunk {
                bind(&mut arguments, row)?;
            }
            sqlx::query_with(self.sql(backend, count), arguments)
                .execute(&mut *conn)
                .await?;
            rest = tail;
        }
        Ok(())
    }

    /// The largest power of two of rows whose parameters stay under [`MAX_PARAMETERS`].
    fn max_rows(&self) -> usize {
        let fit = (MAX_PARAMETERS / self.columns.len().max(1)).clamp(1, MAX_ROWS);
        1 << (usize::BITS - 1 - fit.leading_zeros())
    }

    /// The statement for `rows` rows (a [`statement_rows`] size), built on first use. SQLite gets
    /// anonymous `?` placeholders: with numbered ones the driver looks each parameter up by
    /// name, a linear scan per parameter, which made a large batch quadratic.
    fn sql(&self, backend: Backend, rows: usize) -> &str {
        let statements = match backend {
            Backend::Sqlite => &self.sqlite,
            Backend::Postgres => &self.postgres,
        };
        let statements = statements.get_or_init(|| {
            (1..=self.max_rows())
                .filter(|&size| statement_rows(size) == size)
                .map(|size| self.build(backend, size))
                .collect()
        });
        let index = match rows <= EXACT_ROWS {
            true => rows - 1,
            false => {
                EXACT_ROWS - 1 + (rows.trailing_zeros() - EXACT_ROWS.trailing_zeros()) as usize
            }
        };
        &statements[index]
    }

    fn build(&self, backend: Backend, rows: usize) -> String {
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.table,
            self.columns.join(", ")
        );
        let mut placeholder = 0usize;
        for index in 0..rows {
            sql.push_str(if index == 0 { "(" } else { ", (" });
            for column in 0..self.columns.len() {
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
}

/// The rows of the statement that starts a batch of `size` rows: all of them up to
/// [`EXACT_ROWS`], else the largest power of two not above `size`.
fn statement_rows(size: usize) -> usize {
    match size <= EXACT_ROWS {
        true => size,
        false => 1 << (usize::BITS - 1 - size.leading_zeros()),
    }
}

/// Adds one bound value, as [`MultiRowInsert::execute`]'s binders do.
pub(crate) fn add<'q, T>(arguments: &mut AnyArguments<'q>, value: T) -> Result<(), StoreError>
where
    T: 'q + sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Arguments;
    arguments
        .add(value)
        .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_come_in_powers_of_two_under_the_parameter_limit() {
        let wide = MultiRowInsert::new("t", &["a"; 22]);
        assert_eq!(wide.max_rows(), 256);
        let wider = MultiRowInsert::new("t", &["a"; 40]);
        assert_eq!(wider.max_rows(), 128, "8,192 / 40 = 204, down to 128");
        assert_eq!(
            wide.sql(Backend::Postgres, 2),
            format!(
                "INSERT INTO t ({}) VALUES ({}), ({})",
                ["a"; 22].join(", "),
                (1..=22)
                    .map(|n| format!("${n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                (23..=44)
                    .map(|n| format!("${n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        );
        assert!(
            wide.sql(Backend::Sqlite, 1)
                .ends_with(&format!("({})", ["?"; 22].join(", ")))
        );
    }

    #[test]
    fn a_few_rows_are_one_statement_and_more_come_in_powers_of_two() {
        let sizes: Vec<usize> = [1, 3, 7, 8, 9, 15, 16, 300]
            .into_iter()
            .map(statement_rows)
            .collect();
        assert_eq!(sizes, [1, 3, 7, 8, 8, 8, 16, 256]);
        let narrow = MultiRowInsert::new("t", &["a", "b"]);
        for rows in [1, 3, 8, 16, 32, 256] {
            let sql = narrow.sql(Backend::Postgres, rows);
            assert_eq!(sql.matches('(').count(), rows + 1, "{rows} rows: {sql}");
        }
    }
}
