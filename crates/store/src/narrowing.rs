//! Listing users and teams by conditions on their columns: the SQL half of SCIM filtering.
//!
//! The SCIM layer translates what it can of a filter into a [`Narrowing`] and evaluates the whole
//! filter itself on the rows that come back, so a narrowing only has to select a superset of the
//! matches. Conditions on case-insensitive attributes compare the `*_folded` columns with a value
//! folded by [`fold`], the same function that filled the column: both dialects then compare the
//! same bytes whatever their collation.

use domain::EntityId;
use sqlx::AnyPool;
use sqlx::any::AnyRow;

use crate::StoreError;

/// The case folding of the `*_folded` columns and of the values compared with them.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// A column a narrowing or a sort may name. Teams have `Id`, `DisplayName`, `ExternalId`,
/// `CreatedAt` and `UpdatedAt`; users have them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    UserName,
    DisplayName,
    ExternalId,
    /// The primary e-mail address.
    Email,
    /// `active` or `suspended`.
    Status,
    CreatedAt,
    UpdatedAt,
}

/// How a text column is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMatch {
    Equal,
    NotEqual,
    Contains,
    StartsWith,
    EndsWith,
}

/// How a time column (Unix milliseconds) is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    Equal,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

/// A condition on columns. `All` selects everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Narrowing {
    All,
    /// A text column against a value; case-insensitive columns are folded on both sides.
    Text {
        column: Column,
        matching: TextMatch,
        value: String,
    },
    /// A time column against Unix milliseconds.
    Time {
        column: Column,
        ordering: Ordering,
        millis: i64,
    },
    /// The column has a value (not NULL, not empty).
    Present(Column),
    And(Vec<Narrowing>),
    Or(Vec<Narrowing>),
}

/// Which rows of a listing, in which order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Only this entity's rows; `None` for every entity.
    pub entity: Option<EntityId>,
    pub narrowing: Narrowing,
    /// The sort column and whether it is descending; rows are by id otherwise (creation order,
    /// since ids are time-ordered).
    pub sort: Option<(Column, bool)>,
    /// `(offset, limit)`; `None` returns every selected row.
    pub page: Option<(u64, u64)>,
}

/// A slice of a plain listing: at most `limit` rows from `offset`, in the listing's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
}

impl Window {
    /// Every row.
    pub const ALL: Window = Window {
        offset: 0,
        limit: i64::MAX as u64,
    };

    /// The `LIMIT … OFFSET …` clause, from integers (never from text).
    pub(crate) fn sql(self) -> String {
        let bound = |n: u64| n.min(i64::MAX as u64);
        format!(" LIMIT {} OFFSET {}", bound(self.limit), bound(self.offset))
    }
}

/// A listing of one entity's rows or of all: `select` (a `SELECT … FROM …`), its standing
/// condition if any, the entity's column, the order. The one shape of the admin API's listings.
pub(crate) struct EntityListing<'a> {
    pub select: &'a str,
    pub condition: Option<&'a str>,
    pub entity_column: &'a str,
    pub order: &'a str,
}

impl EntityListing<'_> {
    /// The rows of `entity` (or of every entity), read by `row`, within `window`.
    pub(crate) async fn fetch<T>(
        &self,
        pool: &AnyPool,
        entity: Option<EntityId>,
        window: Window,
        row: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let entity_condition = entity.map(|_| format!("{} = $1", self.entity_column));
        let conditions: Vec<&str> = self
            .condition
            .into_iter()
            .chain(entity_condition.as_deref())
            .collect();
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "{}{filter} ORDER BY {}{}",
            self.select,
            self.order,
            window.sql()
        );
        let mut query = sqlx::query(&sql);
        if let Some(entity) = entity {
            query = query.bind(entity.to_string());
        }
        let rows = query.fetch_all(pool).await?;
        rows.iter().map(row).collect()
    }
}

/// One page of a listing and how many rows the narrowing selected in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub total: u64,
    pub items: Vec<T>,
}

/// The table a narrowing is turned into SQL for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Users,
    Teams,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Teams => "teams",
        }
    }
}

