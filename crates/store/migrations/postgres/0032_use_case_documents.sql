-- Documents attached to a use case (its impact assessment, a DPIA, a model card…): each with its
-- name, media type, size, SHA-256 and who uploaded it when, and its bytes, kept in the database
-- with the registry they document (the admin API bounds their size), so a backup of the
-- database holds the register and its evidence together. The same SQL in both dialects but for
-- the bytes' type.
CREATE TABLE use_case_documents (
    id          TEXT PRIMARY KEY,
    use_case    TEXT NOT NULL REFERENCES use_cases (slug),
    filename    TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    bytes       BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    content     BYTEA NOT NULL
);
CREATE INDEX use_case_documents_by_use_case ON use_case_documents (use_case, uploaded_at);
