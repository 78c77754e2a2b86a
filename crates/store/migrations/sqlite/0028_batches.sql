-- Batches (`/v1/batches`, Mistral's `/v1/batch/jobs`): one row each, with what the runner needs
-- to resume after a restart. A batch runs as its submitter (the key they submitted with, or the
-- signed-in user), so it is charged to them; its lines' results are appended to two spool files
-- whose committed lengths are kept here with the first line not yet done (`next_line`): the lines
-- before it are done exactly once, the ones after it are run after a restart. The same SQL in
-- both dialects.
CREATE TABLE batches (
    id                TEXT PRIMARY KEY,
    entity_id         TEXT REFERENCES entities (id),
    owner_kind        TEXT NOT NULL,
    owner_id          TEXT NOT NULL,
    -- NULL: submitted by a signed-in user without a key.
    key_id            TEXT,
    -- `openai` or `mistral`: the shape the batch is shown in.
    shape             TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    -- Mistral's jobs name the model for every line.
    model             TEXT,
    input_file_id     TEXT NOT NULL,
    completion_window TEXT NOT NULL,
    status            TEXT NOT NULL,
    use_case          TEXT,
    label             TEXT,
    metadata          TEXT,
    errors            TEXT,
    total             BIGINT NOT NULL,
    completed         BIGINT NOT NULL,
    failed            BIGINT NOT NULL,
    next_line         BIGINT NOT NULL,
    output_bytes      BIGINT NOT NULL,
    error_bytes       BIGINT NOT NULL,
    output_file_id    TEXT,
    error_file_id     TEXT,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    in_progress_at    BIGINT,
    finalizing_at     BIGINT,
    completed_at      BIGINT,
    failed_at         BIGINT,
    expired_at        BIGINT,
    cancelling_at     BIGINT,
    cancelled_at      BIGINT
);
CREATE INDEX batches_owner ON batches (owner_kind, owner_id, id);
CREATE INDEX batches_status ON batches (status, created_at);
