//! Usage records and request-path audit events survive `kill -9` of `fabrique serve` under load:
//! the database is intact, the server starts again on it, and after the restart it holds the
//! record of every request a client was answered, up to the kill (the spill journal, replayed at
//! start).
//!
//! The real binary runs on SQLite in a temporary data directory, with the embedded simulator as its
//! GPU backend. Nothing here sleeps: the load runs until it has lasted long enough, measured on the
//! acknowledgements themselves, and every wait is for an event.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{Connection, Row, SqliteConnection};
use tokio::sync::watch;

use crate::harness::chat_body;
use crate::process::{Serve, user_key};

/// How long the load runs before the kill: long enough for batches in flight and in the journal.
const LOAD_BEFORE_KILL: Duration = Duration::from_millis(1_500);
const CLIENTS: usize = 8;

/// The simulator answers at once; `restricted` is cleared for `internal` only, so a request labelled
/// `secret` is refused on the request path and audited.
const CONFIG: &str = r#"
[simulator]
ttft_ms = 0
tokens_per_second = 1000000
capacity = 256

[routing]
health_check_interval_ms = 0

[[endpoints]]
name = "gpu"
kind = "simulator"
hosting = "on_premises"
clearance = "internal"
capacity = 256

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu"]
input_price_per_million = 0.2
output_price_per_million = 0.6

[[entities]]
slug = "acme"
name = "Acme"
"#;

/// The request ids a client got a complete answer for, with the instant of the answer.
#[derive(Default)]
struct Acknowledged {
    usage: Vec<(String, Instant)>,
    /// Refusals audited on the request path.
    audit: Vec<(String, Instant)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_acknowledged_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fabrique.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.path().join("data");

    let mut server = Serve::start(&config, &data);
    let http = reqwest::Client::new();
    let key = user_key(&http, &server.base, "acme", "ada").await;

