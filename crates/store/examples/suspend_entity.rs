//! Times the store's side of an entity's suspension: the status change and the release of every
//! seat its users hold, each with its audit event, in one transaction. Run on a directory that
//! `populate_directory` filled (its entity `bench`). For `bench/entity-suspension.sh`:
//!
//! `cargo run --release -p store --example suspend_entity -- DATA_DIR`

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark tool")]

use std::path::PathBuf;
use std::time::Instant;

use domain::{AuditEvent, Outcome, Status, now_millis};
use store::Store;

#[tokio::main]
async fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: suspend_entity DATA_DIR");
        std::process::exit(2);
    };
    let store = Store::open_in_dir(&PathBuf::from(dir)).await.unwrap();
    let entity = store
        .entity_by_slug("bench")
        .await
        .unwrap()
        .expect("a directory filled by populate_directory");
    let audit = AuditEvent {
        at: now_millis(),
        actor: "system".into(),
        action: domain::AuditAction::EntitySuspend,
        entity_id: Some(entity.id),
        target: String::new(),
        outcome: Outcome::Success,
        detail: "{}".into(),
    };
    let held = |seats: store::StoredSeats| seats.held.len();
    let before = held(store.load_seats().await.unwrap());
    let started = Instant::now();
    let changed = store
        .set_entity_status(entity.id, Status::Suspended, &audit)
        .await
        .unwrap();
    let took = started.elapsed();
    let after = held(store.load_seats().await.unwrap());
    assert!(changed, "the entity was already suspended");
    println!(
        "suspended `bench`: seats held {before} -> {after}, in {:.1} ms",
        took.as_secs_f64() * 1000.0
    );
}
