//! Seats in the store, on both backends: what `seats::Seats` decided is written with its audit
//! event and read back at start; a user's suspension and deletion, and an entity's suspension,
//! release seats in their own transaction.

use domain::seat_ledger::Shortage;
use domain::{AuditAction, EntityId, Status, UserId};
use store::{NewUser, SeatChange, SeatClaim, Store, UserFields};

use crate::audit;

async fn user(store: &Store, entity: EntityId, name: &str) -> UserId {
    let new = NewUser {
        entity_id: entity,
        user_name: name.into(),
        email: format!("{name}@example.com"),
        display_name: None,
        external_id: None,
    };
    store
        .create_provisioned_user(
            &new,
            Status::Active,
            "{}",
            &audit(AuditAction::UserProvision),
        )
        .await
        .unwrap()
        .user
        .id
}

/// Suspends `user` (named `name`, as `user` created them) through provisioning; returns the
/// fields written.
async fn suspend(store: &Store, user: UserId, name: &str) -> UserFields {
    let suspended = UserFields {
        user_name: name.into(),
        email: format!("{name}@example.com"),
        display_name: None,
        external_id: None,
        status: Status::Suspended,
        attributes: "{}".into(),
    };
    store
        .replace_provisioned_user(user, 1, &suspended, &audit(AuditAction::UserUpdate))
        .await
        .unwrap();
    suspended
}

fn change(user: UserId, entity: EntityId, assigned: bool, at: i64) -> SeatChange {
    SeatChange {
        user_id: user,
        entity_id: entity,
        assigned,
        at,
        audit: audit(if assigned {
            AuditAction::SeatAssign
        } else {
            AuditAction::SeatReclaim
        }),
    }
}

/// Records a seat assignment decided at `at`; returns how many seats the store then holds.
async fn assign_and_count(store: &Store, user: UserId, entity: EntityId, at: i64) -> usize {
    store
        .record_seat_changes(&[change(user, entity, true, at)], None)
        .await
        .unwrap();
    store.load_seats().await.unwrap().held.len()
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

async fn seat_events(store: &Store) -> Vec<(String, String)> {
    let mut events: Vec<_> = store
        .list_audit(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e)| e.action.family() == domain::AuditFamily::Seat)
        .map(|(_, e)| (e.action.to_string(), e.target))
        .collect();
    events.reverse();
    events
}

pub async fn seat_changes_pool_reservations_and_activity_round_trip(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap()
        .id;
    let (ada, bob) = (
        user(store, acme, "ada").await,
        user(store, acme, "bob").await,
    );
    assert_eq!(store.load_seats().await.unwrap().pool, None, "never set");
    store
        .record_seat_changes(
            &[change(ada, acme, true, 10), change(bob, acme, true, 20)],
            None,
        )
        .await
        .unwrap();
    // Assigning a held seat again changes nothing and writes no event.
    store
        .record_seat_changes(&[change(ada, acme, true, 30)], None)
        .await
        .unwrap();
    store
        .set_seat_pool(Some(40_000), &audit(AuditAction::SeatPoolSet))
        .await
        .unwrap();
    store
        .set_seat_reservation(acme, 12, &audit(AuditAction::SeatReservationSet))
        .await
        .unwrap();
    store
        .set_seat_reservation(acme, 7, &audit(AuditAction::SeatReservationSet))
        .await
        .unwrap();
    store.record_activity(&[(ada, 500)]).await.unwrap();
    store.record_activity(&[(ada, 400)]).await.unwrap();

    let stored = store.load_seats().await.unwrap();
    assert_eq!(stored.pool, Some(Some(40_000)));
    assert_eq!(stored.reservations, [(acme, 7)]);
    let held = sorted(
        stored
            .held
            .iter()
            .map(|s| (s.user_id, s.assigned_at, s.last_active_at))
            .collect(),
    );
    assert_eq!(
        held,
        sorted(vec![(ada, 10, Some(500)), (bob, 20, None)]),
        "activity never moves backwards"
    );

    store
        .record_seat_changes(&[change(bob, acme, false, 50)], None)
        .await
        .unwrap();
    store
        .set_seat_pool(None, &audit(AuditAction::SeatPoolSet))
        .await
        .unwrap();
    let stored = store.load_seats().await.unwrap();
    assert_eq!(stored.pool, Some(None), "set to unlimited");
    assert_eq!(stored.held.len(), 1);
    let events = seat_events(store).await;
    assert_eq!(events.iter().filter(|(a, _)| a == "seat.assign").count(), 2);
    assert!(events.contains(&("seat.reclaim".to_owned(), bob.to_string())));
}

