-- The users directory searched at 100,000 users, SQLite dialect (kept identical to
-- ../postgres/0027_user_search.sql but for the collation). Each searched attribute gets a copy folded
-- by Fabrique (`store::search_fold`: lower case, accents removed, so "heloise" finds "Héloïse"),
-- matched by prefix with a range on its own index; the copies of rows written before this
-- migration are filled by the store at start. The directory is paged by the folded user name,
-- within an entity or across all.
ALTER TABLE users ADD COLUMN user_name_search TEXT;
ALTER TABLE users ADD COLUMN display_name_search TEXT;
ALTER TABLE users ADD COLUMN email_search TEXT;
CREATE INDEX users_user_name_search ON users (user_name_search) WHERE deleted_at IS NULL;
CREATE INDEX users_display_name_search ON users (display_name_search) WHERE deleted_at IS NULL;
CREATE INDEX users_email_search ON users (email_search) WHERE deleted_at IS NULL;
CREATE INDEX users_entity_user_name ON users (entity_id, user_name_folded) WHERE deleted_at IS NULL;
