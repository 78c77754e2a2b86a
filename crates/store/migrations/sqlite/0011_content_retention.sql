-- Prompt and completion content kept for entities whose retention is `full`, encrypted.
-- Key hierarchy: the master key (configuration, never stored) wraps each entity's data key; the
-- data key wraps each owner's (user's or service account's) content key; the content key seals
-- each record. Destroying a content key (erasure) leaves its records unreadable.
CREATE TABLE entity_data_keys (
    entity_id  TEXT PRIMARY KEY REFERENCES entities (id),
    wrapped    BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE content_keys (
    owner_kind TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    entity_id  TEXT NOT NULL REFERENCES entities (id),
    wrapped    BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);

-- One request's content. Metadata (who, when, which model) is in clear; `sealed` holds the
-- input and completion, bound to this row's id, entity and owner.
CREATE TABLE content_records (
    id         TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    entity_id  TEXT NOT NULL,
    owner_kind TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    operation  TEXT NOT NULL,
    model      TEXT NOT NULL,
    sealed     BLOB NOT NULL
);
CREATE INDEX content_records_entity_created ON content_records (entity_id, created_at);
CREATE INDEX content_records_owner_created ON content_records (owner_kind, owner_id, created_at);
