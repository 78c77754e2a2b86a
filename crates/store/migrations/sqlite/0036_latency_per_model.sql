-- The group-wide latency histograms per hour and per day and model (`rollups.rs`):
-- `latency_hourly` and `latency_daily` summed over entities and endpoints, each written and
-- deleted with its source in the same transaction, so the `rolled_up` mark and `usage_days`
-- govern both alike. What the console's percentiles per model read for a month: an hour or a day
-- holds a row per model, latency and non-empty bucket instead of one per entity and endpoint too.
CREATE TABLE latency_model_hourly (
    hour     BIGINT NOT NULL,
    model    TEXT NOT NULL,
    latency  TEXT NOT NULL,
    upper_ms BIGINT NOT NULL,
    requests BIGINT NOT NULL
);
CREATE INDEX latency_model_hourly_hour ON latency_model_hourly (hour);

CREATE TABLE latency_model_daily (
    day      BIGINT NOT NULL,
    model    TEXT NOT NULL,
    latency  TEXT NOT NULL,
    upper_ms BIGINT NOT NULL,
    requests BIGINT NOT NULL
);
CREATE INDEX latency_model_daily_day ON latency_model_daily (day);

-- The hours and days rolled up before these tables existed, from their rows per entity.
INSERT INTO latency_model_hourly (hour, model, latency, upper_ms, requests)
SELECT hour, model, latency, upper_ms, CAST(SUM(requests) AS BIGINT)
FROM latency_hourly GROUP BY hour, model, latency, upper_ms;

INSERT INTO latency_model_daily (day, model, latency, upper_ms, requests)
SELECT day, model, latency, upper_ms, CAST(SUM(requests) AS BIGINT)
FROM latency_daily GROUP BY day, model, latency, upper_ms;
