//! The background jobs' lease: one replica at a time runs the jobs that must not run twice (seat
//! reclaim, the content purge, audit checkpoints, canary checks).
//!
//! On PostgreSQL the lease is a session-level advisory lock held by a connection of its own:
//! `pg_try_advisory_lock` on a key made of [`LEASE_CLASS`] and the hash of the schema, so
//! installations (or tests) sharing one database each have their own lease. A replica that dies
//! loses its connection, PostgreSQL releases the lock, and the next replica to try takes it over.
//! A holder checks its lease with [`Lease::holds`] before each run: a lease whose connection no
//! longer answers is lost (and, the lock being the connection's, no longer held anywhere). On
//! SQLite one process owns the database: it always holds the lease.

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use crate::{Backend, Store, StoreError};

/// The first half of the advisory lock's key: Fabrique's background jobs (`FBRQ` in ASCII).
pub const LEASE_CLASS: i32 = 0x4642_5251;

/// The background jobs' lease, held while this value lives.
pub struct Lease {
    /// The connection holding the advisory lock; `None` on SQLite.
    connection: Option<PgConnection>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("shared", &self.connection.is_some())
            .finish()
    }
}

impl Store {
    /// Takes the background jobs' lease unless another replica holds it (`None` then).
    pub async fn try_lease(&self) -> Result<Option<Lease>, StoreError> {
        let (Backend::Postgres, Some(url)) = (self.backend, &self.url) else {
            return Ok(Some(Lease { connection: None }));
        };
        let mut connection = PgConnection::connect(url).await?;
        let taken: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext(current_schema()))")
                .bind(LEASE_CLASS)
                .fetch_one(&mut connection)
                .await?;
        if !taken {
            connection.close().await.ok();
            return Ok(None);
        }
        Ok(Some(Lease {
            connection: Some(connection),
        }))
    }
}

impl Lease {
    /// Whether the lease still holds: always on SQLite; on PostgreSQL, while its connection
    /// answers (the lock lives and dies with it).
    pub async fn holds(&mut self) -> bool {
        match &mut self.connection {
            None => true,
            Some(connection) => connection.ping().await.is_ok(),
        }
    }

    /// Gives the lease up now, for another replica to take (a clean shutdown).
    pub async fn release(self) {
        if let Some(connection) = self.connection {
            connection.close().await.ok();
        }
    }
}
