-- The AI Factory's registry: use cases (their definition as JSON, owned by an entity or by the
-- group), their numbered versions with their lifecycle state and rollout weight, the approvals a
-- version received (each naming the evaluation run it relied on), evaluation suites (JSONL,
-- one revision per upload), evaluation runs and their per-case results, callers' feedback on
-- answers, and the use-case version on usage records.
CREATE TABLE use_cases (
    slug            TEXT PRIMARY KEY,
    owner_entity_id TEXT REFERENCES entities (id),
    definition      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE use_case_versions (
    use_case         TEXT NOT NULL REFERENCES use_cases (slug),
    number           BIGINT NOT NULL,
    state            TEXT NOT NULL,
    spec             TEXT NOT NULL,
    digest           TEXT NOT NULL,
    weight           BIGINT NOT NULL,
    rollout_entities TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (use_case, number)
);

CREATE TABLE use_case_approvals (
    use_case    TEXT NOT NULL,
    number      BIGINT NOT NULL,
    approver    TEXT NOT NULL,
    group_level BIGINT NOT NULL,
    eval_run    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    FOREIGN KEY (use_case, number) REFERENCES use_case_versions (use_case, number)
);

CREATE TABLE eval_suites (
    use_case   TEXT NOT NULL REFERENCES use_cases (slug),
    name       TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    cases      TEXT NOT NULL,
    case_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (use_case, name, revision)
);

CREATE TABLE eval_runs (
    id             TEXT PRIMARY KEY,
    use_case       TEXT NOT NULL REFERENCES use_cases (slug),
    version        BIGINT NOT NULL,
    digest         TEXT NOT NULL,
    suite          TEXT NOT NULL,
    suite_revision BIGINT NOT NULL,
    status         TEXT NOT NULL,
    cases          BIGINT NOT NULL,
    done           BIGINT NOT NULL,
    summary        TEXT,
    started_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    finished_at    BIGINT
);

CREATE INDEX eval_runs_by_version ON eval_runs (use_case, version, suite);

CREATE TABLE eval_results (
    run_id  TEXT NOT NULL REFERENCES eval_runs (id),
    case_id TEXT NOT NULL,
    passed  BIGINT NOT NULL,
    result  TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id)
);

CREATE TABLE feedback (
    request_id TEXT NOT NULL,
    actor      TEXT NOT NULL,
    entity_id  TEXT,
    rating     TEXT NOT NULL,
    comment    TEXT,
    at         BIGINT NOT NULL,
    PRIMARY KEY (request_id, actor)
);

ALTER TABLE usage_records ADD COLUMN use_case_version BIGINT;

CREATE INDEX usage_records_by_use_case ON usage_records (use_case, use_case_version, started_at);
