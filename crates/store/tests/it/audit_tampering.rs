//! Tampering with the audit trail behind the store's back, as someone with database access would,
//! and what the verifier says about it. Each case runs on SQLite and, when configured, PostgreSQL.

use evidence::{AuditSigner, OutsideAnchors, Problem};
use store::{ChainSelection, Store};

use crate::audit_chain::{appended_and_checkpointed, event, signer, verify};

/// The review's laundering recipe: an event edited, every hash and checkpoint stripped, so that a
/// start that chains "legacy" events would chain the edited history and sign it.
const STRIP_EVERYTHING: [&str; 4] = [
    r#"UPDATE audit_events SET detail = '{"n":999}' WHERE seq = 2"#,
    "UPDATE audit_events SET hash = NULL, prev_hash = NULL",
    "UPDATE audit_chain_head SET hash = NULL",
    "DELETE FROM audit_checkpoints",
];
use crate::harness::{TestDb, both_backends_raw};

both_backends_raw! {
    an_altered_detail_is_named_by_its_seq,
    a_deleted_middle_event_is_detected,
    deleting_the_newest_events_after_a_checkpoint_is_detected,
    a_wrong_public_key_fails_the_signatures,
    events_stored_before_the_chain_are_chained_at_start,
    a_head_stripped_of_its_hash_does_not_get_the_trail_rechained,
    an_event_added_beyond_the_head_is_detected,
    a_deleted_middle_checkpoint_is_detected,
    a_truncation_hidden_in_the_store_shows_against_anchors_held_outside,
    a_trail_stripped_of_its_hashes_and_checkpoints_is_not_rechained,
    a_read_only_store_migrates_chains_and_writes_nothing,
}

async fn an_altered_detail_is_named_by_its_seq(db: &TestDb) {
    appended_and_checkpointed(&db.store, 6).await;
    db.execute(r#"UPDATE audit_events SET detail = '{"n":999}' WHERE seq = 4"#)
        .await;
    let report = verify(&db.store).await;
    assert_eq!(report.problems, [Problem::ContentAltered { seq: 4 }]);
}

async fn a_deleted_middle_event_is_detected(db: &TestDb) {
    appended_and_checkpointed(&db.store, 6).await;
    db.execute("DELETE FROM audit_events WHERE seq = 3").await;
    let report = verify(&db.store).await;
    // The gap itself, and the signed checkpoint that counted one event more.
    assert_eq!(
        report.problems,
        [
            Problem::Missing { from: 3, to: 3 },
            Problem::CountMismatch {
                seq: 6,
                signed: 6,
                found: 5
            }
        ]
    );
}

async fn deleting_the_newest_events_after_a_checkpoint_is_detected(db: &TestDb) {
    appended_and_checkpointed(&db.store, 6).await;
    // The careful vandal also moves the head back: only the signed checkpoint remembers.
    let kept = db
        .store
        .read_audit_chain(&ChainSelection::default(), 4)
        .await
        .unwrap();
    db.execute("DELETE FROM audit_events WHERE seq > 4").await;
    db.execute(&format!(
        "UPDATE audit_chain_head SET seq = 4, event_count = 4, hash = '{}'",
        kept[3].hash.as_deref().unwrap()
    ))
    .await;
    let report = verify(&db.store).await;
    assert_eq!(
        report.problems,
        [Problem::Truncated {
            checkpoint_seq: 6,
            last_seq: Some(4)
        }]
    );
}

async fn a_wrong_public_key_fails_the_signatures(db: &TestDb) {
    appended_and_checkpointed(&db.store, 2).await;
    let stranger = AuditSigner::from_seed([1; 32]).public_key();
    let report = db
        .store
        .verify_audit_chain(vec![stranger], OutsideAnchors::default())
        .await
        .unwrap();
    assert!(
        matches!(&report.problems[..], [Problem::UntrustedKey { seq: 2, .. }]),
        "{:?}",
        report.problems
    );
    // A checkpoint whose signature was tampered with in the table.
    db.execute("UPDATE audit_checkpoints SET event_count = 1")
        .await;
    let report = verify(&db.store).await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::BadSignature { seq: 2, .. })),
        "{:?}",
        report.problems
    );
}

async fn events_stored_before_the_chain_are_chained_at_start(db: &TestDb) {
    // Make the database look as it did before the chain: rows without links, a head without hash,
    // and a number skipped by the old sequence.
    for (seq, n) in [(1, 1), (2, 2), (4, 4)] {
        db.execute(&format!(
            "INSERT INTO audit_events (seq, at, actor, action, entity_id, target, outcome, detail) \
             VALUES ({seq}, 1, 'system', 'entity.create', NULL, 't{n}', 'success', '{{}}')"
        ))
        .await;
    }
    db.execute(
        "UPDATE audit_chain_head SET seq = 4, hash = NULL, event_count = 3, legacy_through = 4",
    )
    .await;
    let reopened = Store::connect(&db.url).await.unwrap();
    let head = reopened.audit_chain_head().await.unwrap();
    assert_eq!((head.seq, head.legacy_through), (4, 4));
    reopened.append_audit(&event(5)).await.unwrap();
    let report = reopened
        .verify_audit_chain(vec![signer().public_key()], OutsideAnchors::default())
        .await
        .unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.events, report.last_seq), (4, Some(5)));
    reopened.close().await;
}

