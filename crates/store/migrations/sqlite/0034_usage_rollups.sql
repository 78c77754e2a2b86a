-- Hourly roll-ups of usage records (`reporting.rs`, `rollups.rs`), kept when raw records are
-- deleted. One row per closed hour (its start, UTC milliseconds) and combination of the
-- dimensions that reports, chargeback and entity budgets group by; users and keys are left out so
-- that an hour holds as many rows as combinations of entity, team, model, use case, endpoint and
-- error code seen in it, whatever the number of people.
CREATE TABLE usage_hourly (
    hour          BIGINT NOT NULL,
    entity_id     TEXT,
    team_id       TEXT,
    model         TEXT NOT NULL,
    use_case      TEXT,
    endpoint      TEXT,
    error_code    TEXT,
    requests      BIGINT NOT NULL,
    input_tokens  BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_micros   BIGINT NOT NULL,
    errors        BIGINT NOT NULL,
    cache_hits    BIGINT NOT NULL
);
CREATE INDEX usage_hourly_hour ON usage_hourly (hour);
CREATE INDEX usage_hourly_entity ON usage_hourly (entity_id, hour);

-- The latency histograms of successful requests per hour, entity, model and endpoint: `latency`
-- is `duration` or `ttft`, `upper_ms` the upper bound (inclusive) of a fixed bucket at most 10 %
-- wider than its lower bound, `requests` the count in it. Only non-empty buckets have a row.
CREATE TABLE latency_hourly (
    hour      BIGINT NOT NULL,
    entity_id TEXT,
    model     TEXT NOT NULL,
    endpoint  TEXT,
    latency   TEXT NOT NULL,
    upper_ms  BIGINT NOT NULL,
    requests  BIGINT NOT NULL
);
CREATE INDEX latency_hourly_hour ON latency_hourly (hour);
CREATE INDEX latency_hourly_entity ON latency_hourly (entity_id, hour);

-- Daily roll-ups, summed from the hourly ones, per day of the group's time zone (`day` its first
-- instant, `day_end` the next day's; 23 to 25 hours across daylight-saving changes): what month
-- long reports read. `usage_days` lists the days rolled up; a day whose hours are rolled up again
-- (a late record) leaves it until the day is rolled up again.
CREATE TABLE usage_daily (
    day           BIGINT NOT NULL,
    entity_id     TEXT,
    team_id       TEXT,
    model         TEXT NOT NULL,
    use_case      TEXT,
    endpoint      TEXT,
    error_code    TEXT,
    requests      BIGINT NOT NULL,
    input_tokens  BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_micros   BIGINT NOT NULL,
    errors        BIGINT NOT NULL,
    cache_hits    BIGINT NOT NULL
);
CREATE INDEX usage_daily_day ON usage_daily (day);
CREATE INDEX usage_daily_entity ON usage_daily (entity_id, day);

CREATE TABLE latency_daily (
    day       BIGINT NOT NULL,
    entity_id TEXT,
    model     TEXT NOT NULL,
    endpoint  TEXT,
    latency   TEXT NOT NULL,
    upper_ms  BIGINT NOT NULL,
    requests  BIGINT NOT NULL
);
CREATE INDEX latency_daily_day ON latency_daily (day);
CREATE INDEX latency_daily_entity ON latency_daily (entity_id, day);

CREATE TABLE usage_days (
    day     BIGINT PRIMARY KEY,
    day_end BIGINT NOT NULL
);

-- `rolled_up`: every hour before `through` is rolled up. `raw_deleted`: raw records before
-- `through` are deleted (never past `rolled_up`), so those hours are never rolled up again.
CREATE TABLE usage_rollup_marks (
    name    TEXT PRIMARY KEY,
    through BIGINT NOT NULL
);

-- (On PostgreSQL this migration also partitions `usage_records` by month; an embedded SQLite
-- database deletes raw records hour by hour.)