pub async fn suspension_and_deletion_release_the_seat_with_the_change(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap()
        .id;
    let ada = user(store, acme, "ada").await;
    store
        .record_seat_changes(&[change(ada, acme, true, 10)], None)
        .await
        .unwrap();
    let suspended = suspend(store, ada, "ada").await;
    let stored = store.load_seats().await.unwrap();
    assert!(stored.held.is_empty());
    assert_eq!(stored.suspended, [ada]);
    assert_eq!(
        seat_events(store).await.last(),
        Some(&("seat.release".to_owned(), ada.to_string()))
    );

    // An assignment decided before the suspension but stored after it leaves the seat free.
    assert_eq!(assign_and_count(store, ada, acme, 15).await, 0);

    let active = UserFields {
        status: Status::Active,
        ..suspended
    };
    store
        .replace_provisioned_user(ada, 2, &active, &audit(AuditAction::UserUpdate))
        .await
        .unwrap();
    assert_eq!(assign_and_count(store, ada, acme, 20).await, 1);
    store
        .delete_provisioned_user(ada, &audit(AuditAction::UserDeprovision))
        .await
        .unwrap();
    let stored = store.load_seats().await.unwrap();
    assert!(stored.held.is_empty());
    assert!(stored.suspended.is_empty(), "deleted users are not listed");
    let releases = seat_events(store)
        .await
        .iter()
        .filter(|(a, _)| a == "seat.release")
        .count();
    assert_eq!(releases, 2);
    let assigns = seat_events(store)
        .await
        .iter()
        .filter(|(a, _)| a == "seat.assign")
        .count();
    assert_eq!(
        assigns, 2,
        "the assignment that lost the race is not audited"
    );
}

pub async fn an_entitys_suspension_releases_its_seats_and_keeps_them_free(store: &Store) {
    let create = async |slug: &str| {
        store
            .create_entity(slug, slug, &audit(AuditAction::EntityCreate))
            .await
            .unwrap()
            .id
    };
    let (acme, globex) = (create("acme").await, create("globex").await);
    let (ada, bob, carol) = (
        user(store, acme, "ada").await,
        user(store, acme, "bob").await,
        user(store, globex, "carol").await,
    );
    store
        .record_seat_changes(
            &[
                change(ada, acme, true, 10),
                change(bob, acme, true, 10),
                change(carol, globex, true, 10),
            ],
            None,
        )
        .await
        .unwrap();
    assert!(
        store
            .set_entity_status(acme, Status::Suspended, &audit(AuditAction::EntitySuspend))
            .await
            .unwrap()
    );
    let held: Vec<UserId> = store
        .load_seats()
        .await
        .unwrap()
        .held
        .iter()
        .map(|seat| seat.user_id)
        .collect();
    assert_eq!(held, [carol], "only the other entity's seat is left");
    let released = seat_events(store)
        .await
        .into_iter()
        .filter(|(action, _)| action == "seat.release")
        .map(|(_, target)| target)
        .collect();
    assert_eq!(
        sorted(released),
        sorted(vec![ada.to_string(), bob.to_string()]),
        "one event per released seat"
    );

    // An assignment decided before the suspension but stored after it leaves the seat free.
    assert_eq!(assign_and_count(store, ada, acme, 15).await, 1);

    store
        .set_entity_status(acme, Status::Active, &audit(AuditAction::EntityReactivate))
        .await
        .unwrap();
    assert_eq!(assign_and_count(store, ada, acme, 20).await, 2);
}

