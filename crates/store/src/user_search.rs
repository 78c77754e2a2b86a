//! The users directory as administrators browse it at 100,000 users: searched by the start of
//! any word of a user name, display name or e-mail address ("dupont" finds "Héloïse Dupont",
//! "example" finds "ada@example.com"), whatever the case and accents, and paged by a cursor, so
//! the thousandth page costs what the first does.
//!
//! The searched words are rows of `user_search_words` (migration 0033), written with the user in
//! the same transaction (`provisioning.rs`, [`write_search_words`]): one for every place a word
//! starts in the attributes folded by [`search_fold`], holding the text from there on, so a
//! search may run across words ("dupont h", "lovelace@exa"). A prefix is matched as the range
//! `[prefix, prefix + U+10FFFF)` on the table's primary key, compared byte for byte (SQLite's
//! binary collation, PostgreSQL's `"C"`). Starts of words only, not any substring: every suffix
//! would be a row per character. Pages follow the folded user name, unique among live users: a
//! page starts after the last name of the previous one.

use std::collections::BTreeSet;

use domain::{EntityId, User};
use sqlx::{AnyConnection, AnyPool};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::multi_row::{MultiRowInsert, add};
use crate::provisioning::user_row;
use crate::{Backend, Store, StoreError, fold};

/// What a search of the directory asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSearch {
    /// Only this entity's users; `None`: every entity's.
    pub entity: Option<EntityId>,
    /// The start of a user name, display name or e-mail address (folded here); `None` or
    /// blank: every user.
    pub query: Option<String>,
    /// The cursor: users whose folded user name comes after this one (the last of the previous
    /// page).
    pub after: Option<String>,
    /// Rows to skip before the page (the offset paging older clients use); 0 with a cursor.
    pub offset: u64,
    /// The most rows to return.
    pub limit: u64,
}

/// How searched text is compared: lower case, without accents or other combining marks
/// (compatibility decomposition, then the marks dropped), so "Heloise", "héloïse" and "HÉLOÏSE"
/// are one.
pub fn search_fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The longest text a word row holds, in characters: a search longer than that is matched on
/// its start, so a row stays small whatever a name's length.
const WORD_CHARS: usize = 64;

/// The rows a user is found by: from every start of a word (a letter or digit after anything
/// else, or the text's first character) of each attribute, folded, to the attribute's end (at
/// most [`WORD_CHARS`]).
pub fn search_words(user_name: &str, display_name: Option<&str>, email: &str) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for text in [Some(user_name), display_name, Some(email)]
        .into_iter()
        .flatten()
    {
        let folded = search_fold(text);
        let mut previous: Option<char> = None;
        for (at, c) in folded.char_indices() {
            let starts = match previous {
                None => true,
                Some(p) => c.is_alphanumeric() && !p.is_alphanumeric(),
            };
            if starts {
                words.insert(folded[at..].chars().take(WORD_CHARS).collect());
            }
            previous = Some(c);
        }
    }
    words
}

/// Replaces user `user_id`'s search rows with those of these attributes, on the caller's transaction.
pub(crate) async fn write_search_words(
    conn: &mut AnyConnection,
    user_id: &str,
    (user_name, display_name, email): (&str, Option<&str>, &str),
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM user_search_words WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let rows: Vec<(String, &str)> = search_words(user_name, display_name, email)
        .into_iter()
        .map(|word| (word, user_id))
        .collect();
    insert_words(conn, &rows).await
}

static WORDS_INSERT: MultiRowInsert =
    MultiRowInsert::new("user_search_words", &["word", "user_id"]);

/// Inserts `(word, user id)` rows, many a statement.
async fn insert_words(conn: &mut AnyConnection, rows: &[(String, &str)]) -> Result<(), StoreError> {
    let backend = Backend::of(conn);
    WORDS_INSERT
        .execute(conn, backend, rows, |arguments, (word, user_id)| {
            add(arguments, word.as_str())?;
            add(arguments, *user_id)
        })
        .await
}

/// The cursor of a page that ends with `user`: the key the next page starts after.
pub fn cursor_of(user: &User) -> String {
    fold(&user.user_name)
}

