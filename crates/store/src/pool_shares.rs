//! Entity shares of the GPU pools, as administrators set them through the admin API. The store
//! keeps the definitions; the gateway's schedulers hold them in memory, set at start and changed
//! live by the admin API.

use domain::{AuditEvent, EntityId};

use crate::codec::{parsed, text, to_bigint, unsigned};
use crate::{Store, StoreError};

/// One entity's share of one pool.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredShare {
    pub pool: String,
    pub entity_id: EntityId,
    pub weight: u32,
    /// Guaranteed fraction of the pool's capacity, in millionths (stored as an integer so both
    /// dialects read back exactly what was written).
    pub min_share_ppm: u32,
}

impl Store {
    /// Creates or replaces an entity's share of a pool, with its audit event, in one transaction.
    pub async fn set_pool_share(
        &self,
        share: &StoredShare,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "INSERT INTO pool_shares (pool, entity_id, weight, min_share_ppm, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (pool, entity_id) DO UPDATE SET weight = excluded.weight, \
                 min_share_ppm = excluded.min_share_ppm, updated_at = excluded.updated_at",
            )
            .bind(share.pool.as_str())
            .bind(share.entity_id.to_string())
            .bind(to_bigint("weight", share.weight)?)
            .bind(to_bigint("min_share_ppm", share.min_share_ppm)?)
            .bind(audit.at),
            audit,
        )
        .await?;
        Ok(())
    }

    /// Every stored share, by pool then entity.
    pub async fn list_pool_shares(&self) -> Result<Vec<StoredShare>, StoreError> {
        let rows = sqlx::query(
            "SELECT pool, entity_id, weight, min_share_ppm FROM pool_shares \
             ORDER BY pool, entity_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredShare {
                    pool: text(row, "pool")?,
                    entity_id: parsed(row, "entity_id")?,
                    weight: unsigned(row, "weight")?,
                    min_share_ppm: unsigned(row, "min_share_ppm")?,
                })
            })
            .collect()
    }
}
