-- The knowledge libraries' change log, so that a replica brings its index in line with the store
-- by reading what changed since its last sync rather than every document: one row per document
-- added or deleted (a library's deletion writes one for each of its documents), numbered in
-- commit order (writers take a lock before numbering, held until commit). Rows older than a day
-- are pruned; `pruned_through` is the highest number pruned, so that a replica whose cursor is
-- older does the full comparison instead.
CREATE TABLE library_changes (
    seq         BIGSERIAL PRIMARY KEY,
    document_id TEXT NOT NULL,
    library_id  TEXT NOT NULL,
    change      TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX library_changes_at ON library_changes (at);
CREATE TABLE library_changes_pruned (
    pruned_through BIGINT NOT NULL
);
INSERT INTO library_changes_pruned (pruned_through) VALUES (0);
