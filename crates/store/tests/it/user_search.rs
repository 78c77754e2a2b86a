//! The users directory's search rows of users written before migration 0033, filled at start.

use domain::{AuditAction, UserId};
use store::{NewUser, Store, UserSearch};

use crate::audit;
use crate::harness::{TestDb, both_backends_raw};

both_backends_raw! {
    users_written_before_the_search_rows_are_found_once_filled_at_start,
}

/// More than two of the start's batches of users, each over many multi-row statements.
const LEGACY_USERS: usize = 2_500;

const FIRST_NAMES: [&str; 4] = ["Camille", "Léa", "Hugo", "Zoé"];

/// Users as the database held them before migration 0033 wrote search rows: the rows of the
/// users table only, one of them deleted.
fn legacy_users_insert(entity: &str) -> String {
    let rows: Vec<String> = (0..=LEGACY_USERS)
        .map(|i| {
            let display = format!("{} Dupont {i}", FIRST_NAMES[i % FIRST_NAMES.len()]);
            let deleted = if i == LEGACY_USERS { "1" } else { "NULL" };
            format!(
                "('{}', '{entity}', 'user{i}', 'user{i}@example.org', '{display}', 'active', 1, \
                 'user{i}', 'user{i}@example.org', '{}', '{{}}', 1, 1, {deleted})",
                UserId::generate(),
                display.to_lowercase(),
            )
        })
        .collect();
    format!(
        "INSERT INTO users (id, entity_id, user_name, email, display_name, status, created_at, \
         user_name_folded, email_folded, display_name_folded, attributes, updated_at, version, \
         deleted_at) VALUES {}",
        rows.join(", ")
    )
}

async fn found(store: &Store, query: &str) -> Vec<String> {
    let search = UserSearch {
        query: Some(query.into()),
        limit: 10 * LEGACY_USERS as u64,
        ..Default::default()
    };
    let users = store.search_users(&search).await.unwrap();
    users.into_iter().map(|u| u.user_name).collect()
}

async fn users_written_before_the_search_rows_are_found_once_filled_at_start(db: &TestDb) {
    let acme = db
        .store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let new = NewUser {
        entity_id: acme.id,
        user_name: "hdupont".into(),
        email: "h.dupont@example.com".into(),
        display_name: Some("Héloïse Dupont".into()),
        external_id: None,
    };
    db.store
        .create_user(&new, &audit(AuditAction::UserCreate))
        .await
        .unwrap();
    db.execute(&legacy_users_insert(&acme.id.to_string())).await;
    assert_eq!(
        found(&db.store, "example.org").await.len(),
        0,
        "not filled yet"
    );

    let started = Store::connect(&db.url).await.unwrap();
    let live = LEGACY_USERS;
    assert_eq!(found(&started, "example.org").await.len(), live);
    assert_eq!(found(&started, "user").await.len(), live, "user names");
    assert_eq!(found(&started, "dupont").await.len(), live + 1);
    assert_eq!(found(&started, "lea").await.len(), live / FIRST_NAMES.len());
    assert_eq!(found(&started, "ZOE DUPONT 2499").await, ["user2499"]);
    assert_eq!(found(&started, "1234").await, ["user1234"], "a word inside");
    assert_eq!(found(&started, "user1999@").await, ["user1999"]);
    assert_eq!(
        found(&started, "héloïse").await,
        ["hdupont"],
        "written with the user"
    );
    let deleted = format!("user{LEGACY_USERS}");
    assert_eq!(found(&started, &deleted).await, Vec::<String>::new());
    started.close().await;

    // A later start has nothing left to fill and finds the same.
    let again = Store::connect(&db.url).await.unwrap();
    assert_eq!(found(&again, "org").await.len(), live);
    again.close().await;
}
