//! Durable state on SQLite (embedded default) or PostgreSQL, one schema in both dialects.
//!
//! One [`Store`] type whatever the backend: the URL chooses. Both backends go through
//! `sqlx::AnyPool` with `$1`-style placeholders, which SQLite accepts natively, so every query is
//! written once. The two dialects differ only in their migrations (`migrations/sqlite`,
//! `migrations/postgres`), which are kept column for column identical.
//!
//! Representations, the same in both dialects: ids are TEXT in their prefixed form (`ent_…`), times
//! are BIGINT Unix milliseconds, booleans are BIGINT 0/1 and unsigned counters are BIGINT.
//!
//! Every mutation that an administrator performs takes the caller's [`AuditEvent`] and writes it in
//! the same transaction as the change: either both are durable or neither is. Each event is a link of
//! a hash chain (`evidence` defines the encoding): appends queue on a one-row chain head, so
//! concurrent transactions still form one line, numbered without gaps.
//!
//! Durability on SQLite: the database runs in WAL mode with `synchronous=NORMAL`. A committed
//! transaction survives a crash of the process (the WAL is in the operating system's page cache);
//! only a power loss or kernel crash may lose the last few transactions before the next checkpoint.
//! Deployments that must survive power loss without losing acknowledged audit events use
//! PostgreSQL (or can raise SQLite to `synchronous=FULL` at a throughput cost).

mod audit;
mod audit_chain;
mod codec;
mod connect;
mod content;
mod error;
mod keys;
mod last_seen;
mod limits;
mod multi_row;
mod narrowing;
mod pool_shares;
mod principals;
mod provisioning;
mod reporting;
mod scim_tokens;
mod seats;
mod subjects;
mod teams;
mod usage;

use sqlx::AnyPool;

pub use audit_chain::{AuditFilter, ChainHead, ChainSelection};
pub use connect::SQLITE_FILE_NAME;
pub use content::{ContentRecord, Erased};
pub use error::StoreError;
pub use keys::{Credential, KeyListing, Rotation};
pub use limits::{Spent, StoredBudget, StoredLimit};
pub use narrowing::{Column, Listing, Narrowing, Ordering, Page, TextMatch, Window, fold};
pub use pool_shares::StoredShare;
pub use principals::{NewUser, UserIdentity};
pub use provisioning::{ProvisionedUser, UserFields};
pub use reporting::{LatencyGroup, Percentiles, UsageDimension, UsageGroup, UsageSelection};
pub use seats::{HeldSeat, SeatChange, StoredSeats};
pub use teams::{Team, TeamFields, TeamMembers};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a connection of the pool talks to.
    pub(crate) fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Fabrique's durable state. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections in use to be returned. Lets a SQLite database
    /// checkpoint its WAL on a clean shutdown.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
