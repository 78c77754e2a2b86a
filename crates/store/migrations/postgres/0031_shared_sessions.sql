-- Web sessions and sign-ins in progress, shared by every replica, so a browser may land on any of
-- them. A session is stored by the SHA-256 of its cookie's secret, never the secret; it ends at
-- `ended_at` (sign-out, revocation) or at the first of `ends_at` and `last_seen_at + idle_millis`.
-- Ended and expired rows are deleted a day after `ends_at`. Replicas keep the sessions they served
-- in memory: ending one notifies `sessions`, and each replica forgets what ended.
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

-- A sign-in with the identity provider between `/auth/login` and its callback: the browser's flow
-- cookie holds a random secret, stored here by its SHA-256 with the flow's state, nonce and PKCE
-- verifier. The callback takes the row once, and only with the state the provider sends back.
CREATE TABLE sign_in_flows (
    hash          TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX sign_in_flows_expiry ON sign_in_flows (expires_at);

-- Only an ending notifies (PostgreSQL sends one notice per transaction): a new session is read
-- by the replica that first sees its cookie, and the purge deletes only what has expired anyway.
CREATE TRIGGER web_sessions_ended
    AFTER UPDATE OF ended_at ON web_sessions FOR EACH ROW
    WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL)
    EXECUTE FUNCTION fabrique_change_notice('sessions');

-- A user renamed, suspended, moved, deleted, or whose entity is suspended, loses their sessions,
-- whichever replica or path made the change.
CREATE FUNCTION fabrique_end_sessions_of_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE web_sessions SET ended_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint
        WHERE user_id = OLD.id AND ended_at IS NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_end_sessions
    AFTER UPDATE OF entity_id, user_name, status, deleted_at ON users FOR EACH ROW
    WHEN (NEW.status <> 'active' OR NEW.deleted_at IS NOT NULL
          OR NEW.user_name IS DISTINCT FROM OLD.user_name
          OR NEW.entity_id IS DISTINCT FROM OLD.entity_id)
    EXECUTE FUNCTION fabrique_end_sessions_of_user();
CREATE TRIGGER users_deleted_end_sessions
    AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION fabrique_end_sessions_of_user();

CREATE FUNCTION fabrique_end_sessions_of_entity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE web_sessions SET ended_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint
        WHERE ended_at IS NULL
          AND user_id IN (SELECT id FROM users WHERE entity_id = NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER entities_end_sessions
    AFTER UPDATE OF status ON entities FOR EACH ROW WHEN (NEW.status <> 'active')
    EXECUTE FUNCTION fabrique_end_sessions_of_entity();
