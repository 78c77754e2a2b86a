//! The chat's conversations (migration 0023): one row per conversation, one per message, each
//! sealed by `retention` under the owner's content key; the store never sees a title or a message
//! in clear. Who may reach a conversation is decided above, in one place (`web`'s ownership
//! check); here a conversation is found by its id and its owner's rows listed by owner.

use domain::{EntityId, UnixMillis, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::codec::{int, opt_text, parsed, text};
use crate::{Store, StoreError};

/// A conversation, its title sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConversation {
    /// `cnv_…`, bound into the sealing of its title and messages.
    pub id: String,
    pub owner: UserId,
    pub entity_id: EntityId,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    pub pinned: bool,
    pub sealed_title: Vec<u8>,
}

/// One message of a conversation, sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// `msg_…`, bound into its sealing.
    pub id: String,
    pub conversation_id: String,
    /// 0 for the first message; a conversation's positions are dense.
    pub position: i64,
    /// `user` or `assistant`.
    pub role: String,
    pub created_at: UnixMillis,
    /// The inference request that produced an answer (feedback is given against it).
    pub request_id: Option<String>,
    pub sealed: Vec<u8>,
}

const CONVERSATION_COLUMNS: &str =
    "id, owner_id, entity_id, created_at, updated_at, pinned, sealed_title";
const MESSAGE_COLUMNS: &str = "id, conversation_id, position, role, created_at, request_id, sealed";

impl Store {
    /// Creates the conversation with its first messages, in one transaction: a new question costs
    /// the chat one write before its answer, not two.
    pub async fn create_conversation(
        &self,
        conversation: &StoredConversation,
        first: &[StoredMessage],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO conversations ({CONVERSATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(conversation.id.as_str())
        .bind(conversation.owner.to_string())
        .bind(conversation.entity_id.to_string())
        .bind(conversation.created_at)
        .bind(conversation.updated_at)
        .bind(i64::from(conversation.pinned))
        .bind(conversation.sealed_title.clone())
        .execute(&mut *tx)
        .await?;
        insert_messages(&mut tx, &conversation.id, first).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The conversation `id`, whoever owns it: the caller checks the owner.
    pub async fn conversation(&self, id: &str) -> Result<Option<StoredConversation>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(conversation_row).transpose()
    }

    /// The owner's conversations, most recently active first, at most `limit`.
    pub async fn conversations_of(
        &self,
        owner: UserId,
        limit: u32,
    ) -> Result<Vec<StoredConversation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE owner_id = $1 \
             ORDER BY updated_at DESC, id DESC LIMIT $2"
        ))
        .bind(owner.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation_row).collect()
    }

    /// Replaces the sealed title.
    pub async fn rename_conversation(
        &self,
        id: &str,
        sealed_title: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE conversations SET sealed_title = $1 WHERE id = $2")
            .bind(sealed_title.to_vec())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn pin_conversation(&self, id: &str, pinned: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE conversations SET pinned = $1 WHERE id = $2")
            .bind(i64::from(pinned))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the conversation and its messages, for real, in one transaction.
    pub async fn delete_conversation(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM conversation_messages WHERE conversation_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM conversations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends messages and marks the conversation active at `at`, in one transaction. Messages
    /// from `messages[0].position` on are replaced first: regenerating or editing the last
    /// question rewrites the end of the conversation, never its beginning.
    pub async fn append_messages(
        &self,
        conversation_id: &str,
        messages: &[StoredMessage],
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        let Some(first) = messages.first() else {
            return Ok(());
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM conversation_messages WHERE conversation_id = $1 AND position >= $2",
        )
        .bind(conversation_id)
        .bind(first.position)
        .execute(&mut *tx)
        .await?;
        insert_messages(&mut tx, conversation_id, messages).await?;
        sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The conversation's messages in order.
    pub async fn messages_of(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM conversation_messages WHERE conversation_id = $1 \
             ORDER BY position"
        ))
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_row).collect()
    }

    /// At most `limit` of the conversation's messages before `position`, the newest first: a
    /// page of a history read from its end, so a prompt cut to a model's context costs the
    /// messages it holds, not the whole conversation.
    pub async fn messages_before(
        &self,
        conversation_id: &str,
        position: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM conversation_messages \
             WHERE conversation_id = $1 AND position < $2 ORDER BY position DESC LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(position)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_row).collect()
    }

    /// Whether the conversation holds the answer of the inference request `request_id`.
    pub async fn conversation_answered(
        &self,
        conversation_id: &str,
        request_id: &str,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT id FROM conversation_messages WHERE conversation_id = $1 AND request_id = $2 \
             LIMIT 1",
        )
        .bind(conversation_id)
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The messages of the owner's conversations, by conversation then position, at most
    /// `limit`: what a search over one's own conversations opens (the caller still checks each
    /// conversation's owner).
    pub async fn messages_owned_by(
        &self,
        owner: UserId,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let columns = MESSAGE_COLUMNS
            .split(", ")
            .map(|column| format!("m.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM conversation_messages m \
             JOIN conversations c ON c.id = m.conversation_id WHERE c.owner_id = $1 \
             ORDER BY m.conversation_id, m.position LIMIT $2"
        ))
        .bind(owner.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_row).collect()
    }
}

async fn insert_messages(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    conversation_id: &str,
    messages: &[StoredMessage],
) -> Result<(), StoreError> {
    for message in messages {
        sqlx::query(&format!(
            "INSERT INTO conversation_messages ({MESSAGE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(message.id.as_str())
        .bind(conversation_id)
        .bind(message.position)
        .bind(message.role.as_str())
        .bind(message.created_at)
        .bind(message.request_id.as_deref())
        .bind(message.sealed.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn conversation_row(row: &AnyRow) -> Result<StoredConversation, StoreError> {
    Ok(StoredConversation {
        id: text(row, "id")?,
        owner: parsed(row, "owner_id")?,
        entity_id: parsed(row, "entity_id")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
        pinned: int(row, "pinned")? != 0,
        sealed_title: row.try_get::<Vec<u8>, _>("sealed_title")?,
    })
}

fn message_row(row: &AnyRow) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        id: text(row, "id")?,
        conversation_id: text(row, "conversation_id")?,
        position: int(row, "position")?,
        role: text(row, "role")?,
        created_at: int(row, "created_at")?,
        request_id: opt_text(row, "request_id")?,
        sealed: row.try_get::<Vec<u8>, _>("sealed")?,
    })
}