async fn a_head_stripped_of_its_hash_does_not_get_the_trail_rechained(db: &TestDb) {
    appended_and_checkpointed(&db.store, 3).await;
    // Alter an event and strip the head, hoping a restart re-chains the altered trail.
    db.execute(r#"UPDATE audit_events SET detail = '{"n":999}' WHERE seq = 2"#)
        .await;
    db.execute("UPDATE audit_chain_head SET hash = NULL").await;
    let reopened = Store::connect(&db.url).await.unwrap();
    let report = reopened
        .verify_audit_chain(vec![signer().public_key()], OutsideAnchors::default())
        .await
        .unwrap();
    assert!(
        report
            .problems
            .contains(&Problem::ContentAltered { seq: 2 }),
        "{:?}",
        report.problems
    );
    assert!(
        reopened.append_audit(&event(9)).await.is_err(),
        "appends refuse a head without hash"
    );
    reopened.close().await;
}

async fn an_event_added_beyond_the_head_is_detected(db: &TestDb) {
    appended_and_checkpointed(&db.store, 2).await;
    db.execute(
        "INSERT INTO audit_events (seq, at, actor, action, entity_id, target, outcome, detail) \
         VALUES (7, 1, 'system', 'key.create', NULL, 'forged', 'success', '{}')",
    )
    .await;
    let report = verify(&db.store).await;
    assert_eq!(report.problems, [Problem::BeyondHead { seq: 7 }]);
}

async fn a_deleted_middle_checkpoint_is_detected(db: &TestDb) {
    for _ in 0..3 {
        appended_and_checkpointed(&db.store, 2).await;
    }
    assert!(verify(&db.store).await.is_ok());
    db.execute("DELETE FROM audit_checkpoints WHERE seq = 4")
        .await;
    let report = verify(&db.store).await;
    assert_eq!(report.problems, [Problem::CheckpointUnlinked { seq: 6 }]);
}

async fn a_truncation_hidden_in_the_store_shows_against_anchors_held_outside(db: &TestDb) {
    for _ in 0..3 {
        appended_and_checkpointed(&db.store, 2).await;
    }
    // What was published as it was signed, and what an auditor wrote down.
    let published = db.store.list_audit_checkpoints(0, None).await.unwrap();
    let newest = published.last().unwrap().clone();
    // The review's recipe: the newest checkpoints and events deleted, the head moved back.
    db.execute("DELETE FROM audit_checkpoints WHERE seq > 4")
        .await;
    db.execute("DELETE FROM audit_events WHERE seq > 4").await;
    db.execute(
        "UPDATE audit_chain_head SET seq = 4, event_count = 4, \
         hash = (SELECT hash FROM audit_events WHERE seq = 4)",
    )
    .await;
    assert!(
        verify(&db.store).await.is_ok(),
        "from inside the store, a shorter history"
    );
    let trusted = vec![signer().public_key()];
    let report = db
        .store
        .verify_audit_chain(
            trusted.clone(),
            OutsideAnchors {
                published,
                expected: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        report.problems,
        [
            Problem::Truncated {
                checkpoint_seq: 6,
                last_seq: Some(4)
            },
            Problem::CheckpointDeleted { seq: 6 },
        ]
    );
    let report = db
        .store
        .verify_audit_chain(
            trusted,
            OutsideAnchors {
                published: vec![],
                expected: vec![(newest.seq, newest.head_hash().unwrap())],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        report.problems,
        [Problem::AnchorMissing {
            seq: 6,
            last_seq: Some(4)
        }]
    );
}

async fn a_trail_stripped_of_its_hashes_and_checkpoints_is_not_rechained(db: &TestDb) {
    appended_and_checkpointed(&db.store, 3).await;
    for statement in STRIP_EVERYTHING {
        db.execute(statement).await;
    }
    let reopened = Store::connect(&db.url).await.unwrap();
    let report = verify(&reopened).await;
    assert!(
        report.problems.contains(&Problem::Unchained { seq: 1 }),
        "{:?}",
        report.problems
    );
    assert!(
        reopened.append_audit(&event(9)).await.is_err(),
        "appends refuse a head without hash"
    );
    reopened.close().await;
}

async fn a_read_only_store_migrates_chains_and_writes_nothing(db: &TestDb) {
    appended_and_checkpointed(&db.store, 3).await;
    for statement in STRIP_EVERYTHING {
        db.execute(statement).await;
    }
    let reader = Store::open_read_only(&db.url).await.unwrap();
    let report = verify(&reader).await;
    assert!(
        report.problems.contains(&Problem::Unchained { seq: 2 }),
        "{:?}",
        report.problems
    );
    assert!(reader.append_audit(&event(9)).await.is_err());
    reader.close().await;
    let stripped = db
        .store
        .read_audit_chain(&ChainSelection::default(), 10)
        .await
        .unwrap();
    assert!(
        stripped.iter().all(|e| e.hash.is_none()),
        "nothing was chained"
    );
}
