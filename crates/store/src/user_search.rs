//! The users directory as administrators browse it at 100,000 users: searched by the start of a
//! user name, display name or e-mail address, whatever the case and accents, and paged by a
//! cursor, so the thousandth page costs what the first does.
//!
//! Each searched attribute has a copy folded by [`search_fold`] (migration 0027), written with
//! the user (`provisioning.rs`); a prefix is matched as the range `[prefix, prefix + U+10FFFF)` on
//! that copy's index, compared byte for byte (SQLite's binary collation, PostgreSQL's `"C"`).
//! Pages follow the folded user name, unique among live users: a page starts after the last name
//! of the previous one.

use domain::{EntityId, User};
use sqlx::AnyPool;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::provisioning::user_row;
use crate::{Store, StoreError, fold};

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
            let from = placeholder(prefix.clone(), &mut binds);
            let to = placeholder(format!("{prefix}\u{10FFFF}"), &mut binds);
            let ranges: Vec<String> = ["user_name_search", "display_name_search", "email_search"]
                .iter()
                .map(|column| format!("({column} >= {from} AND {column} < {to})"))
                .collect();
            conditions.push(format!("({})", ranges.join(" OR ")));
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

/// Fills the search copies of users written before they existed (migration 0027), a thousand at
/// a time; nothing to do on later starts.
pub(crate) async fn fill_search_columns(pool: &AnyPool) -> Result<(), StoreError> {
    loop {
        let rows: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, user_name, display_name, email FROM users \
             WHERE user_name_search IS NULL LIMIT 1000",
        )
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = pool.begin().await?;
        for (id, user_name, display_name, email) in rows {
            sqlx::query(
                "UPDATE users SET user_name_search = $1, display_name_search = $2, \
                 email_search = $3 WHERE id = $4",
            )
            .bind(search_fold(&user_name))
            .bind(display_name.as_deref().map(search_fold))
            .bind(search_fold(&email))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::search_fold;

    #[test]
    fn case_and_accents_fold_away() {
        assert_eq!(search_fold("Héloïse"), "heloise");
        assert_eq!(search_fold("HÉLOÏSE Dupont-Émile"), "heloise dupont-emile");
        assert_eq!(search_fold("ﬁlière Ça"), "filiere ca");
        assert_eq!(search_fold("ada@example.com"), "ada@example.com");
    }
}
