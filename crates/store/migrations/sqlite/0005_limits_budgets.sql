-- Rate limits and budgets as administrators set them, per scope (`key`, `user`, `team`, `entity` and
-- the scope's id). Loaded into the in-memory admission table at start; the spent amounts are not
-- stored here but recomputed from usage_records, which are the durable truth.
CREATE TABLE rate_limits (
    scope_kind          TEXT NOT NULL,
    scope_id            TEXT NOT NULL,
    requests_per_minute BIGINT,
    tokens_per_minute   BIGINT,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (scope_kind, scope_id)
);

CREATE TABLE budgets (
    scope_kind             TEXT NOT NULL,
    scope_id               TEXT NOT NULL,
    period                 TEXT NOT NULL,
    unit                   TEXT NOT NULL,
    hard_limit             BIGINT NOT NULL,
    soft_threshold_percent BIGINT,
    -- When an administrator last reset the scope's spending: usage before it no longer counts.
    reset_at               BIGINT,
    updated_at             BIGINT NOT NULL,
    PRIMARY KEY (scope_kind, scope_id, period, unit)
);

CREATE INDEX usage_records_user ON usage_records (user_id, started_at);
CREATE INDEX usage_records_key ON usage_records (key_id, started_at);
