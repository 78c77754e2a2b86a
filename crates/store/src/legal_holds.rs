//! Legal holds (migration 0025): a user's or a whole entity's stored content kept whatever erasure
//! or retention says, until the hold is lifted. Placing and lifting are written with their audit
//! events; what a hold forbids is checked by the erasure (`retention`, `admin`) and by the purge
//! ([`Store::purge_content`]), which reads the active holds in its own statements.

use domain::{AuditEvent, EntityId, LegalHoldId, UnixMillis, UserId};
use sqlx::any::AnyRow;

use crate::audit::insert_targeted;
use crate::codec::{int, opt_int, opt_parsed, opt_text, parsed, text};
use crate::narrowing::{EntityListing, Window};
use crate::{Store, StoreError};

/// One hold, active while `lifted_at` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHold {
    pub id: LegalHoldId,
    pub entity_id: EntityId,
    /// `None`: every user and service account of the entity.
    pub user_id: Option<UserId>,
    pub reason: String,
    pub case_reference: String,
    pub placed_by: String,
    pub placed_at: UnixMillis,
    pub lifted_by: Option<String>,
    pub lifted_at: Option<UnixMillis>,
}

const COLUMNS: &str = "id, entity_id, user_id, reason, case_reference, placed_by, placed_at, \
                       lifted_by, lifted_at";

impl Store {
    /// Stores a new hold, with its audit event (target: the hold).
    pub async fn place_legal_hold(
        &self,
        hold: &LegalHold,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO legal_holds ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)"
        ))
        .bind(hold.id.to_string())
        .bind(hold.entity_id.to_string())
        .bind(hold.user_id.map(|id| id.to_string()))
        .bind(hold.reason.as_str())
        .bind(hold.case_reference.as_str())
        .bind(hold.placed_by.as_str())
        .bind(hold.placed_at)
        .execute(&mut *tx)
        .await?;
        insert_targeted(&mut tx, audit, hold.id.to_string(), Some(hold.entity_id)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lifts the active hold `id` by `audit.actor` at `audit.at`, with its audit event; `None`
    /// when no active hold has that id.
    pub async fn lift_legal_hold(
        &self,
        id: LegalHoldId,
        audit: &AuditEvent,
    ) -> Result<Option<LegalHold>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE legal_holds SET lifted_by = $1, lifted_at = $2 \
             WHERE id = $3 AND lifted_at IS NULL RETURNING {COLUMNS}"
        ))
        .bind(audit.actor.as_str())
        .bind(audit.at)
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(hold) = row.as_ref().map(hold_row).transpose()? else {
            return Ok(None);
        };
        insert_targeted(&mut tx, audit, hold.id.to_string(), Some(hold.entity_id)).await?;
        tx.commit().await?;
        Ok(Some(hold))
    }

    /// The hold `id`, active or lifted.
    pub async fn legal_hold(&self, id: LegalHoldId) -> Result<Option<LegalHold>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM legal_holds WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(hold_row).transpose()
    }

    /// The active holds (of `entity`, or of every entity), oldest first, within `window`.
    pub async fn active_legal_holds(
        &self,
        entity: Option<EntityId>,
        window: Window,
    ) -> Result<Vec<LegalHold>, StoreError> {
        EntityListing {
            select: &format!("SELECT {COLUMNS} FROM legal_holds"),
            condition: Some("lifted_at IS NULL"),
            entity_column: "entity_id",
            order: "placed_at, id",
        }
        .fetch(&self.pool, entity, window, hold_row)
        .await
    }

    /// The oldest active hold that covers `user` of `entity`: one on them, or on their entity.
    pub async fn hold_covering(
        &self,
        entity: EntityId,
        user: UserId,
    ) -> Result<Option<LegalHold>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM legal_holds WHERE lifted_at IS NULL AND entity_id = $1 \
             AND (user_id IS NULL OR user_id = $2) ORDER BY placed_at, id LIMIT 1"
        ))
        .bind(entity.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(hold_row).transpose()
    }
}

fn hold_row(row: &AnyRow) -> Result<LegalHold, StoreError> {
    Ok(LegalHold {
        id: parsed(row, "id")?,
        entity_id: parsed(row, "entity_id")?,
        user_id: opt_parsed(row, "user_id")?,
        reason: text(row, "reason")?,
        case_reference: text(row, "case_reference")?,
        placed_by: text(row, "placed_by")?,
        placed_at: int(row, "placed_at")?,
        lifted_by: opt_text(row, "lifted_by")?,
        lifted_at: opt_int(row, "lifted_at")?,
    })
}
