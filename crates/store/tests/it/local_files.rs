//! The embedded database's files hold personal data, key hashes, wrapped keys and the audit
//! trail: whatever the process's umask, only the account Fabrique runs as may read them.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use store::Store;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_new_data_directory_and_its_database_files_are_private() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("fabrique-data");
    let store = Store::open_in_dir(&data).await.unwrap();
    store
        .create_entity(
            "acme",
            "Acme",
            &crate::audit(domain::AuditAction::EntityCreate),
        )
        .await
        .unwrap();
    assert_eq!(mode(&data), 0o700);
    let database = data.join(store::SQLITE_FILE_NAME);
    assert_eq!(mode(&database), 0o600);
    // The write-ahead log and its index, which SQLite creates as it writes.
    for suffix in ["-wal", "-shm"] {
        let path = data.join(format!("{}{suffix}", store::SQLITE_FILE_NAME));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    store.close().await;
}
