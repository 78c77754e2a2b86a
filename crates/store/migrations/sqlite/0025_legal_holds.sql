-- Legal holds (`/admin/v1/legal-holds`): while a hold on a user, or on their whole entity, is
-- active (not lifted), their stored content is neither erased nor purged. A lifted hold stays, with
-- who lifted it and when. The same SQL in both dialects.
CREATE TABLE legal_holds (
    id             TEXT PRIMARY KEY,
    entity_id      TEXT NOT NULL REFERENCES entities (id),
    -- NULL: the hold covers every user and service account of the entity.
    user_id        TEXT REFERENCES users (id),
    reason         TEXT NOT NULL,
    case_reference TEXT NOT NULL,
    placed_by      TEXT NOT NULL,
    placed_at      BIGINT NOT NULL,
    lifted_by      TEXT,
    lifted_at      BIGINT
);
CREATE INDEX legal_holds_active ON legal_holds (entity_id, user_id) WHERE lifted_at IS NULL;
