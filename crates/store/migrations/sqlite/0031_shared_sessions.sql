-- Web sessions and sign-ins in progress, kept in the database so that a restart signs nobody out
-- and, on PostgreSQL, any replica serves them. A session is stored by the SHA-256 of its cookie's
-- secret, never the secret; it ends at `ended_at` (sign-out, revocation) or at the first of
-- `ends_at` and `last_seen_at + idle_millis`. Ended and expired rows are deleted a day after
-- `ends_at`. The same tables as PostgreSQL's; no change notice (one process).
CREATE TABLE web_sessions (
    id           TEXT PRIMARY KEY,
    hash         TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL,
    method       TEXT NOT NULL,
    -- The identity provider's roles (JSON), held until `roles_until`.
    roles        TEXT NOT NULL,
    roles_until  BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    ends_at      BIGINT NOT NULL,
    idle_millis  BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ended_at     BIGINT
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_ends ON web_sessions (ends_at);
CREATE INDEX web_sessions_ended ON web_sessions (ended_at) WHERE ended_at IS NOT NULL;

-- A sign-in with the identity provider between `/auth/login` and its callback (see PostgreSQL's
-- migration 0031).
CREATE TABLE sign_in_flows (
    hash          TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX sign_in_flows_expiry ON sign_in_flows (expires_at);

-- A user renamed, suspended, moved, deleted, or whose entity is suspended, loses their sessions,
-- whatever path made the change.
CREATE TRIGGER users_end_sessions
    AFTER UPDATE OF entity_id, user_name, status, deleted_at ON users FOR EACH ROW
    WHEN NEW.status <> 'active' OR NEW.deleted_at IS NOT NULL
         OR NEW.user_name IS NOT OLD.user_name OR NEW.entity_id IS NOT OLD.entity_id
BEGIN
    UPDATE web_sessions SET ended_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        WHERE user_id = OLD.id AND ended_at IS NULL;
END;
CREATE TRIGGER users_deleted_end_sessions AFTER DELETE ON users FOR EACH ROW
BEGIN
    UPDATE web_sessions SET ended_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        WHERE user_id = OLD.id AND ended_at IS NULL;
END;
CREATE TRIGGER entities_end_sessions
    AFTER UPDATE OF status ON entities FOR EACH ROW WHEN NEW.status <> 'active'
BEGIN
    UPDATE web_sessions SET ended_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        WHERE ended_at IS NULL AND user_id IN (SELECT id FROM users WHERE entity_id = NEW.id);
END;