/// A first seat claimed at once: given while the pool allows it (with its one event), held
/// already when claimed again, refused with the pool's reason, and never given to a user
/// suspended.
pub async fn a_claimed_seat_is_given_held_refused_or_withheld_from_the_suspended(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap()
        .id;
    let (ada, bob) = (
        user(store, acme, "ada").await,
        user(store, acme, "bob").await,
    );
    let claim = |user| async move {
        store
            .claim_seat(&change(user, acme, true, 10), Some(1))
            .await
            .unwrap()
    };
    assert_eq!(claim(ada).await, SeatClaim::Held);
    assert_eq!(claim(ada).await, SeatClaim::Held);
    assert_eq!(
        claim(bob).await,
        SeatClaim::Refused(Shortage::PoolExhausted { size: 1 })
    );
    assert_eq!(
        seat_events(store).await,
        [("seat.assign".to_owned(), ada.to_string())]
    );

    suspend(store, bob, "bob").await;
    store
        .set_seat_pool(Some(2), &audit(AuditAction::SeatPoolSet))
        .await
        .unwrap();
    assert_eq!(claim(bob).await, SeatClaim::Ineligible);
    let held = store.load_seats().await.unwrap().held;
    assert_eq!(held.iter().map(|h| h.user_id).collect::<Vec<_>>(), [ada]);
}

/// Two replicas (two stores on one PostgreSQL schema) writing sixteen first-use assignments at
/// once into a pool of five, two of them reserved for one entity: the database holds five seats,
/// the other entity at most three, and each assignment is either written or reported refused.
#[tokio::test]
async fn replicas_assigning_at_once_never_overcommit_the_pool_or_the_reservations() {
    let Some(db) = crate::harness::TestDb::postgres().await else {
        return;
    };
    let store = &db.store;
    let entity = |slug: &'static str| async move {
        store
            .create_entity(slug, slug, &audit(AuditAction::EntityCreate))
            .await
            .unwrap()
            .id
    };
    let (acme, globex) = (entity("acme").await, entity("globex").await);
    store
        .set_seat_pool(Some(5), &audit(AuditAction::SeatPoolSet))
        .await
        .unwrap();
    store
        .set_seat_reservation(acme, 2, &audit(AuditAction::SeatReservationSet))
        .await
        .unwrap();
    let mut changes = Vec::new();
    for i in 0..8 {
        changes.push(change(
            user(store, globex, &format!("g{i}")).await,
            globex,
            true,
            10,
        ));
        changes.push(change(
            user(store, acme, &format!("a{i}")).await,
            acme,
            true,
            10,
        ));
    }
    let other = Store::connect(&db.url).await.unwrap();
    let writes: Vec<_> = changes
        .into_iter()
        .enumerate()
        .map(|(i, change)| {
            let replica = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move { replica.record_seat_changes(&[change], None).await })
        })
        .collect();
    let mut refused = 0;
    for write in writes {
        refused += write.await.unwrap().unwrap().len();
    }

    let held = store.load_seats().await.unwrap().held;
    assert_eq!(held.len(), 5, "{held:?}");
    assert_eq!(refused, 11);
    let of_globex = held.iter().filter(|h| h.entity_id == globex).count();
    assert!(
        of_globex <= 3,
        "globex took acme's reserved seats: {held:?}"
    );
    other.close().await;
    db.finish().await;
}

/// On SQLite a transaction that reads, then writes, fails at once when another writer committed
/// in between; the seats' transaction reads the pool first, so it must take the write lock
/// before it reads. Seats assigned while other writers commit are all written.
#[tokio::test]
async fn seats_are_written_while_other_writers_commit_on_sqlite() {
    let db = crate::harness::TestDb::sqlite().await;
    let store = &db.store;
    let acme = store
        .create_entity("acme", "acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap()
        .id;
    let mut users = Vec::new();
    for i in 0..40 {
        users.push(user(store, acme, &format!("u{i}")).await);
    }
    let mut tasks = Vec::new();
    for (i, user) in users.into_iter().enumerate() {
        let seats = store.clone();
        tasks.push(tokio::spawn(async move {
            seats
                .record_seat_changes(&[change(user, acme, true, 10)], None)
                .await
                .map(|_| ())
        }));
        let other = store.clone();
        tasks.push(tokio::spawn(async move {
            let slug = format!("e{i}");
            other
                .create_entity(&slug, &slug, &audit(AuditAction::EntityCreate))
                .await
                .map(|_| ())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(store.load_seats().await.unwrap().held.len(), 40);
}
