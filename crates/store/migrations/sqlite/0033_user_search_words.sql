-- The users directory searched from the start of any word, SQLite dialect (kept
-- identical to ../postgres/0033_user_search_words.sql but for the collation): "dupont" finds
-- "Héloïse Dupont", "example" finds "ada@example.com". Each user has a row for every place a
-- word starts in their folded user name, display name and e-mail address (`store::search_fold`),
-- holding the text from there on (about 8 rows a user), matched by prefix as a range on the
-- primary key. The folded copies of migration 0027, which only matched the whole text's start,
-- give way to these; the rows of users written before this migration are filled at start.
CREATE TABLE user_search_words (
    word TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (word, user_id)
);
CREATE INDEX user_search_words_user ON user_search_words (user_id);
DROP INDEX users_user_name_search;
DROP INDEX users_display_name_search;
DROP INDEX users_email_search;
ALTER TABLE users DROP COLUMN user_name_search;
ALTER TABLE users DROP COLUMN display_name_search;
ALTER TABLE users DROP COLUMN email_search;
