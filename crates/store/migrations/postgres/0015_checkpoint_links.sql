-- Checkpoints name the checkpoint before them (the digest of its signed bytes, hex), so that a
-- deleted checkpoint breaks the next one's link. NULL for checkpoints signed before this migration.
-- Kept column for column identical to ../sqlite/0015_checkpoint_links.sql.
ALTER TABLE audit_checkpoints ADD COLUMN previous TEXT;
