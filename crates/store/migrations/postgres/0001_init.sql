-- Fabrique's initial schema, PostgreSQL dialect. Kept column for column identical to
-- ../sqlite/0001_init.sql: ids are TEXT in their prefixed form (`ent_…`), times are BIGINT Unix
-- milliseconds, booleans are BIGINT 0/1 (one representation both drivers decode the same way).

CREATE TABLE entities (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    entity_id    TEXT NOT NULL REFERENCES entities (id),
    user_name    TEXT NOT NULL UNIQUE,
    email        TEXT NOT NULL,
    display_name TEXT,
    external_id  TEXT,
    status       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX users_entity ON users (entity_id);

CREATE TABLE service_accounts (
    id          TEXT PRIMARY KEY,
    entity_id   TEXT REFERENCES entities (id),
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (entity_id, name)
);
-- NULLs are distinct in UNIQUE constraints, so group-level accounts need their own index.
CREATE UNIQUE INDEX service_accounts_group_name ON service_accounts (name) WHERE entity_id IS NULL;

CREATE TABLE role_grants (
    principal_kind TEXT NOT NULL,
    principal_id   TEXT NOT NULL,
    role           TEXT NOT NULL,
    entity_id      TEXT REFERENCES entities (id),
    created_at     BIGINT NOT NULL
);
-- A grant is a set member: granting twice is a no-op (COALESCE because NULLs are distinct).
CREATE UNIQUE INDEX role_grants_unique
    ON role_grants (principal_kind, principal_id, role, COALESCE(entity_id, ''));

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    owner_kind     TEXT NOT NULL,
    owner_id       TEXT NOT NULL,
    entity_id      TEXT REFERENCES entities (id),
    name           TEXT,
    hash           TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX api_keys_entity ON api_keys (entity_id);
CREATE INDEX api_keys_owner ON api_keys (owner_kind, owner_id);

-- No foreign keys: usage is history and must outlive the keys and users it mentions.
CREATE TABLE usage_records (
    seq                BIGSERIAL PRIMARY KEY,
    request_id         TEXT NOT NULL,
    started_at         BIGINT NOT NULL,
    entity_id          TEXT,
    user_id            TEXT,
    service_account_id TEXT,
    key_id             TEXT,
    operation          TEXT NOT NULL,
    model              TEXT NOT NULL,
    endpoint           TEXT,
    stream             BIGINT NOT NULL,
    prompt_tokens      BIGINT NOT NULL,
    completion_tokens  BIGINT NOT NULL,
    cost_micros        BIGINT NOT NULL,
    ttft_ms            BIGINT,
    duration_ms        BIGINT NOT NULL,
    status             BIGINT NOT NULL,
    error_code         TEXT,
    attempts           BIGINT NOT NULL
);
CREATE INDEX usage_records_started_at ON usage_records (started_at);
CREATE INDEX usage_records_entity ON usage_records (entity_id, started_at);

-- A sequence never hands out a number twice.
CREATE TABLE audit_events (
    seq        BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    entity_id  TEXT,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
