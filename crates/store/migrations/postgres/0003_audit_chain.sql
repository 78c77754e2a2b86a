-- The audit trail becomes a hash chain with signed checkpoints, PostgreSQL dialect. Kept column for
-- column identical to ../sqlite/0003_audit_chain.sql. The encoding is documented in `evidence`.

-- Hex SHA-256 links. NULL only for events stored before this migration, until Fabrique chains them
-- at its next start (SQL cannot compute SHA-256 in both dialects).
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;

-- The chain's newest link, one row. Every append first updates this row, which takes its write lock
-- and so puts concurrent appends in one line; the append then numbers its event `seq + 1` itself,
-- so numbers are dense and a missing number is a deleted event. `hash` is NULL until the events
-- stored before this migration are chained; `legacy_through` is the last of them (database
-- sequences may have skipped numbers there).
CREATE TABLE audit_chain_head (
    id             BIGINT PRIMARY KEY CHECK (id = 1),
    seq            BIGINT NOT NULL,
    hash           TEXT,
    event_count    BIGINT NOT NULL,
    legacy_through BIGINT NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash, event_count, legacy_through)
SELECT 1, COALESCE(MAX(seq), 0), NULL, COUNT(*), COALESCE(MAX(seq), 0) FROM audit_events;

-- Signed statements of the head: "after event_count events, event seq had hash head". One per
-- head; replicas that race to sign the same head keep the first.
CREATE TABLE audit_checkpoints (
    seq         BIGINT PRIMARY KEY,
    head        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    public_key  TEXT NOT NULL,
    signature   TEXT NOT NULL
);
