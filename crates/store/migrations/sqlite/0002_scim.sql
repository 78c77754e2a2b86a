-- SCIM provisioning, SQLite dialect. Kept column for column identical to ../postgres/0002_scim.sql.
--
-- users gains what SCIM needs: case-folded copies of the attributes filtered case-insensitively
-- (folded by Fabrique, not by the database, so both dialects compare the same way), the SCIM
-- attributes Fabrique keeps without modelling them (a JSON object in text form), a version for
-- ETags, the time of the last change, and a soft-delete mark. A deleted user's userName is free
-- again: uniqueness holds among users that are not deleted, case-insensitively.
--
-- SQLite cannot drop the old inline UNIQUE (user_name), so the table is rebuilt. Nothing refers to
-- users by foreign key yet (API keys name their owner polymorphically).
CREATE TABLE users_scim (
    id                  TEXT PRIMARY KEY,
    entity_id           TEXT NOT NULL REFERENCES entities (id),
    user_name           TEXT NOT NULL,
    email               TEXT NOT NULL,
    display_name        TEXT,
    external_id         TEXT,
    status              TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    user_name_folded    TEXT NOT NULL,
    email_folded        TEXT NOT NULL,
    display_name_folded TEXT,
    attributes          TEXT NOT NULL,
    updated_at          BIGINT NOT NULL,
    version             BIGINT NOT NULL,
    deleted_at          BIGINT
);
INSERT INTO users_scim
SELECT id, entity_id, user_name, email, display_name, external_id, status, created_at,
       lower(user_name), lower(email), lower(display_name), '{}', created_at, 1, NULL
FROM users;
DROP TABLE users;
ALTER TABLE users_scim RENAME TO users;
CREATE INDEX users_entity ON users (entity_id);
CREATE UNIQUE INDEX users_user_name_live ON users (user_name_folded) WHERE deleted_at IS NULL;
CREATE INDEX users_external_id ON users (external_id);
CREATE INDEX users_email ON users (email_folded);
CREATE INDEX users_display_name ON users (display_name_folded);

-- Teams: groups of users inside one entity (SCIM Groups).
CREATE TABLE teams (
    id                  TEXT PRIMARY KEY,
    entity_id           TEXT NOT NULL REFERENCES entities (id),
    display_name        TEXT NOT NULL,
    display_name_folded TEXT NOT NULL,
    external_id         TEXT,
    attributes          TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    version             BIGINT NOT NULL
);
CREATE INDEX teams_entity ON teams (entity_id);
CREATE INDEX teams_display_name ON teams (display_name_folded);
CREATE INDEX teams_external_id ON teams (external_id);

CREATE TABLE team_members (
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- SCIM bearer tokens: only the SHA-256 of the secret is kept.
CREATE TABLE scim_tokens (
    id             TEXT PRIMARY KEY,
    name           TEXT,
    entity_id      TEXT REFERENCES entities (id),
    hash           TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);
