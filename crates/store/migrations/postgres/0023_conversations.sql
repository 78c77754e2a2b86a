-- The chat's conversations, kept for entities whose retention is `full`: one row per
-- conversation and one per message, never one document per conversation, so a long conversation
-- costs a message's row to continue. Titles and messages are sealed under the owner's content key
-- (`content_keys`, migration 0011): erasing the user destroys that key and deletes these rows.
CREATE TABLE conversations (
    id           TEXT PRIMARY KEY,
    owner_id     TEXT NOT NULL,
    entity_id    TEXT NOT NULL REFERENCES entities (id),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    pinned       BIGINT NOT NULL,
    sealed_title BYTEA NOT NULL
);
CREATE INDEX conversations_owner_updated ON conversations (owner_id, updated_at);

CREATE TABLE conversation_messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    position        BIGINT NOT NULL,
    role            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    request_id      TEXT,
    sealed          BYTEA NOT NULL,
    UNIQUE (conversation_id, position)
);
