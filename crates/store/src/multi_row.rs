//! Multi-row INSERTs for batches (usage records, audit events): a batch is cut into statements of a
//! power-of-two number of rows, so that only a handful of distinct statements ever exist; each is
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
            let size = rest.len().min(self.max_rows());
            // The largest power of two not above `size`.
            let count = 1 << (usize::BITS - 1 - size.leading_zeros());
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

    /// The statement for `rows` rows (a power of two), built on first use. SQLite gets anonymous
    /// `?` placeholders: with numbered ones the driver looks each parameter up by name, a linear
    /// scan per parameter, which made a large batch quadratic.
    fn sql(&self, backend: Backend, rows: usize) -> &str {
        let statements = match backend {
            Backend::Sqlite => &self.sqlite,
            Backend::Postgres => &self.postgres,
        };
        let statements = statements.get_or_init(|| {
            let sizes = self.max_rows().trailing_zeros() + 1;
            (0..sizes)
                .map(|power| self.build(backend, 1 << power))
                .collect()
        });
        &statements[rows.trailing_zeros() as usize]
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
}