impl Store {
    /// The users `search` selects, by folded user name; deleted users are never listed.
    pub async fn search_users(&self, search: &UserSearch) -> Result<Vec<User>, StoreError> {
        let mut conditions = vec!["deleted_at IS NULL".to_owned()];
        let mut binds: Vec<String> = Vec::new();
        let placeholder = |value: String, binds: &mut Vec<String>| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Some(entity) = search.entity {
            conditions.push(format!(
                "entity_id = {}",
                placeholder(entity.to_string(), &mut binds)
            ));
        }
        let prefix = search
            .query
            .as_deref()
            .map(search_fold)
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty());
        if let Some(prefix) = prefix {
            let prefix: String = prefix.chars().take(WORD_CHARS).collect();
            let from = placeholder(prefix.clone(), &mut binds);
            let to = placeholder(format!("{prefix}\u{10FFFF}"), &mut binds);
            conditions.push(format!(
                "id IN (SELECT user_id FROM user_search_words WHERE word >= {from} AND word < {to})"
            ));
        }
        if let Some(after) = &search.after {
            conditions.push(format!(
                "user_name_folded > {}",
                placeholder(after.clone(), &mut binds)
            ));
        }
        let sql = format!(
            "SELECT id, entity_id, user_name, email, display_name, external_id, status, created_at \
             FROM users WHERE {} ORDER BY user_name_folded LIMIT {} OFFSET {}",
            conditions.join(" AND "),
            search.limit.min(i64::MAX as u64),
            search.offset.min(i64::MAX as u64),
        );
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = query.bind(bind);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(user_row).collect()
    }
}

/// Users whose search rows the start fills in one transaction.
const FILL_BATCH: i64 = 1_000;

/// Writes the search rows of users written before they existed (migration 0033), a thousand
/// users at a time in a few multi-row statements, walking the users by id so that each batch
/// starts where the last ended; nothing to do on later starts (every live user has a row: their
/// user name's start).
pub(crate) async fn fill_search_words(pool: &AnyPool) -> Result<(), StoreError> {
    let mut after = String::new();
    loop {
        let users: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, user_name, display_name, email FROM users u WHERE id > $1 \
             AND deleted_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM user_search_words w WHERE w.user_id = u.id) \
             ORDER BY id LIMIT $2",
        )
        .bind(after.as_str())
        .bind(FILL_BATCH)
        .fetch_all(pool)
        .await?;
        let Some((last, ..)) = users.last() else {
            return Ok(());
        };
        after = last.clone();
        let rows: Vec<(String, &str)> = users
            .iter()
            .flat_map(|(id, user_name, display_name, email)| {
                search_words(user_name, display_name.as_deref(), email)
                    .into_iter()
                    .map(move |word| (word, id.as_str()))
            })
            .collect();
        let mut tx = pool.begin().await?;
        insert_words(&mut tx, &rows).await?;
        tx.commit().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::{search_fold, search_words};

    #[test]
    fn case_and_accents_fold_away() {
        assert_eq!(search_fold("Héloïse"), "heloise");
        assert_eq!(search_fold("HÉLOÏSE Dupont-Émile"), "heloise dupont-emile");
        assert_eq!(search_fold("ﬁlière Ça"), "filiere ca");
        assert_eq!(search_fold("ada@example.com"), "ada@example.com");
    }

    #[test]
    fn every_word_start_is_found_not_the_inside_of_a_word() {
        let words = search_words(
            "hdupont",
            Some("Héloïse Dupont-Émile"),
            "h.dupont@example.com",
        );
        let expected = [
            "dupont-emile",
            "dupont@example.com",
            "emile",
            "com",
            "example.com",
            "h.dupont@example.com",
            "hdupont",
            "heloise dupont-emile",
        ];
        assert_eq!(words, expected.map(String::from).into_iter().collect());
    }

    #[test]
    fn a_long_name_is_kept_to_its_start() {
        let long = "a".repeat(500);
        let words = search_words(&long, None, "x@y");
        assert!(words.iter().all(|w| w.chars().count() <= super::WORD_CHARS));
        assert!(words.contains(&"a".repeat(super::WORD_CHARS)));
    }
}
