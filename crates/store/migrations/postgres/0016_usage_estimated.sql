-- Whether a record's token counts are the gateway's estimate (the prompt's estimate and the
-- completion relayed) rather than the backend's counts: a stream cut before its usage chunk, an
-- answer from a backend that reports no usage. Older records hold the backend's counts (or zero).
ALTER TABLE usage_records ADD COLUMN usage_estimated BIGINT NOT NULL DEFAULT 0;
