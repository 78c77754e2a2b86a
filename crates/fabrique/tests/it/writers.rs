//! The background writers without a journal on PostgreSQL through a relay ([`Relay`]): the
//! last-seen writer (keys' last use, users' last activity, sessions) and the kept-content
//! writer. PostgreSQL silenced in the middle of their write (connections open, nothing
//! answering), the write gives up within `STORE_WRITE_TIMEOUT` and its connection is closed, not
//! returned to the pool (where the pool's test of it would wait for good, and a clean shutdown
//! with it); tried again once PostgreSQL answers, it lands. A commit of kept content or feedback
//! whose answer is lost is tried again, and each row is stored once.
//!
//! Runs only when `FABRIQUE_TEST_POSTGRES_URL` is set. Nothing waits for a set time: the silence
//! is seen by the relay, and the writes' own bound ends the silenced try.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use domain::{
    AuditAction, AuditEvent, EntityId, Feedback, KeyOwner, Operation, Rating, UserId, now_millis,
};
use retention::{Captured, ContentStore};
use sqlx::{Connection, PgConnection};
use store::{NewUser, Store, StoreError};

use crate::harness::{MASTER_KEY_ENV, SchemaGuard, postgres_schema, test_env};
use crate::relay::Relay;

/// A store of its own whose PostgreSQL is reached through a relay.
struct Setup {
    /// Kept for the test's length: dropped, its schema goes.
    _schema: SchemaGuard,
    /// PostgreSQL, not through the relay.
    direct: PgConnection,
    relay: Relay,
    store: Store,
    entity: EntityId,
    user: UserId,
}

async fn store_through_a_relay() -> Option<Setup> {
    let schema = postgres_schema().await?;
    let url = schema.url();
    let relay = Relay::start_to(&url).await;
    let store = Store::connect(&relay.url(&url)).await.unwrap();
    let audit = |action| AuditEvent::system(action, "{}".into());
    let entity = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap()
        .id;
    let new = NewUser {
        entity_id: entity,
        user_name: "ada".into(),
        email: "ada@example.test".into(),
        display_name: None,
        external_id: None,
    };
    let user = store
        .create_user(&new, &audit(AuditAction::UserCreate))
        .await
        .unwrap()
        .id;
    Some(Setup {
        _schema: schema,
        direct: PgConnection::connect(&url).await.unwrap(),
        relay,
        store,
        entity,
        user,
    })
}

