//! The audit trail's hash chain and checkpoints, and what tampering with the database looks like to
//! the verifier. Each behaviour runs on SQLite and, when configured, PostgreSQL.

use domain::{AuditAction, AuditEvent, Outcome, now_millis};
use evidence::{AuditSigner, Checkpoint, OutsideAnchors, Report, SignedCheckpoint};
use store::{ChainSelection, Store};

use crate::harness::{TestDb, both_backends};

both_backends! {
    appends_form_a_chain_numbered_without_gaps,
    a_large_batch_chains_like_single_appends,
    checkpoints_are_stored_once_per_head,
}

pub(crate) fn event(n: usize) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: format!("key_{n}"),
        action: AuditAction::KeyCreate,
        entity_id: None,
        target: format!("target-{n}"),
        outcome: Outcome::Success,
        detail: format!(r#"{{"n":{n},"text":"é ✓"}}"#),
    }
}

pub(crate) fn signer() -> AuditSigner {
    AuditSigner::from_seed([42; 32])
}

/// Appends `n` events and signs a checkpoint of the head after them.
pub(crate) async fn appended_and_checkpointed(store: &Store, n: usize) {
    for i in 0..n {
        store.append_audit(&event(i)).await.unwrap();
    }
    checkpoint(store).await;
}

/// Signs a checkpoint of the head after the newest stored one, as the server's checkpointer does.
pub(crate) async fn checkpoint(store: &Store) -> SignedCheckpoint {
    let signed = checkpoint_of_head(store).await;
    assert!(store.insert_audit_checkpoint(&signed).await.unwrap());
    signed
}

async fn checkpoint_of_head(store: &Store) -> SignedCheckpoint {
    let head = store.audit_chain_head().await.unwrap();
    let newest = store.latest_audit_checkpoint().await.unwrap();
    Checkpoint {
        seq: head.seq,
        head: head.hash.parse().unwrap(),
        at: now_millis(),
        event_count: head.event_count,
        previous: Checkpoint::previous_of(newest.as_ref()).unwrap(),
    }
    .sign(&signer())
}

pub(crate) async fn verify(store: &Store) -> Report {
    store
        .verify_audit_chain(vec![signer().public_key()], OutsideAnchors::default())
        .await
        .unwrap()
}

async fn appends_form_a_chain_numbered_without_gaps(store: &Store) {
    let empty = verify(store).await;
    assert!(empty.is_ok() && empty.events == 0, "{empty:?}");

    store
        .create_entity("acme", "Acme", &event(0))
        .await
        .unwrap();
    // A refused change writes no event and uses up no number.
    store
        .create_entity("acme", "Again", &event(1))
        .await
        .unwrap_err();
    for i in 2..6 {
        store.append_audit(&event(i)).await.unwrap();
    }
    let chain = store
        .read_audit_chain(&ChainSelection::default(), 100)
        .await
        .unwrap();
    let seqs: Vec<u64> = chain.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(chain[0].prev_hash.as_deref(), Some(&*"0".repeat(64)));
    assert!(chain.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    let head = store.audit_chain_head().await.unwrap();
    assert_eq!((head.seq, head.event_count, head.legacy_through), (5, 5, 0));
    assert_eq!(Some(head.hash), chain[4].hash);

    let report = verify(store).await;
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.events, report.last_seq), (5, Some(5)));

    // The newest-first listing carries the same links.
    let newest = store.list_audit_chain(2).await.unwrap();
    assert_eq!(newest, [chain[4].clone(), chain[3].clone()]);
    let acme = store.entity_by_slug("acme").await.unwrap().unwrap();
    let of_acme = store
        .read_audit_chain(
            &ChainSelection {
                entity_id: Some(acme.id.to_string()),
                ..ChainSelection::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(of_acme, [chain[0].clone()]);
}

/// A batch is written in several multi-row statements (700 = 256 + 256 + 128 + 32 + 16 + 8 + 4)
/// under one head update: its links must be exactly those of one append after another.
async fn a_large_batch_chains_like_single_appends(store: &Store) {
    store.append_audit(&event(0)).await.unwrap();
    let batch: Vec<AuditEvent> = (1..=700).map(event).collect();
    store.append_audit_batch(&batch).await.unwrap();
    store.append_audit_batch(&[]).await.unwrap();
    assert_eq!(store.append_audit(&event(701)).await.unwrap(), 702);
    checkpoint(store).await;

    let mut chain = Vec::new();
    let mut selection = ChainSelection::default();
    loop {
        let page = store.read_audit_chain(&selection, 500).await.unwrap();
        let Some(last) = page.last() else { break };
        selection.after = last.seq;
        chain.extend(page);
    }
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=702).collect::<Vec<u64>>()
    );
    assert!(chain.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    assert!(
        chain
            .iter()
            .zip(0..)
            .all(|(link, n)| link.target == format!("target-{n}")),
        "in order"
    );
    let head = store.audit_chain_head().await.unwrap();
    assert_eq!((head.seq, head.event_count), (702, 702));
    let report = verify(store).await;
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.events, report.last_seq), (702, Some(702)));
}

async fn checkpoints_are_stored_once_per_head(store: &Store) {
    appended_and_checkpointed(store, 3).await;
    let latest = store.latest_audit_checkpoint().await.unwrap().unwrap();
    assert_eq!((latest.seq, latest.event_count), (3, 3));
    // Another replica's checkpoint of the same head, signed before it saw this one: it names the
    // one before, no longer the newest, and is not stored.
    let head = store.audit_chain_head().await.unwrap();
    let again = Checkpoint {
        seq: head.seq,
        head: head.hash.parse().unwrap(),
        at: now_millis(),
        event_count: head.event_count,
        previous: evidence::GENESIS,
    }
    .sign(&signer());
    assert!(!store.insert_audit_checkpoint(&again).await.unwrap());
    // Nor is a checkpoint naming no checkpoint at all.
    let mut unlinked = checkpoint_of_head(store).await;
    unlinked.previous = None;
    assert!(!store.insert_audit_checkpoint(&unlinked).await.unwrap());
    appended_and_checkpointed(store, 2).await;
    let all = store.list_audit_checkpoints(0, None).await.unwrap();
    assert_eq!(all.iter().map(|c| c.seq).collect::<Vec<_>>(), [3, 5]);
    assert_eq!(all[0], latest);
    assert_eq!(
        all[1].previous,
        latest.digest().map(|d| d.to_string()),
        "each names the one before"
    );
    assert_eq!(
        store
            .list_audit_checkpoints(4, Some(5))
            .await
            .unwrap()
            .len(),
        1
    );
    let report = verify(store).await;
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(
        (report.checkpoints_signed, report.last_anchored_seq),
        (2, Some(5))
    );
}

/// Many transactions appending at once, on a multi-threaded runtime: one line, no gap, verified.
async fn concurrent_appends_form_one_chain(store: &Store) {
    const TASKS: usize = 32;
    const EACH: usize = 8;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                if i == 0 {
                    // An append that shares its transaction with a change.
                    store
                        .create_entity(&format!("e{task}"), "E", &event(task))
                        .await
                        .unwrap();
                } else {
                    store.append_audit(&event(task * EACH + i)).await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = verify(store).await;
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.events, (TASKS * EACH) as u64);
    assert_eq!(report.last_seq, Some((TASKS * EACH) as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_form_one_chain_on_sqlite() {
    let db = TestDb::sqlite().await;
    concurrent_appends_form_one_chain(&db.store).await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_form_one_chain_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    concurrent_appends_form_one_chain(&db.store).await;
    db.finish().await;
}
