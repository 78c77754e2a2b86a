-- A key's default data classification (a level name of the configured ladder): every request made
-- with the key is classified at least this high. NULL: no default of its own.
ALTER TABLE api_keys ADD COLUMN classification TEXT;
