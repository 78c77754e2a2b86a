//! Files' contents moved when `[batches] file_contents` changes: from disk to the database and
//! back, every file readable at the new place with the same bytes (SHA-256 checked), none at
//! the old one; a move cut short (a partial copy at the new place, or a whole copy with the old
//! one not yet removed) goes on at the next run; bytes that do not match their file's metadata
//! stay where they were. On SQLite, and on PostgreSQL when `FABRIQUE_TEST_POSTGRES_URL` is set.

#![expect(clippy::unwrap_used, reason = "test bodies fail by panicking")]

use batch::{Contents, ContentsAt, Moved, Written};
use bytes::Bytes;
use domain::{AuditAction, AuditEvent, FileId, KeyOwner, Outcome, UserId, now_millis};
use sha2::{Digest as _, Sha256};
use store::testing::store_of_its_own;
use store::{Store, StoredFile};

/// Writes `bytes` as a new file at `contents`, with its metadata stored as `sha256` says (its
/// own digest when `None`).
async fn upload(store: &Store, contents: &Contents, bytes: &[u8], sha256: Option<&str>) -> FileId {
    let id = FileId::generate();
    let mut writer = contents.writer(id, u64::MAX);
    for chunk in bytes.chunks(300_000) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    let written = writer.finish().await.unwrap();
    let file = StoredFile {
        id,
        entity_id: None,
        owner: KeyOwner::User(UserId::generate()),
        filename: "input.jsonl".into(),
        purpose: "batch".into(),
        bytes: written.bytes,
        sha256: sha256.map_or(written.sha256, str::to_owned),
        created_at: now_millis(),
    };
    let audit = AuditEvent {
        at: now_millis(),
        actor: "user_test".into(),
        action: AuditAction::FileCreate,
        entity_id: None,
        target: String::new(),
        outcome: Outcome::Success,
        detail: "{}".into(),
    };
    store.create_file(&file, u64::MAX, &audit).await.unwrap();
    id
}

fn digest(bytes: &[u8]) -> Written {
    Written {
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    }
}

/// Bytes of `len` that differ from one file to the next.
fn bytes_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

#[tokio::test]
async fn on_sqlite_files_move_both_ways_whole() {
    files_move_both_ways_whole(false).await;
}

#[tokio::test]
async fn on_postgres_files_move_both_ways_whole() {
    files_move_both_ways_whole(true).await;
}

async fn files_move_both_ways_whole(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = store_of_its_own(dir.path(), postgres, "m").await.unwrap() else {
        return;
    };
    let disk = Contents::open(&ContentsAt::Disk(dir.path().join("files")), &store).unwrap();
    let database = Contents::open(&ContentsAt::Database, &store).unwrap();
    // Over two database rows, one byte, none; and one whose bytes are not what was recorded.
    let files: Vec<(Vec<u8>, FileId)> = {
        let mut files = Vec::new();
        for (len, seed) in [(2_500_000, 1), (1, 2), (0, 3)] {
            let bytes = bytes_of(len, seed);
            let id = upload(&store, &disk, &bytes, None).await;
            files.push((bytes, id));
        }
        files
    };
    let forged = upload(
        &store,
        &disk,
        b"not what was recorded",
        Some(&"0".repeat(64)),
    )
    .await;

    // A move cut short: the big file half copied into the database, the small one copied whole
    // but not yet removed from disk.
    let (big, big_id) = &files[0];
    store
        .append_file_chunk(*big_id, 0, &big[..1_048_576])
        .await
        .unwrap();
    let (one, one_id) = &files[1];
    store.append_file_chunk(*one_id, 0, one).await.unwrap();

    let moved = database.move_from(&disk, &store).await.unwrap();
    assert_eq!(
        moved,
        Moved {
            files: 3,
            bytes: 2_500_001,
            mismatched: 1
        }
    );
    for (bytes, id) in &files {
        let len = bytes.len() as u64;
        assert_eq!(database.measure(*id, len).await.unwrap(), digest(bytes));
        assert!(
            disk.measure(*id, len).await.is_err() || len == 0,
            "gone from disk"
        );
    }
    let forged_bytes = b"not what was recorded";
    let len = forged_bytes.len() as u64;
    assert_eq!(
        disk.measure(forged, len).await.unwrap(),
        digest(forged_bytes),
        "left on disk"
    );
    assert!(
        database.measure(forged, len).await.is_err(),
        "nothing of it kept"
    );

    // Again: nothing more to move, nothing lost.
    let again = database.move_from(&disk, &store).await.unwrap();
    assert_eq!((again.files, again.mismatched), (0, 1));

    // And back to disk, the whole way.
    let back = disk.move_from(&database, &store).await.unwrap();
    assert_eq!((back.files, back.bytes, back.mismatched), (2, 2_500_001, 0));
    for (bytes, id) in &files {
        let len = bytes.len() as u64;
        assert_eq!(disk.measure(*id, len).await.unwrap(), digest(bytes));
        if len > 0 {
            assert!(
                database.measure(*id, len).await.is_err(),
                "gone from the database"
            );
        }
    }
    assert!(store.files_with_chunks().await.unwrap().is_empty());
    store.close().await;
}
