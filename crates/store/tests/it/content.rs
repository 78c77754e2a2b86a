//! Stored content on both backends: wrapped keys created once (racing creators agree), sealed
//! records listed, purged by age per entity, and erased with their owner's key and an audit event.

use domain::{AuditAction, EntityId, KeyOwner, Operation, UserId};
use store::{ContentRecord, Erased, Store};

use crate::audit;

fn record(id: &str, entity: EntityId, owner: KeyOwner, at: i64) -> ContentRecord {
    ContentRecord {
        id: id.into(),
        request_id: format!("req-{id}"),
        created_at: at,
        entity_id: entity,
        owner,
        operation: Operation::Chat,
        model: "mistral-small".into(),
        // Every byte value, so a blob is never read back as text.
        sealed: (0..=255u8).chain([0, 0xff, id.len() as u8]).collect(),
    }
}

pub async fn content_keys_records_purge_and_erasure_round_trip(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap()
        .id;
    let beta = store
        .create_entity("beta", "Beta", &audit(AuditAction::EntityCreate))
        .await
        .unwrap()
        .id;
    let (ada, bob) = (
        KeyOwner::User(UserId::generate()),
        KeyOwner::User(UserId::generate()),
    );

    assert_eq!(store.entity_data_key(acme).await.unwrap(), None);
    let first = store
        .create_entity_data_key(acme, &[1, 2, 3], 10)
        .await
        .unwrap();
    let second = store
        .create_entity_data_key(acme, &[9, 9], 11)
        .await
        .unwrap();
    assert_eq!(
        (first.as_slice(), second.as_slice()),
        (&[1u8, 2, 3][..], &[1u8, 2, 3][..])
    );
    assert_eq!(store.content_key(ada).await.unwrap(), None);
    assert_eq!(
        store
            .create_content_key(ada, acme, &[4, 0, 5], 10)
            .await
            .unwrap(),
        (acme, vec![4, 0, 5])
    );
    assert_eq!(
        store.create_content_key(ada, beta, &[7], 11).await.unwrap(),
        (acme, vec![4, 0, 5]),
        "the first key stays"
    );
    store.create_content_key(bob, beta, &[6], 10).await.unwrap();

    let records = vec![
        record("cnt_1", acme, ada, 1_000),
        record("cnt_2", acme, ada, 2_000),
        record("cnt_3", acme, ada, 3_000),
        record("cnt_4", beta, bob, 1_000),
    ];
    store.insert_content(&records).await.unwrap();
    assert_eq!(
        store.content_of(ada, 0, 10_000, 100).await.unwrap(),
        records[..3]
    );
    assert_eq!(
        store.content_of(ada, 2_000, 3_000, 100).await.unwrap(),
        records[1..2]
    );
    assert_eq!(
        store.content_of(ada, 0, 10_000, 1).await.unwrap(),
        records[..1]
    );

    // Purge is per entity: beta's old record stays.
    let purge = audit(AuditAction::RetentionPurge);
    assert_eq!(
        store
            .purge_content(&[(acme, 2_000)], &purge, false)
            .await
            .unwrap()
            .deleted,
        1
    );
    assert_eq!(
        store
            .purge_content(&[(acme, 2_000)], &purge, false)
            .await
            .unwrap()
            .deleted,
        0
    );
    assert_eq!(
        store
            .purge_content(&[(acme, 0), (beta, 0)], &purge, true)
            .await
            .unwrap()
            .deleted,
        0
    );
    let purges: Vec<_> = store
        .list_audit(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e)| e.action == AuditAction::RetentionPurge)
        .map(|(_, e)| e.detail)
        .collect();
    assert_eq!(
        purges,
        [
            r#"{"content_records_deleted":0,"content_records_held":0}"#,
            r#"{"content_records_deleted":1,"content_records_held":0}"#
        ],
        "an empty purge is audited only when asked"
    );
    assert_eq!(
        store.content_of(ada, 0, 10_000, 100).await.unwrap(),
        records[1..3]
    );
    assert_eq!(
        store.content_of(bob, 0, 10_000, 100).await.unwrap(),
        records[3..]
    );

    let erasure = audit(AuditAction::UserErase);
    assert_eq!(
        store.erase_content(ada, 0, &erasure).await.unwrap(),
        Erased {
            content_keys: 1,
            records: 2
        }
    );
    assert_eq!(store.content_key(ada).await.unwrap(), None);
    assert!(
        store
            .content_of(ada, 0, 10_000, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store.content_key(bob).await.unwrap().is_some(),
        "others keep theirs"
    );
    assert_eq!(
        store.erase_content(ada, 0, &erasure).await.unwrap(),
        Erased::default(),
        "erasing again finds nothing"
    );
    let (_, event) = &store.list_audit(1).await.unwrap()[0];
    assert_eq!(event.action, AuditAction::UserErase);
    assert_eq!(
        event.detail,
        r#"{"content_keys_destroyed":0,"content_records_deleted":0}"#
    );
    let (_, event) = &store.list_audit(2).await.unwrap()[1];
    assert_eq!(
        event.detail,
        r#"{"content_keys_destroyed":1,"content_records_deleted":2}"#
    );

    // The erasure's tombstone: content captured before it is never written afterwards (a stream
    // that outlived it), what is captured after it is.
    assert_eq!(
        store.content_erased_at(ada).await.unwrap(),
        Some(erasure.at)
    );
    assert_eq!(store.content_erased_at(bob).await.unwrap(), None);
    store
        .insert_content(&[
            record("cnt_late", acme, ada, erasure.at),
            record("cnt_new", acme, ada, erasure.at + 1),
        ])
        .await
        .unwrap();
    let kept: Vec<String> = store
        .content_of(ada, 0, i64::MAX, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(kept, ["cnt_new"]);
}
