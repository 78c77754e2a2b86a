-- Files uploaded through `/v1/files` (and batches' output and error files): their metadata; the
-- bytes themselves are kept outside the database (`[batches] files_dir`), one file per id. A file
-- belongs to its owner (a user or service account) in their entity, whose quota it counts
-- against. The same SQL in both dialects.
CREATE TABLE files (
    id          TEXT PRIMARY KEY,
    -- NULL: a group-level service account's file.
    entity_id   TEXT REFERENCES entities (id),
    owner_kind  TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    filename    TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    bytes       BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX files_owner ON files (owner_kind, owner_id, id);
CREATE INDEX files_entity ON files (entity_id);
