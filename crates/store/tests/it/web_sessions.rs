//! Web sessions and sign-ins in progress on both backends: stored by hash, ended once, the endings
//! a replica reads back, the database ending a suspended entity's sessions, and a sign-in flow
//! taken once with its own state only.

use domain::{AuditAction, KeyHash, SessionId, SignInMethod, Status, UserId};
use store::{NewUser, SignInFlow, Store, StoredSession};

use crate::audit;
use crate::harness::both_backends;

both_backends! {
    sessions_are_stored_by_hash_ended_once_and_read_back_as_ended,
    a_sign_in_flow_is_taken_once_and_only_with_its_state,
}

const HOUR: i64 = 3_600_000;

fn session(user: UserId, started_at: i64) -> StoredSession {
    StoredSession {
        id: SessionId::generate(),
        user_id: user,
        method: SignInMethod::Provider,
        roles: Vec::new(),
        roles_until: started_at,
        started_at,
        ends_at: started_at + 8 * HOUR,
        idle_millis: HOUR,
        last_seen_at: started_at,
        ended_at: None,
    }
}

async fn sessions_are_stored_by_hash_ended_once_and_read_back_as_ended(store: &Store) {
    let entity = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let new = NewUser {
        entity_id: entity.id,
        user_name: "ada".into(),
        email: "ada@example.test".into(),
        display_name: None,
        external_id: None,
    };
    let ada = store
        .create_user(&new, &audit(AuditAction::UserCreate))
        .await
        .unwrap();
    let now = domain::now_millis();
    let (first, second) = (session(ada.id, now), session(ada.id, now + 1));
    let (first_hash, second_hash) = (KeyHash::of("fabw_first"), KeyHash::of("fabw_second"));
    store.insert_session(&first_hash, &first).await.unwrap();
    store.insert_session(&second_hash, &second).await.unwrap();
    assert_eq!(
        store.session_by_hash(&first_hash).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.live_sessions(now + 2).await.unwrap().len(), 2);

    // A use stored by another replica moves the idle timeout; never back.
    store
        .record_session_use(&[(first.id, now + HOUR / 2), (second.id, now - HOUR)])
        .await
        .unwrap();
    let used = store.session_by_id(first.id).await.unwrap().unwrap();
    assert_eq!(used.last_seen_at, now + HOUR / 2);
    assert!(used.is_live(now + HOUR + 1));
    let unused = store.session_by_id(second.id).await.unwrap().unwrap();
    assert!(!unused.is_live(now + HOUR + 2));

    assert!(store.end_session(first.id, now + 3).await.unwrap());
    assert!(!store.end_session(first.id, now + 4).await.unwrap(), "once");
    assert!(
        !store
            .session_by_hash(&first_hash)
            .await
            .unwrap()
            .unwrap()
            .is_live(now + 5)
    );
    assert_eq!(
        store.sessions_ended_since(now).await.unwrap(),
        vec![first.id]
    );
    assert!(
        store
            .sessions_ended_since(now + 4)
            .await
            .unwrap()
            .is_empty()
    );

    // The entity's suspension ends its users' sessions in the database itself.
    store
        .set_entity_status(
            entity.id,
            Status::Suspended,
            &audit(AuditAction::EntitySuspend),
        )
        .await
        .unwrap();
    let ended = store.session_by_hash(&second_hash).await.unwrap().unwrap();
    assert!(ended.ended_at.is_some(), "{ended:?}");
    assert!(store.live_sessions(now + 5).await.unwrap().is_empty());
    assert!(
        store
            .end_sessions_of_user(ada.id, now + 6)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_sign_in_flow_is_taken_once_and_only_with_its_state(store: &Store) {
    let now = domain::now_millis();
    let flow = |state: &str| SignInFlow {
        state: state.to_owned(),
        nonce: format!("nonce-{state}"),
        code_verifier: format!("verifier-{state}"),
        expires_at: now + 600_000,
    };
    let (mine, theirs) = (KeyHash::of("flow-mine"), KeyHash::of("flow-theirs"));
    store
        .start_sign_in_flow(&mine, &flow("s1"), now)
        .await
        .unwrap();
    store
        .start_sign_in_flow(&theirs, &flow("s2"), now)
        .await
        .unwrap();
    // Another flow's state takes nothing and leaves this one in place.
    assert_eq!(
        store.take_sign_in_flow(&mine, "s2", now).await.unwrap(),
        None
    );
    assert_eq!(
        store.take_sign_in_flow(&mine, "s1", now).await.unwrap(),
        Some(flow("s1"))
    );
    assert_eq!(
        store.take_sign_in_flow(&mine, "s1", now).await.unwrap(),
        None
    );
    // Expired, it is taken by nobody, and the next start deletes it.
    let late = now + 600_000;
    assert_eq!(
        store.take_sign_in_flow(&theirs, "s2", late).await.unwrap(),
        None
    );
    store
        .start_sign_in_flow(&KeyHash::of("flow-later"), &flow("s3"), late)
        .await
        .unwrap();
    assert_eq!(
        store.take_sign_in_flow(&theirs, "s2", now).await.unwrap(),
        None
    );
}
