-- Chargeback attribution: the team a request is charged to (the user's first team by id) and the
-- use case the caller named (`x-fabrique-use-case`). Both stay NULL for older records.
ALTER TABLE usage_records ADD COLUMN team_id TEXT;
ALTER TABLE usage_records ADD COLUMN use_case TEXT;
-- A team's spending (budgets recomputed at start) and a team's usage over a period.
CREATE INDEX usage_records_team ON usage_records (team_id, started_at);
