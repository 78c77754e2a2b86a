//! Fills a data directory with an entity of N users, each with a seat and an API key, as SCIM and
//! the admin API would leave it (users, keys and seats go through the same store functions, with
//! their audit events), and writes the keys' secrets one per line. For `bench/identity-scale.sh`:
//!
//! `cargo run --release -p store --example populate_directory -- DATA_DIR USERS SECRETS_FILE`

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark tool")]

use std::io::Write;
use std::path::PathBuf;

use domain::{ApiKey, AuditAction, AuditEvent, EntityId, KeyOwner, KeySecret, Outcome, now_millis};
use store::{NewUser, SeatChange, Store};

/// Seat changes stored per transaction.
const SEAT_BATCH: usize = 1_000;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, users, secrets] = args.as_slice() else {
        eprintln!("usage: populate_directory DATA_DIR USERS SECRETS_FILE");
        std::process::exit(2);
    };
    let users: usize = users.parse().expect("USERS must be a number");
    let store = Store::open_in_dir(&PathBuf::from(dir)).await.unwrap();
    let event = |action: AuditAction, entity_id: Option<EntityId>| AuditEvent {
        at: now_millis(),
        actor: "system".into(),
        action,
        entity_id,
        target: String::new(),
        outcome: Outcome::Success,
        detail: "{}".into(),
    };
    let entity = store
        .create_entity(
            "bench",
            "Benchmark",
            &event(AuditAction::EntityCreate, None),
        )
        .await
        .unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(secrets).unwrap());
    let mut seats = Vec::with_capacity(SEAT_BATCH);
    for i in 0..users {
        let user = store
            .create_user(
                &NewUser {
                    entity_id: entity.id,
                    user_name: format!("user-{i:06}"),
                    email: format!("user-{i:06}@example.org"),
                    display_name: None,
                    external_id: None,
                },
                &event(AuditAction::UserCreate, Some(entity.id)),
            )
            .await
            .unwrap();
        let secret = KeySecret::generate();
        let key = ApiKey::issue(
            KeyOwner::User(user.id),
            Some(entity.id),
            &secret,
            now_millis(),
        );
        store
            .create_key(&key, &event(AuditAction::KeyCreate, Some(entity.id)))
            .await
            .unwrap();
        writeln!(out, "{}", secret.expose()).unwrap();
        seats.push(SeatChange {
            user_id: user.id,
            entity_id: entity.id,
            assigned: true,
            at: now_millis(),
            audit: event(AuditAction::SeatAssign, Some(entity.id)),
        });
        if seats.len() == SEAT_BATCH || i + 1 == users {
            store.record_seat_changes(&seats, None).await.unwrap();
            seats.clear();
        }
    }
    out.flush().unwrap();
    eprintln!("{users} users with a seat and a key in {dir}");
}
