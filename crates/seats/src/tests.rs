//! `Seats` over a real SQLite store: what the request path decides, what reaches the store.

use domain::{AuditEvent, EntityId, Outcome, UserId, now_millis};
use store::{NewUser, Store};

use super::*;

const DAY: i64 = 24 * 60 * 60 * 1000;

struct Fixture {
    store: Store,
    seats: Arc<Seats>,
    writer: SeatWriter,
    _dir: tempfile::TempDir,
}

fn admin_event(action: AuditAction) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: "key_admin".into(),
        action,
        entity_id: None,
        target: String::new(),
        outcome: Outcome::Success,
        detail: "{}".into(),
    }
}

async fn fixture(settings: SeatSettings) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).await.unwrap();
    let (seats, writer) = Seats::load(&store, settings).await.unwrap();
    Fixture {
        store,
        seats,
        writer,
        _dir: dir,
    }
}

async fn entity(store: &Store, slug: &str) -> EntityId {
    store
        .create_entity(slug, slug, &admin_event(AuditAction::EntityCreate))
        .await
        .unwrap()
        .id
}

async fn user(store: &Store, entity: EntityId, name: &str) -> UserId {
    let new = NewUser {
        entity_id: entity,
        user_name: name.into(),
        email: format!("{name}@example.test"),
        display_name: None,
        external_id: None,
    };
    store
        .create_user(&new, &admin_event(AuditAction::UserCreate))
        .await
        .unwrap()
        .id
}

async fn seat_actions(store: &Store) -> Vec<String> {
    let mut events: Vec<_> = store
        .list_audit(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.action.family() == domain::AuditFamily::Seat)
        .map(|e| format!("{} {} {}", e.action, e.actor, e.target))
        .collect();
    events.reverse();
    events
}

#[tokio::test]
async fn first_use_assigns_in_memory_and_the_writer_stores_it_with_its_event() {
    let f = fixture(SeatSettings {
        pool: Some(1),
        reclaim_after: None,
    })
    .await;
    let acme = entity(&f.store, "acme").await;
    let (ada, bob) = (
        user(&f.store, acme, "ada").await,
        user(&f.store, acme, "bob").await,
    );
    let now = now_millis();
    assert_eq!(f.seats.check(ada, acme, now).await, Ok(()));
    assert_eq!(f.seats.check(ada, acme, now + 1).await, Ok(()));
    assert_eq!(
        f.seats.check(bob, acme, now).await,
        Err(SeatRequired::PoolExhausted { size: 1 })
    );
    f.seats.flush().await;
    assert_eq!(
        seat_actions(&f.store).await,
        [format!("seat.assign system {ada}")]
    );
    let stored = f.store.load_seats().await.unwrap();
    assert_eq!(stored.held.len(), 1);
    assert_eq!(stored.held[0].user_id, ada);
    assert_eq!(stored.held[0].last_active_at, Some(now + 1));

    // A restart finds the same state.
    f.writer.shutdown().await;
    let (again, writer) = Seats::load(&f.store, SeatSettings::default())
        .await
        .unwrap();
    assert!(again.holds(ada));
    assert!(
        again.check(bob, acme, now).await.is_ok(),
        "unlimited by default"
    );
    writer.shutdown().await;
}

#[tokio::test]
async fn reclaim_takes_back_idle_seats_only_and_they_come_back_on_use() {
    let f = fixture(SeatSettings {
        pool: Some(2),
        reclaim_after: Some(Duration::from_secs(30 * 86_400)),
    })
    .await;
    let acme = entity(&f.store, "acme").await;
    let (ada, bob) = (
        user(&f.store, acme, "ada").await,
        user(&f.store, acme, "bob").await,
    );
    let start = now_millis();
    f.seats.check(ada, acme, start).await.unwrap();
    f.seats.check(bob, acme, start).await.unwrap();
    f.seats.check(bob, acme, start + 20 * DAY).await.unwrap();

    assert_eq!(f.seats.reclaim(start + 29 * DAY).await, 0);
    let report = f.seats.report(start + 31 * DAY);
    assert_eq!(report.entities[&acme].reclaimable, 1);
    assert_eq!(report.entities[&acme].active_30_days, 1);
    assert_eq!(report.entities[&acme].active_7_days, 0);
    assert_eq!(f.seats.reclaim(start + 31 * DAY).await, 1);
    assert!(!f.seats.holds(ada));
    assert!(f.seats.holds(bob));
    assert_eq!(f.store.load_seats().await.unwrap().held.len(), 1);
    assert!(
        seat_actions(&f.store)
            .await
            .contains(&format!("seat.reclaim system {ada}"))
    );
    // Ada is back: a seat is free, she gets it again.
    assert_eq!(f.seats.check(ada, acme, start + 32 * DAY).await, Ok(()));
    f.writer.shutdown().await;
}

#[tokio::test]
async fn suspension_frees_the_seat_and_names_the_reason() {
    let f = fixture(SeatSettings {
        pool: Some(1),
        reclaim_after: None,
    })
    .await;
    let acme = entity(&f.store, "acme").await;
    let (ada, bob) = (
        user(&f.store, acme, "ada").await,
        user(&f.store, acme, "bob").await,
    );
    assert!(
        f.seats
            .assign_at_provisioning(&f.store, ada, acme, "scim:sct_x")
            .await
            .unwrap()
    );
    assert!(
        !f.seats
            .assign_at_provisioning(&f.store, bob, acme, "scim:sct_x")
            .await
            .unwrap()
    );
    f.seats.suspended(ada);
    assert_eq!(
        f.seats.check(ada, acme, now_millis()).await,
        Err(SeatRequired::UserSuspended)
    );
    assert_eq!(f.seats.check(bob, acme, now_millis()).await, Ok(()));
    f.seats.reactivated(ada);
    assert_eq!(
        f.seats.check(ada, acme, now_millis()).await,
        Err(SeatRequired::PoolExhausted { size: 1 })
    );
    f.writer.shutdown().await;
}

#[tokio::test]
async fn the_pool_cannot_go_below_what_is_assigned_and_every_change_is_audited() {
    let f = fixture(SeatSettings::default()).await;
    let (acme, globex) = (
        entity(&f.store, "acme").await,
        entity(&f.store, "globex").await,
    );
    for name in ["a", "b", "c"] {
        let id = user(&f.store, acme, name).await;
        f.seats.check(id, acme, now_millis()).await.unwrap();
    }
    let refused = f
        .seats
        .set_pool(&f.store, Some(2), admin_event(AuditAction::SeatPoolSet))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("3 seats are assigned"),
        "{refused}"
    );
    assert_eq!(
        f.seats
            .set_pool(&f.store, Some(5), admin_event(AuditAction::SeatPoolSet))
            .await
            .unwrap(),
        None
    );
    f.seats
        .set_reservation(
            &f.store,
            globex,
            6,
            admin_event(AuditAction::SeatReservationSet),
        )
        .await
        .unwrap_err();
    f.seats
        .set_reservation(
            &f.store,
            globex,
            2,
            admin_event(AuditAction::SeatReservationSet),
        )
        .await
        .unwrap();
    let stored = f.store.load_seats().await.unwrap();
    assert_eq!(stored.pool, Some(Some(5)));
    assert_eq!(stored.reservations, [(globex, 2)]);
    let events = seat_actions(&f.store).await;
    assert!(events.contains(&"seat.pool.set key_admin group".to_owned()));
    assert!(events.contains(&format!("seat.reservation.set key_admin {globex}")));
    f.writer.shutdown().await;
}
