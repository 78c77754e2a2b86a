-- Keys whose secret an operator chose (the bootstrap administrator's `FABRIQUE_ADMIN_KEY`) keep
-- its Argon2id hash (a PHC string, salted), verified once at start; their `hash` column holds the
-- SHA-256 of a random placeholder, so no fast hash of a human-chosen secret is ever stored. The
-- same SQL in both dialects.
ALTER TABLE api_keys ADD COLUMN secret_kdf TEXT;
