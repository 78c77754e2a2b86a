-- Whether a request was answered from the response cache: no backend was asked, and the record
-- holds no tokens and no cost. Older records were all answered by a backend.
ALTER TABLE usage_records ADD COLUMN cache_hit BIGINT NOT NULL DEFAULT 0;
