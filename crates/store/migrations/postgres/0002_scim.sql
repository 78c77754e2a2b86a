-- SCIM provisioning, PostgreSQL dialect. Kept column for column identical to ../sqlite/0002_scim.sql.
--
-- users gains what SCIM needs: case-folded copies of the attributes filtered case-insensitively
-- (folded by Fabrique, not by the database, so both dialects compare the same way), the SCIM
-- attributes Fabrique keeps without modelling them (a JSON object in text form), a version for
-- ETags, the time of the last change, and a soft-delete mark. A deleted user's userName is free
-- again: uniqueness holds among users that are not deleted, case-insensitively.
ALTER TABLE users DROP CONSTRAINT users_user_name_key;
ALTER TABLE users ADD COLUMN user_name_folded TEXT;
ALTER TABLE users ADD COLUMN email_folded TEXT;
ALTER TABLE users ADD COLUMN display_name_folded TEXT;
ALTER TABLE users ADD COLUMN attributes TEXT;
ALTER TABLE users ADD COLUMN updated_at BIGINT;
ALTER TABLE users ADD COLUMN version BIGINT;
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
UPDATE users SET user_name_folded = lower(user_name), email_folded = lower(email),
    display_name_folded = lower(display_name), attributes = '{}', updated_at = created_at, version = 1;
ALTER TABLE users ALTER COLUMN user_name_folded SET NOT NULL;
ALTER TABLE users ALTER COLUMN email_folded SET NOT NULL;
ALTER TABLE users ALTER COLUMN attributes SET NOT NULL;
ALTER TABLE users ALTER COLUMN updated_at SET NOT NULL;
ALTER TABLE users ALTER COLUMN version SET NOT NULL;
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
