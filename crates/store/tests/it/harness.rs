//! One fresh, isolated store per test: a SQLite file in a temporary directory, or a PostgreSQL
//! schema of its own (tests run in parallel against one database, so each gets `t_<random>` as its
//! `search_path` and drops it when done).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use sqlx::Connection;
use store::Store;

pub const POSTGRES_URL_VARIABLE: &str = "FABRIQUE_TEST_POSTGRES_URL";

/// Generates, for each named `async fn(&Store)`, one test per backend: `sqlite::name` and
/// `postgres::name`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::harness::TestDb::sqlite().await;
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::harness::TestDb::postgres().await else { return };
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
    };
}
pub(crate) use both_backends;

/// Like [`both_backends`], for behaviours that also reach into the database behind the store's
/// back (to tamper with it): each named `async fn(&TestDb)`.
macro_rules! both_backends_raw {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::harness::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::harness::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}
pub(crate) use both_backends_raw;

pub struct TestDb {
    pub store: Store,
    /// The URL the store was opened with, for a connection of its own.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(
        #[expect(dead_code, reason = "held to keep the directory until the test ends")]
        tempfile::TempDir,
    ),
    Postgres {
        base_url: String,
        schema: String,
    },
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_dir(dir.path()).await.unwrap();
        assert_eq!(store.backend(), store::Backend::Sqlite);
        let url = format!("sqlite://{}", dir.path().join("fabrique.db").display());
        TestDb {
            store,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// `None`, after saying so, when no PostgreSQL is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(base_url) = std::env::var(POSTGRES_URL_VARIABLE) else {
            println!("skipping PostgreSQL store tests: {POSTGRES_URL_VARIABLE} is not set");
            return None;
        };
        let schema = format!("t_{}", domain::KeyId::generate().0.simple());
        let mut admin = sqlx::PgConnection::connect(&base_url).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{separator}options[search_path]={schema}");
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.backend(), store::Backend::Postgres);
        Some(TestDb {
            store,
            url,
            cleanup: Cleanup::Postgres { base_url, schema },
        })
    }

    /// Runs `sql` on a connection of its own, as someone with database access would.
    pub async fn execute(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let mut connection = sqlx::AnyConnection::connect(&self.url).await.unwrap();
        sqlx::query(sql).execute(&mut connection).await.unwrap();
        connection.close().await.unwrap();
    }

    /// Drops what the test created. Skipped when the test fails (it panics before), which leaves
    /// a schema behind to inspect.
    pub async fn finish(self) {
        self.store.close().await;
        if let Cleanup::Postgres { base_url, schema } = self.cleanup {
            let mut admin = sqlx::PgConnection::connect(&base_url).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut admin)
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
    }
}
