-- Erasure tombstones: when each owner's content was erased. Content captured at or before that
-- instant (a stream still running at the erasure, a batch in flight) is never written afterwards.
CREATE TABLE content_erasures (
    owner_kind TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    erased_at  BIGINT NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);
