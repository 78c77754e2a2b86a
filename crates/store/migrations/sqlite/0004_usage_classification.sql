-- Sovereignty reporting: each request's data classification (a level name of the configured ladder)
-- and the hosting of the endpoint that answered it.
ALTER TABLE usage_records ADD COLUMN classification TEXT;
ALTER TABLE usage_records ADD COLUMN hosting TEXT;