/// A WHERE clause under construction: text with `$n` placeholders and the values to bind.
#[derive(Debug, Default)]
pub(crate) struct Clause {
    pub sql: String,
    pub binds: Vec<Bind>,
}

#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

impl Clause {
    fn placeholder(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }
}

/// The SQL column of `column` in `table`, and whether it holds folded text. `None` when the table
/// has no such column (the condition then selects everything).
fn column_sql(table: Table, column: Column) -> Option<(&'static str, bool)> {
    match (table, column) {
        (_, Column::Id) => Some(("id", false)),
        (_, Column::DisplayName) => Some(("display_name_folded", true)),
        (_, Column::ExternalId) => Some(("external_id", false)),
        (_, Column::CreatedAt) => Some(("created_at", false)),
        (_, Column::UpdatedAt) => Some(("updated_at", false)),
        (Table::Users, Column::UserName) => Some(("user_name_folded", true)),
        (Table::Users, Column::Email) => Some(("email_folded", true)),
        (Table::Users, Column::Status) => Some(("status", false)),
        (Table::Teams, Column::UserName | Column::Email | Column::Status) => None,
    }
}

/// The column to sort by, by its original (not folded) value where it has one.
fn sort_sql(table: Table, column: Column) -> &'static str {
    match column_sql(table, column) {
        Some((sql, _)) => sql,
        None => "id",
    }
}

/// Appends the rows' scope and `narrowing` to `clause` as a condition.
fn where_clause(table: Table, listing: &Listing) -> Clause {
    let mut clause = Clause::default();
    let mut parts = Vec::new();
    if table == Table::Users {
        parts.push("deleted_at IS NULL".to_owned());
    }
    if let Some(entity) = listing.entity {
        let p = clause.placeholder(Bind::Text(entity.to_string()));
        parts.push(format!("entity_id = {p}"));
    }
    let condition = condition(table, &listing.narrowing, &mut clause);
    if condition != "1 = 1" {
        parts.push(condition);
    }
    clause.sql = if parts.is_empty() {
        "1 = 1".to_owned()
    } else {
        parts.join(" AND ")
    };
    clause
}

fn condition(table: Table, narrowing: &Narrowing, clause: &mut Clause) -> String {
    match narrowing {
        Narrowing::All => "1 = 1".to_owned(),
        Narrowing::Text {
            column,
            matching,
            value,
        } => {
            let Some((sql, folded)) = column_sql(table, *column) else {
                return "1 = 1".to_owned();
            };
            let value = if folded { fold(value) } else { value.clone() };
            match matching {
                TextMatch::Equal => {
                    let p = clause.placeholder(Bind::Text(value));
                    format!("{sql} = {p}")
                }
                TextMatch::NotEqual => {
                    let p = clause.placeholder(Bind::Text(value));
                    format!("({sql} IS NULL OR {sql} <> {p})")
                }
                TextMatch::Contains | TextMatch::StartsWith | TextMatch::EndsWith => {
                    let escaped = escape_like(&value);
                    let pattern = match matching {
                        TextMatch::Contains => format!("%{escaped}%"),
                        TextMatch::StartsWith => format!("{escaped}%"),
                        _ => format!("%{escaped}"),
                    };
                    let p = clause.placeholder(Bind::Text(pattern));
                    format!("{sql} LIKE {p} ESCAPE '\\'")
                }
            }
        }
        Narrowing::Time {
            column,
            ordering,
            millis,
        } => {
            let Some((sql, _)) = column_sql(table, *column) else {
                return "1 = 1".to_owned();
            };
            let op = match ordering {
                Ordering::Equal => "=",
                Ordering::Greater => ">",
                Ordering::GreaterOrEqual => ">=",
                Ordering::Less => "<",
                Ordering::LessOrEqual => "<=",
            };
            let p = clause.placeholder(Bind::Int(*millis));
            format!("{sql} {op} {p}")
        }
        Narrowing::Present(column) => match column_sql(table, *column) {
            Some((sql, _)) => format!("({sql} IS NOT NULL AND {sql} <> '')"),
            None => "1 = 1".to_owned(),
        },
        Narrowing::And(parts) => join(table, parts, " AND ", clause),
        Narrowing::Or(parts) => join(table, parts, " OR ", clause),
    }
}

