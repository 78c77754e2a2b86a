//! Opening a store: reading the URL, preparing SQLite's file and settings, running migrations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{Executor, any::install_default_drivers};

use crate::{Backend, Store, StoreError};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Settings applied to every SQLite connection. `synchronous=NORMAL` in WAL mode keeps every
/// committed transaction across a process crash; see the crate documentation for power loss.
/// The busy timeout makes concurrent writers wait for each other instead of failing.
/// Statement journals (the undo of one multi-row INSERT inside a transaction) stay in memory
/// rather than in a temporary file.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 5000; \
     PRAGMA foreign_keys = ON; \
     PRAGMA temp_store = MEMORY;";

/// The name of the SQLite file inside a data directory.
pub const SQLITE_FILE_NAME: &str = "fabrique.db";

impl Store {
    /// Connects to `url` and brings the schema up to date.
    ///
    /// Accepted: `sqlite:///abs/path/fabrique.db` (file and parent directory created when
    /// missing), `sqlite::memory:` (private to this store), `postgres://…` / `postgresql://…`
    /// (query parameters such as `options=-c search_path=…` pass through to the driver).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let target = Target::parse(url)?;
        let pool = match &target {
            Target::SqliteFile { url, path, creates } => {
                if *creates {
                    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                        create_private_dir(parent)?;
                    }
                    create_private_file(path)?;
                }
                sqlite_pool_options()
                    .max_connections(8)
                    .connect(url)
                    .await?
            }
            // Through `Any` every new connection re-reads the URL and would open a new, empty
            // in-memory database; one connection that never expires keeps the data in one place.
            Target::SqliteMemory { url } => {
                sqlite_pool_options()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect(url)
                    .await?
            }
            Target::Postgres { url } => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // No statement here runs long enough to gain from being compiled:
                            // the month's usage reports, the longest, cross PostgreSQL's cost
                            // threshold and spent more compiling (over 100 ms) than running.
                            conn.execute("SET jit = off").await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
        };
        let backend = target.backend();
        let url = match &target {
            Target::Postgres { url } => Some(std::sync::Arc::from(url.as_str())),
            Target::SqliteFile { .. } | Target::SqliteMemory { .. } => None,
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        crate::audit_chain::chain_legacy_events(&pool).await?;
        crate::user_search::fill_search_words(&pool).await?;
        tracing::debug!(?backend, "store connected and migrated");
        Ok(Store {
            pool,
            backend,
            url,
            rolled_days: Default::default(),
        })
    }

    /// The embedded default: SQLite at `data_dir/fabrique.db`, created when missing.
    pub async fn open_in_dir(data_dir: &Path) -> Result<Store, StoreError> {
        Store::connect(&sqlite_url_in(data_dir)?).await
    }

    /// Opens an existing store to read it only, as `fabrique audit verify` and `export` do: nothing
    /// is created, no migration runs, no event is chained, and every connection refuses writes
    /// (SQLite opened `mode=ro` with `query_only`; PostgreSQL sessions whose transactions are read
    /// only). What is read is what a writer left, never something the reader fixed up first.
    pub async fn open_read_only(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let (pool, backend) = match Target::parse(url)? {
            Target::SqliteFile { url, path, .. } => {
                if !path.exists() {
                    return Err(StoreError::NotFound(format!(
                        "no database at {}",
                        path.display()
                    )));
                }
                let pool = AnyPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(SQLITE_READ_ONLY_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect(&read_only_sqlite_url(&url))
                    .await?;
                (pool, Backend::Sqlite)
            }
            Target::SqliteMemory { url } => return Err(StoreError::InvalidUrl(url)),
            Target::Postgres { url } => {
                let pool = AnyPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                (pool, Backend::Postgres)
            }
        };
        Ok(Store {
            pool,
            backend,
            url: None,
            rolled_days: Default::default(),
        })
    }

    /// [`Store::open_read_only`] for the embedded database of `data_dir`.
    pub async fn open_dir_read_only(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_read_only(&sqlite_url_in(data_dir)?).await
    }
}

/// Settings of a read-only SQLite connection: waits for writers rather than failing, and refuses
/// any write even where the file would allow one.
const SQLITE_READ_ONLY_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;";

/// The URL of the embedded database in `data_dir`.
fn sqlite_url_in(data_dir: &Path) -> Result<String, StoreError> {
    let path = data_dir.join(SQLITE_FILE_NAME);
    let text = path
        .to_str()
        .ok_or_else(|| StoreError::InvalidUrl(path.display().to_string()))?;
    if text.contains(['?', '#']) {
        return Err(StoreError::InvalidUrl(text.to_owned()));
    }
    Ok(format!("sqlite://{text}"))
}

/// `url` with its open mode replaced by `mode=ro`.
fn read_only_sqlite_url(url: &str) -> String {
    let (location, query) = url.split_once('?').unwrap_or((url, ""));
    let mut parameters: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("mode="))
        .collect();
    parameters.push("mode=ro");
    format!("{location}?{}", parameters.join("&"))
}

/// Creates `dir` and its missing parents, readable by this account only (`0700` on Unix, whatever
/// the umask): the database holds personal data, key hashes and the audit trail. An existing
/// directory is left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the database file, empty and `0600`, unless it exists. SQLite gives its write-ahead
/// log and shared-memory index the database file's permissions, so they are private too.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

fn sqlite_pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute(SQLITE_PRAGMAS).await?;
                Ok(())
            })
        })
}

/// A parsed database URL.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `creates`: the file and its directory are made when missing (`mode=rwc`).
    SqliteFile {
        url: String,
        path: PathBuf,
        creates: bool,
    },
    SqliteMemory {
        url: String,
    },
    Postgres {
        url: String,
    },
}

impl Target {
    fn parse(url: &str) -> Result<Target, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres {
                url: url.to_owned(),
            });
        }
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::InvalidUrl(url.to_owned()))?;
        let (location, query) = match rest.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (rest, None),
        };
        if location.is_empty() {
            return Err(StoreError::InvalidUrl(url.to_owned()));
        }
        if location == ":memory:" || query.is_some_and(|q| q.contains("mode=memory")) {
            return Ok(Target::SqliteMemory {
                url: url.to_owned(),
            });
        }
        // `mode=rwc` makes the driver create the file; an explicit mode is respected.
        let url = match query {
            Some(q) if q.contains("mode=") => url.to_owned(),
            Some(_) => format!("{url}&mode=rwc"),
            None => format!("{url}?mode=rwc"),
        };
        Ok(Target::SqliteFile {
            creates: url.contains("mode=rwc"),
            url,
            path: PathBuf::from(location),
        })
    }

    fn backend(&self) -> Backend {
        match self {
            Target::SqliteFile { .. } | Target::SqliteMemory { .. } => Backend::Sqlite,
            Target::Postgres { .. } => Backend::Postgres,
        }
    }
}

#[cfg(test)]
mod tests;
