//! A pool connection that goes back to the pool only when the work on it ran to its end. A caller
//! may drop a write mid-query (the usage writer's timeout, when the database stops answering
//! without closing the connection): its connection then waits on a socket nobody answers, and
//! returned to the pool it would hang its next user (the pool pings a returned connection, and
//! waits as long). Dropped unfinished, it is closed instead (sqlx bounds the close).

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};

use crate::{Store, StoreError};

impl Store {
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
