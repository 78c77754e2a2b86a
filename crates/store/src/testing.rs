//! Test support for the crates built on the store (feature `testing`, enabled by their
//! dev-dependencies only): a store of a test's own on either database, so each crate's tests
//! need not write out the schema setup again.

use std::path::Path;

use sqlx::Connection as _;

use crate::{Store, StoreError};

/// A store of its own: a SQLite file in `dir`, or a fresh PostgreSQL schema (tests run in
/// parallel against one database) named after `prefix`; `None`, after saying so, when PostgreSQL
/// is asked for and `FABRIQUE_TEST_POSTGRES_URL` is not set.
pub async fn store_of_its_own(
    dir: &Path,
    postgres: bool,
    prefix: &str,
) -> Result<Option<Store>, StoreError> {
    if !postgres {
        return Ok(Some(Store::open_in_dir(dir).await?));
    }
    let Ok(base) = std::env::var("FABRIQUE_TEST_POSTGRES_URL") else {
        println!("skipping on PostgreSQL: FABRIQUE_TEST_POSTGRES_URL is not set");
        return Ok(None);
    };
    let schema = format!("{prefix}_{}", domain::KeyId::generate().0.simple());
    let mut admin = sqlx::PgConnection::connect(&base).await?;
    let create = format!("CREATE SCHEMA {schema}");
    sqlx::query(&create).execute(&mut admin).await?;
    admin.close().await?;
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options[search_path]={schema}");
    Ok(Some(Store::connect(&url).await?))
}