    // Load from several clients until it has lasted LOAD_BEFORE_KILL, then kill -9 mid-flight.
    let (acks_tx, mut acks_rx) = watch::channel(0_usize);
    let acks_tx = Arc::new(acks_tx);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, base, key) = (http.clone(), server.base.clone(), key.clone());
            let (acks_tx, stop) = (Arc::clone(&acks_tx), Arc::clone(&stop));
            tokio::spawn(async move { drive(client, http, base, key, acks_tx, stop).await })
        })
        .collect();
    let load_started = Instant::now();
    while load_started.elapsed() < LOAD_BEFORE_KILL {
        if acks_rx.changed().await.is_err() {
            break;
        }
    }
    let killed_at = Instant::now();
    server.child.kill().unwrap(); // SIGKILL on Unix.
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Acknowledged::default();
    for client in clients {
        let done = client.await.unwrap();
        acked.usage.extend(done.usage);
        acked.audit.extend(done.audit);
    }
    assert!(
        acked.usage.len() >= 100 && !acked.audit.is_empty(),
        "the load must have been answered: {} answers, {} refusals",
        acked.usage.len(),
        acked.audit.len()
    );

    // The database after the crash: intact, fully migrated, and holding every old-enough record.
    let mut db = sqlite(&data).await;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(applied.len(), migration_count(), "{applied:?}");
    assert!(applied.iter().all(|(_, success)| *success), "{applied:?}");
    db.close().await.unwrap();

    // The server starts again on the same data, writes what its journal holds, serves, and records.
    let mut server = Serve::start(&config, &data);
    let response = http
        .post(format!("{}/v1/chat/completions", server.base))
        .bearer_auth(&key)
        .header("x-request-id", "after-restart")
        .json(&chat_body("mistral-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.terminate();
    let mut db = sqlite(&data).await;
    let stored_usage = column(
        &mut db,
        "SELECT client_request_id FROM usage_records WHERE status IN (200, 403)",
    )
    .await;
    let stored_audit: HashSet<String> = column(
        &mut db,
        "SELECT detail FROM audit_events WHERE action = 'inference.classification_not_permitted'",
    )
    .await
    .iter()
    .filter_map(|detail| serde_json::from_str::<Value>(detail).ok())
    .filter_map(|detail| detail["client_request_id"].as_str().map(str::to_owned))
    .collect();
    let missing = |acks: &[(String, Instant)], stored: &HashSet<String>| -> Vec<String> {
        acks.iter()
            .filter(|(id, _)| !stored.contains(id))
            .map(|(id, at)| format!("{id} ({:?} before the kill)", killed_at - *at))
            .collect()
    };
    // Refused requests are metered too: every acknowledged answer has its usage record.
    let all_acked: Vec<_> = acked.usage.iter().chain(&acked.audit).cloned().collect();
    assert_eq!(missing(&all_acked, &stored_usage), Vec::<String>::new());
    assert_eq!(missing(&acked.audit, &stored_audit), Vec::<String>::new());
    // And once only: the journal's replay skips what the database already held.
    let once: Vec<String> = column_all(
        &mut db,
        "SELECT client_request_id FROM usage_records WHERE client_request_id LIKE 'crash-%'",
    )
    .await;
    assert_eq!(once.len(), once.iter().collect::<HashSet<_>>().len());
    let after = column(
        &mut db,
        "SELECT request_id FROM usage_records WHERE client_request_id = 'after-restart'",
    )
    .await;
    assert_eq!(after.len(), 1);
    eprintln!(
        "acknowledged {} requests ({} audited refusals), all stored after the restart",
        all_acked.len(),
        acked.audit.len(),
    );
    db.close().await.unwrap();

    // The audit chain links up after the crash.
    let verify = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// One client's loop: chat requests (every fourth one labelled `secret`, which is refused and
/// audited), each with its own request id, until the server goes away.
async fn drive(
    client: usize,
    http: reqwest::Client,
    base: String,
    key: String,
    acks: Arc<watch::Sender<usize>>,
    stop: Arc<AtomicBool>,
) -> Acknowledged {
    let mut acked = Acknowledged::default();
    let body = chat_body("mistral-small");
    for n in 0_u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let id = format!("crash-{client}-{n}");
        let refused = n % 4 == 3;
        let mut request = http
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&key)
            .header("x-request-id", &id)
            .json(&body);
        if refused {
            request = request.header("x-fabrique-classification", "secret");
        }
        let Ok(response) = request.send().await else {
            break;
        };
        let status = response.status().as_u16();
        let echoed = response.headers().get("x-client-request-id").cloned();
        // Acknowledged means the whole answer arrived, not just its headers.
        let Ok(text) = response.text().await else {
            break;
        };
        let at = Instant::now();
        assert_eq!(echoed.as_ref().map(|v| v.as_bytes()), Some(id.as_bytes()));
        match (refused, status) {
            (false, 200) => {
                assert!(text.contains("chat.completion"), "{text}");
                acked.usage.push((id, at));
            }
            (true, 403) => {
                assert!(text.contains("classification_not_permitted"), "{text}");
                acked.audit.push((id, at));
            }
            _ => panic!("unexpected answer {status} to {id}: {text}"),
        }
        acks.send_modify(|count| *count += 1);
    }
    acked
}

async fn sqlite(data: &Path) -> SqliteConnection {
    let path = data.join(store::SQLITE_FILE_NAME);
    SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// The first column of every row of `sql`, as text.
async fn column(db: &mut SqliteConnection, sql: &str) -> HashSet<String> {
    column_all(db, sql).await.into_iter().collect()
}

/// The first column of every row of `sql`, as text, repeats included.
async fn column_all(db: &mut SqliteConnection, sql: &str) -> Vec<String> {
    sqlx::query(sql)
        .fetch_all(db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect()
}

/// The SQLite migrations the store ships.
fn migration_count() -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../store/migrations/sqlite");
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count()
}