/// `work`, which must end: a bound on a hang, not a timing assertion (it takes a few seconds).
async fn ends<T>(what: &str, work: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), work)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// Closing the pool waits for every connection to be closed or returned: a silenced one kept
/// would hold it for good.
async fn the_pool_closes(store: &Store) {
    ends(
        "closing the pool (a silenced connection was returned to it)",
        store.close(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silenced_last_seen_write_gives_up_keeps_no_connection_and_lands_once_tried_again() {
    let Some(mut s) = store_through_a_relay().await else {
        return;
    };
    s.store.record_activity(&[(s.user, 1_000)]).await.unwrap();

    s.relay.silence_at(b"UPDATE users SET last_active_at");
    let silenced = ends(
        "a last-seen write into silence",
        s.store.record_activity(&[(s.user, 2_000)]),
    )
    .await;
    assert!(
        matches!(silenced, Err(StoreError::Unanswered(_))),
        "{silenced:?}"
    );
    s.relay.restore().await;
    // The seat writer keeps what was not written for its next tick. (A connection the pool held
    // idle through the silence stays silent: the first try may cost it.)
    let activity = [(s.user, 2_000)];
    tried_again(5, || s.store.record_activity(&activity)).await;
    let stored: Option<i64> = sqlx::query_scalar("SELECT last_active_at FROM users WHERE id = $1")
        .bind(s.user.to_string())
        .fetch_one(&mut s.direct)
        .await
        .unwrap();
    assert_eq!(stored, Some(2_000));
    the_pool_closes(&s.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silenced_content_write_gives_up_keeps_no_connection_and_lands_once_tried_again() {
    let Some(mut s) = store_through_a_relay().await else {
        return;
    };
    let content = content_store(&s.store).await;
    let batch = [captured(s.entity, s.user, "silenced")];

    s.relay.silence_at(b"INSERT INTO content_records (");
    let silenced = ends(
        "a content write into silence",
        try_as_the_writer_does(content.write(&batch)),
    )
    .await;
    assert!(
        matches!(silenced, Err(StoreError::Unanswered(_))),
        "{silenced:?}"
    );
    s.relay.restore().await;
    // The writer keeps the batch and tries it again. (Each connection the pool held idle through
    // the silence stays silent: a try may cost it.)
    tried_again(20, || try_as_the_writer_does(content.write(&batch))).await;
    assert_eq!(stored_content(&mut s.direct, "silenced").await, 1);
    the_pool_closes(&s.store).await;
}

/// `attempt` made again, as a writer does at its next tick, until it succeeds: at most `tries`
/// times, each failure the store's being unreachable.
async fn tried_again<T, F: Future<Output = Result<T, StoreError>>>(
    tries: usize,
    mut attempt: impl FnMut() -> F,
) -> T {
    for _ in 1..tries {
        match attempt().await {
            Ok(done) => return done,
            Err(error) => assert!(error.is_unreachable(), "{error}"),
        }
    }
    attempt().await.unwrap()
}

/// One try of the content writer (`usage`'s batch writer): bounded, failing as unanswered.
async fn try_as_the_writer_does(
    write: impl Future<Output = Result<(), StoreError>>,
) -> Result<(), StoreError> {
    store::answered_in_time(write).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_and_feedback_whose_commit_answer_is_lost_are_stored_once() {
    let Some(mut s) = store_through_a_relay().await else {
        return;
    };
    let content = content_store(&s.store).await;
    let batch = [
        captured(s.entity, s.user, "lost-1"),
        captured(s.entity, s.user, "lost-2"),
    ];
    s.relay
        .lose_answer(b"INSERT INTO content_records (", b"COMMIT");
    let first = lose_the_answer(&mut s.relay, content.write(&batch)).await;
    assert!(first.is_err(), "{first:?}");
    // The content writer tries the same batch again.
    content.write(&batch).await.unwrap();
    for request in ["lost-1", "lost-2"] {
        assert_eq!(stored_content(&mut s.direct, request).await, 1, "{request}");
    }

    // A verdict whose commit's answer is lost, then changed on another replica before the first
    // is tried again: the try again stores nothing, and leaves the later verdict.
    let verdict = |at, rating| Feedback {
        request_id: "lost-3".into(),
        at,
        actor: "key_test".into(),
        entity_id: Some(s.entity),
        rating,
        comment: None,
    };
    let (first, changed) = (verdict(1_000, Rating::Up), verdict(2_000, Rating::Down));
    s.relay.lose_answer(b"INSERT INTO feedback (", b"COMMIT");
    let lost = lose_the_answer(
        &mut s.relay,
        s.store.insert_feedback(std::slice::from_ref(&first)),
    )
    .await;
    assert!(lost.is_err(), "{lost:?}");
    s.store.insert_feedback(&[changed]).await.unwrap();
    s.store.insert_feedback(&[first]).await.unwrap();
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT rating, at FROM feedback WHERE request_id = $1")
            .bind("lost-3")
            .fetch_all(&mut s.direct)
            .await
            .unwrap();
    assert_eq!(stored, [("down".to_owned(), 2_000)]);
}

/// Runs `write` until its commit's answer is lost (the trap set), then cuts the relay, which
/// ends it with an error, and restores it.
async fn lose_the_answer<T>(
    relay: &mut Relay,
    write: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let (written, ()) = tokio::join!(write, async {
        relay.answer_lost().await;
        relay.cut().await;
    });
    relay.restore().await;
    written
}

async fn content_store(store: &Store) -> Arc<ContentStore> {
    let config = configuration::Config::from_toml(
        &format!("[retention]\nmaster_key_env = \"{MASTER_KEY_ENV}\"\n"),
        "test.toml",
        &test_env,
    )
    .unwrap();
    ContentStore::open(store.clone(), &config).await.unwrap()
}

fn captured(entity: EntityId, user: UserId, request: &str) -> Captured {
    Captured {
        id: retention::record_id(),
        request_id: request.into(),
        at: now_millis(),
        entity_id: entity,
        owner: KeyOwner::User(user),
        operation: Operation::Chat,
        model: "mistral-small".into(),
        input: r#"[{"role":"user","content":"hello"}]"#.into(),
        completion: "hi".into(),
    }
}

/// How many records hold the content of `request`.
async fn stored_content(db: &mut PgConnection, request: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM content_records WHERE request_id = $1")
        .bind(request)
        .fetch_one(db)
        .await
        .unwrap()
}