fn join(table: Table, parts: &[Narrowing], separator: &str, clause: &mut Clause) -> String {
    if parts.is_empty() {
        return "1 = 1".to_owned();
    }
    let conditions: Vec<String> = parts
        .iter()
        .map(|part| condition(table, part, clause))
        .collect();
    format!("({})", conditions.join(separator))
}

/// `%`, `_` and the escape character itself are literal in the pattern.
fn escape_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Binds `clause`'s values onto `query`, in order.
pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &[Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.clone()),
            Bind::Int(value) => query.bind(*value),
        };
    }
    query
}

/// [`bind_all`] for a query of one number (a count).
pub(crate) fn bind_all_scalar<'q>(
    mut query: sqlx::query::QueryScalar<'q, sqlx::Any, i64, sqlx::any::AnyArguments<'q>>,
    binds: &[Bind],
) -> sqlx::query::QueryScalar<'q, sqlx::Any, i64, sqlx::any::AnyArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.clone()),
            Bind::Int(value) => query.bind(*value),
        };
    }
    query
}

/// The rows of `table` that `listing` selects, read by `row`, in its order and page; with the
/// count of every row selected when the listing is paged.
pub(crate) async fn paged_select<T>(
    pool: &AnyPool,
    table: Table,
    columns: &str,
    listing: &Listing,
    row: fn(&AnyRow) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let clause = where_clause(table, listing);
    let order = match listing.sort {
        Some((column, descending)) => format!(
            "{} {}, id",
            sort_sql(table, column),
            if descending { "DESC" } else { "ASC" }
        ),
        None => "id".to_owned(),
    };
    let name = table.name();
    let mut sql = format!(
        "SELECT {columns} FROM {name} WHERE {} ORDER BY {order}",
        clause.sql
    );
    if let Some((offset, limit)) = listing.page {
        sql.push_str(&format!(" LIMIT {limit} OFFSET {offset}"));
    }
    let rows = bind_all(sqlx::query(&sql), &clause.binds)
        .fetch_all(pool)
        .await?;
    let items = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
    let total = match listing.page {
        None => items.len() as u64,
        Some(_) => {
            let count_sql = format!("SELECT COUNT(*) FROM {name} WHERE {}", clause.sql);
            let count: i64 = bind_all_scalar(sqlx::query_scalar(&count_sql), &clause.binds)
                .fetch_one(pool)
                .await?;
            u64::try_from(count).unwrap_or(0)
        }
    };
    Ok(Page { total, items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_columns_compare_folded_values_and_like_patterns_are_escaped() {
        let listing = Listing {
            entity: None,
            narrowing: Narrowing::Or(vec![
                Narrowing::Text {
                    column: Column::UserName,
                    matching: TextMatch::Equal,
                    value: "Ada".into(),
                },
                Narrowing::Text {
                    column: Column::ExternalId,
                    matching: TextMatch::StartsWith,
                    value: "a%_b".into(),
                },
            ]),
            sort: None,
            page: None,
        };
        let clause = where_clause(Table::Users, &listing);
        assert_eq!(
            clause.sql,
            "deleted_at IS NULL AND (user_name_folded = $1 OR external_id LIKE $2 ESCAPE '\\')"
        );
        assert!(matches!(&clause.binds[0], Bind::Text(v) if v == "ada"));
        assert!(matches!(&clause.binds[1], Bind::Text(v) if v == "a\\%\\_b%"));
    }

    #[test]
    fn a_column_the_table_lacks_selects_everything() {
        let listing = Listing {
            entity: None,
            narrowing: Narrowing::Present(Column::UserName),
            sort: None,
            page: None,
        };
        assert_eq!(where_clause(Table::Teams, &listing).sql, "1 = 1");
    }
}
