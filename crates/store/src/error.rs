//! The store's errors: what callers can act on (conflict, not found) kept apart from failures.

/// Everything a [`crate::Store`] operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken, e.g. a duplicate entity slug. The message names the value.
    #[error("{0}")]
    Conflict(String),
    /// Something the operation refers to does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A conditional change found the row at another version than the one it was based on.
    #[error("{0}")]
    VersionMismatch(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The database did not answer within its caller's bound (a connection open, nothing
    /// answering: a firewall dropping packets, say).
    #[error("the database did not answer within {0:?}")]
    Unanswered(std::time::Duration),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(
        "invalid database URL `{0}`: expected sqlite:///path/to/file.db, sqlite::memory: or postgres://…"
    )]
    InvalidUrl(String),
    /// A stored value does not decode (an unknown role, a malformed id…): the database was edited
    /// by hand or by a newer version.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A value to store does not fit the column (a counter above `i64::MAX`).
    #[error("value out of range: {0}")]
    OutOfRange(String),
    /// A report cuts a day whose usage is kept by day only (its hourly roll-ups and raw records
    /// deleted): its range and buckets must cut no day before `before`.
    #[error(
        "the usage before {before} (ms since 1970) is kept by day only; give a range and buckets that cut no day before it"
    )]
    KeptByDay { before: i64 },
    /// The content keys kept outside the database (`retention::KeyCustody`) could not be read or
    /// written.
    #[error("content key custody: {0}")]
    KeyCustody(String),
    /// Creating the database file or its directory failed.
    #[error("cannot create the database file: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(err)
    }
}

impl StoreError {
    /// Whether the database could not be reached at all (no connection within the pool's wait, one
    /// lost, or no answer): worth a retry shortly, unlike a statement the database refused.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
            ) | StoreError::Unanswered(_)
        )
    }

    /// Turns a unique-constraint violation into [`StoreError::Conflict`] with `message`, and a
    /// foreign-key violation into [`StoreError::NotFound`]; other errors pass through.
    pub(crate) fn from_write(err: sqlx::Error, conflict: impl FnOnce() -> String) -> Self {
        if let sqlx::Error::Database(db) = &err {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => return StoreError::Conflict(conflict()),
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    return StoreError::NotFound(format!("referenced row does not exist: {db}"));
                }
                _ => {}
            }
        }
        StoreError::Database(err)
    }
}
