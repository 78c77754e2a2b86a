//! Files' metadata on both backends: an entity's quota holds when uploads come at once, also
//! through two stores on one database (two replicas), so two uploads cannot both pass it.

use domain::{AuditAction, EntityId, FileId, KeyOwner, UserId, now_millis};
use store::{FileCreated, Store, StoredFile};

use crate::audit;
use crate::harness::{TestDb, both_backends_raw};

both_backends_raw! {
    two_uploads_at_once_never_both_pass_the_quota,
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
