//! URL parsing: which backend, which file, which settings are added.

use super::*;

#[test]
fn sqlite_urls_are_recognised_and_made_creatable() {
    assert_eq!(
        Target::parse("sqlite:///var/lib/fabrique/fabrique.db").ok(),
        Some(Target::SqliteFile {
            url: "sqlite:///var/lib/fabrique/fabrique.db?mode=rwc".into(),
            path: PathBuf::from("/var/lib/fabrique/fabrique.db"),
            creates: true,
        })
    );
    assert_eq!(
        Target::parse("sqlite:///tmp/x.db?mode=ro").ok(),
        Some(Target::SqliteFile {
            url: "sqlite:///tmp/x.db?mode=ro".into(),
            path: PathBuf::from("/tmp/x.db"),
            creates: false,
        })
    );
    assert_eq!(
        Target::parse("sqlite::memory:").ok(),
        Some(Target::SqliteMemory {
            url: "sqlite::memory:".into()
        })
    );
}

#[test]
fn postgres_and_unknown_urls() {
    assert_eq!(
        Target::parse("postgres://u@h/db").map(|t| t.backend()).ok(),
        Some(Backend::Postgres)
    );
    assert!(matches!(
        Target::parse("mysql://h/db"),
        Err(StoreError::InvalidUrl(_))
    ));
    assert!(matches!(
        Target::parse("sqlite://"),
        Err(StoreError::InvalidUrl(_))
    ));
}

#[test]
fn a_read_only_url_keeps_its_parameters_and_opens_read_only() {
    assert_eq!(
        read_only_sqlite_url("sqlite:///d/fabrique.db?mode=rwc"),
        "sqlite:///d/fabrique.db?mode=ro"
    );
    assert_eq!(
        read_only_sqlite_url("sqlite:///d/fabrique.db?cache=shared&mode=rw"),
        "sqlite:///d/fabrique.db?cache=shared&mode=ro"
    );
}
