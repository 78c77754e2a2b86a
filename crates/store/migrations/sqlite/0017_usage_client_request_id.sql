-- The caller's own id for a request, kept beside the server's `request_id`, which is now always
-- the server's. Older records hold the caller's id, when it sent one, in `request_id`.
ALTER TABLE usage_records ADD COLUMN client_request_id TEXT;
