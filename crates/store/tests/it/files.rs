//! Files on both backends: an entity's quota holds when uploads come at once, also through two
//! stores on one database (two replicas), so two uploads cannot both pass it; contents kept in
//! the database are read in order, cut back, deleted with their file, and purged when no file
//! came for them.

use domain::{AuditAction, BatchId, EntityId, FileId, KeyOwner, UserId, now_millis};
use store::{BatchStatus, FileCreated, Progress, Store, StoredBatch, StoredFile};

use crate::audit;
use crate::harness::{TestDb, both_backends_raw};

both_backends_raw! {
    two_uploads_at_once_never_both_pass_the_quota,
    contents_are_read_in_order_cut_back_and_deleted_with_their_file,
}

fn file(entity: EntityId, bytes: u64) -> StoredFile {
    StoredFile {
        id: FileId::generate(),
        entity_id: Some(entity),
        owner: KeyOwner::User(UserId::generate()),
        filename: "claims.jsonl".into(),
        purpose: "batch".into(),
        bytes,
        sha256: "0".repeat(64),
        created_at: now_millis(),
    }
}

async fn two_uploads_at_once_never_both_pass_the_quota(db: &TestDb) {
    let store = &db.store;
    let replica = Store::connect(&db.url).await.unwrap();
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let created = audit(AuditAction::FileCreate);
    // Each round's quota leaves room for one more file of 100 bytes, and two replicas try.
    for round in 1..=10u64 {
        let quota = round * 100;
        let (mine, theirs) = (file(acme.id, 100), file(acme.id, 100));
        let (first, second) = tokio::join!(
            store.create_file(&mine, quota, &created),
            replica.create_file(&theirs, quota, &created),
        );
        let mut outcomes = [first.unwrap(), second.unwrap()];
        outcomes.sort_by_key(|o| matches!(o, FileCreated::OverQuota { .. }));
        assert_eq!(
            outcomes,
            [FileCreated::Created, FileCreated::OverQuota { used: quota }],
            "round {round}"
        );
    }
    let events = store.list_audit(100).await.unwrap();
    let files = events
        .iter()
        .filter(|(_, e)| e.action == AuditAction::FileCreate)
        .count();
    assert_eq!(files, 10, "a refused file leaves no event");
    replica.close().await;
}

/// Every row of file `id`'s contents, walked as a reader does.
async fn contents(store: &Store, id: FileId) -> Vec<u8> {
    let (mut read, mut at) = (Vec::new(), 0);
    while let Some((first_byte, bytes)) = store.next_file_chunk(id, at).await.unwrap() {
        assert_eq!(first_byte, at, "rows follow each other");
        at += bytes.len() as u64;
        read.extend(bytes);
    }
    read
}

/// A running batch of `input`, whose results go to `output` and `errors`.
fn running_batch(input: &StoredFile, output: FileId, errors: FileId) -> StoredBatch {
    StoredBatch {
        id: BatchId::generate(),
        entity_id: input.entity_id,
        owner: input.owner,
        key_id: None,
        shape: "openai".into(),
        endpoint: "/v1/chat/completions".into(),
        model: None,
        input_file_id: input.id,
        completion_window: "24h".into(),
        status: BatchStatus::InProgress,
        use_case: None,
        label: None,
        metadata: None,
        errors: None,
        progress: Progress::default(),
        output_file_id: Some(output),
        error_file_id: Some(errors),
        created_at: now_millis(),
        expires_at: now_millis() + 86_400_000,
        in_progress_at: None,
        finalizing_at: None,
        completed_at: None,
        failed_at: None,
        expired_at: None,
        cancelling_at: None,
        cancelled_at: None,
    }
}

async fn contents_are_read_in_order_cut_back_and_deleted_with_their_file(db: &TestDb) {
    let store = &db.store;
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let file = file(acme.id, 10);
    // Rows are read in the order of their bytes, whatever the order they were stored in.
    store
        .append_file_chunk(file.id, 4, b"456789")
        .await
        .unwrap();
    store.append_file_chunk(file.id, 0, b"0123").await.unwrap();
    assert!(
        store.append_file_chunk(file.id, 4, b"x").await.is_err(),
        "a row's place is taken once: a second writer of the file fails"
    );
    assert_eq!(contents(store, file.id).await, b"0123456789");
    assert_eq!(store.next_file_chunk(file.id, 10).await.unwrap(), None);

    // What was appended past the last commit is cut off; what is before stays.
    assert_eq!(store.cut_file_chunks(file.id, 4).await.unwrap(), 4);
    assert_eq!(contents(store, file.id).await, b"0123");
    store
        .append_file_chunk(file.id, 4, b"456789")
        .await
        .unwrap();
    assert_eq!(store.cut_file_chunks(file.id, 10).await.unwrap(), 10);
    let created = audit(AuditAction::FileCreate);
    assert_eq!(
        store.create_file(&file, 1000, &created).await.unwrap(),
        FileCreated::Created
    );

    // Rows no file came for go, unless they are a running batch's results being written.
    let lost = FileId::generate();
    store
        .append_file_chunk(lost, 0, b"cut short")
        .await
        .unwrap();
    let (output, errors) = (FileId::generate(), FileId::generate());
    let batch = running_batch(&file, output, errors);
    store
        .create_batch(&batch, &audit(AuditAction::BatchCreate))
        .await
        .unwrap();
    store
        .append_file_chunk(output, 0, b"results")
        .await
        .unwrap();
    let purged = store
        .purge_orphan_file_chunks(now_millis() + 1)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(contents(store, lost).await, b"");
    assert_eq!(contents(store, output).await, b"results");
    assert_eq!(contents(store, file.id).await, b"0123456789");
    assert_eq!(
        store
            .purge_orphan_file_chunks(now_millis() - 60_000)
            .await
            .unwrap(),
        0,
        "rows written since the cut-off stay"
    );

    // Deleting the file deletes its contents, in the same transaction.
    let deleted = store
        .delete_file(file.id, file.owner, &audit(AuditAction::FileDelete))
        .await
        .unwrap();
    assert!(deleted.is_some());
    assert_eq!(contents(store, file.id).await, b"");
}
