//! A pool connection that goes back to the pool only when the work on it ran to its end. A caller
//! may drop a write mid-query (the background writers' bound, [`STORE_WRITE_TIMEOUT`], when the
//! database stops answering without closing the connection): its connection then waits on a
//! socket nobody answers, and returned to the pool it would hang its next user (the pool pings a
//! returned connection, and waits as long). Dropped unfinished, it is closed instead (sqlx bounds
//! the close).
//!
//! Every background writer runs its transaction through [`Store::leased`] under that one bound:
//! the `usage` crate's writer (usage records, audit events, feedback, kept content) bounds each of
//! its tries with [`answered_in_time`], and the last-seen writes (`last_seen.rs`), whose callers
//! have no bound of their own, are bounded here ([`Store::leased_in_time`]).

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};

use crate::{Store, StoreError};

/// Longest wait for the database's answer to one background write: past it the write has failed
/// (`StoreError::Unanswered`, worth a retry like a refused one), and its connection is closed, not
/// reused. A database that stops answering without closing its connections (a firewall dropping
/// packets) would otherwise hold the writer for good, past the database's return.
pub const STORE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// `write`, given up as [`StoreError::Unanswered`] when it has not ended within
/// [`STORE_WRITE_TIMEOUT`]. Its connections must be leased ([`Store::leased`]).
pub async fn answered_in_time<T>(
    write: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(STORE_WRITE_TIMEOUT, write)
        .await
        .unwrap_or(Err(StoreError::Unanswered(STORE_WRITE_TIMEOUT)))
}

impl Store {
    /// [`Store::leased`] within [`STORE_WRITE_TIMEOUT`]: for a background write whose caller
    /// bounds nothing.
    pub(crate) async fn leased_in_time<T>(
        &self,
        work: impl AsyncFnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        answered_in_time(self.leased(work)).await
    }

    /// Runs `work` on a connection of its own, closed rather than returned to the pool if the
    /// caller drops it before `work` ends.
    pub(crate) async fn leased<T>(
        &self,
        work: impl AsyncFnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = Leased::acquire(&self.pool).await?;
        let result = work(&mut conn).await;
        conn.end();
        result
    }
}

pub(crate) struct Leased {
    conn: PoolConnection<Any>,
    ended: bool,
}

impl Leased {
    pub(crate) async fn acquire(pool: &AnyPool) -> Result<Leased, StoreError> {
        Ok(Leased {
            conn: pool.acquire().await?,
            ended: false,
        })
    }

    /// The work on it ended, whatever its result: it may go back to the pool.
    pub(crate) fn end(mut self) {
        self.ended = true;
    }
}

impl Deref for Leased {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for Leased {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

impl Drop for Leased {
    fn drop(&mut self) {
        if !self.ended {
            self.conn.close_on_drop();
        }
    }
}
