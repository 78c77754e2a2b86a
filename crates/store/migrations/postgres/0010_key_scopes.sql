-- Complete API keys. `models`: the public model names the key may use, one per line (NULL: every
-- model its entity may use). `expires_at`: from then on the key is refused. `priority`: the key's
-- scheduling class (interactive, standard, batch; NULL: standard). `rotated_from`: the key this one
-- replaced. `last_used_at`: the minute of the last successful authentication, flushed in batches.
ALTER TABLE api_keys ADD COLUMN models TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN priority TEXT;
ALTER TABLE api_keys ADD COLUMN rotated_from TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
CREATE INDEX api_keys_rotated_from ON api_keys (rotated_from);
