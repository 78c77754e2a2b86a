-- Knowledge libraries (`/v1/libraries`): a library belongs to an entity (NULL: the group), with
-- its readers and editors as tags (`user:<id>`, `team:<id>`, `entity:<id>`, one a line), a
-- classification, a retention (days; NULL: kept until deleted) and the embedding model its
-- chunks were embedded with (NULL: full text only). A document's own readers (NULL: the
-- library's) narrow who may read it. Chunks keep the text the index was built from, so the index
-- can be rebuilt; deleting a document or a library deletes its rows, not a mark on them. The
-- same SQL in both dialects.
CREATE TABLE libraries (
    id              TEXT PRIMARY KEY,
    entity_id       TEXT REFERENCES entities (id),
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    classification  TEXT NOT NULL,
    retention_days  BIGINT,
    readers         TEXT NOT NULL,
    editors         TEXT NOT NULL,
    embedding_model TEXT,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX libraries_entity ON libraries (entity_id);
CREATE TABLE library_documents (
    id            TEXT PRIMARY KEY,
    library_id    TEXT NOT NULL REFERENCES libraries (id),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    pages         BIGINT NOT NULL,
    chunks        BIGINT NOT NULL,
    -- 1: a PDF without a text layer (a scan), listed but not searchable.
    scanned       BIGINT NOT NULL,
    -- What the personal-data policy did at ingestion: `none`, `flagged`, `redacted`.
    personal_data TEXT NOT NULL,
    readers       TEXT,
    added_by      TEXT NOT NULL,
    added_at      BIGINT NOT NULL
);
CREATE INDEX library_documents_library ON library_documents (library_id, added_at);
CREATE TABLE library_chunks (
    document_id TEXT NOT NULL REFERENCES library_documents (id),
    ordinal     BIGINT NOT NULL,
    page        BIGINT NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (document_id, ordinal)
);
