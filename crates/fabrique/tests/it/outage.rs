//! PostgreSQL unreachable under load: `fabrique serve` on PostgreSQL reaches it through a relay
//! ([`Relay`]) that the test cuts while clients keep sending requests through their keys. Cut,
//! every request of a seated user is still authenticated, routed and answered from memory, and its
//! usage record (and a refusal's audit event) spills to the journal; what needs the database (a
//! new user, a new entity) fails with a clear 503. Restored, every record of every answered
//! request reaches PostgreSQL exactly once, also when the first batch written after the outage
//! commits and its answer is lost in a second cut, and `fabrique audit verify` passes.
//!
//! Runs only when `FABRIQUE_TEST_POSTGRES_URL` is set. Nothing sleeps for a set time: the load
//! phases end on answers counted, the cut is seen in the server's log, and the drain is polled
//! with a deadline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, Row};
use tokio::sync::watch;

use crate::harness::{ADMIN_KEY, SchemaGuard, chat_body, postgres_schema};
use crate::process::{Serve, user_key};
use crate::relay::Relay;

const CLIENTS: usize = 6;
/// Answers counted in each phase before the test moves on.
const ANSWERS_BEFORE: usize = 60;
const ANSWERS_DURING: usize = 300;
const ANSWERS_AFTER: usize = 60;
/// How long the records may take to reach PostgreSQL once it is back: far above what it takes
/// (the writer's pause between tries is 5 s at most); the wait ends when they are there.
const DRAIN_DEADLINE: Duration = Duration::from_secs(120);

/// The simulator answers at once; `restricted` is cleared for `internal` only, so a request
/// labelled `secret` is refused on the request path and audited.
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

[[entities]]
slug = "acme"
name = "Acme"
"#;

/// The phases of the test, as the clients tag their answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Before,
    Cut,
    Restored,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::Before, Phase::Cut, Phase::Restored];
}

/// An answered request: its id, whether it was a refusal (audited), and the phase it was answered in.
struct Answered {
    id: String,
    refused: bool,
    phase: Phase,
}

/// The load's shared state: the phase, answers counted per phase, and the stop.
struct Load {
    phase: AtomicU8,
    answers: watch::Sender<[usize; 3]>,
    stop: AtomicBool,
}

impl Load {
    fn phase(&self) -> Phase {
        Phase::ALL[usize::from(self.phase.load(Ordering::Acquire))]
    }

    fn enter(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
        // Wakes the clients holding back until the phase changes.
        self.answers.send_modify(|_| {});
    }

    /// Holds a client back once the cut has its answers: the journals are bounded (64 MiB, about
    /// 100,000 records each), and the cut lasts as long as the refusals' pool waits.
    async fn enough_during_the_cut(&self) {
        let mut answers = self.answers.subscribe();
        answers
            .wait_for(|answers| {
                self.phase() != Phase::Cut || answers[Phase::Cut as usize] < ANSWERS_DURING
            })
            .await
            .unwrap();
    }

    /// Waits until `count` requests were answered in `phase`.
    async fn until_answered(&self, phase: Phase, count: usize) {
        let mut answers = self.answers.subscribe();
        answers
            .wait_for(|answers| answers[phase as usize] >= count)
            .await
            .unwrap();
    }
}

/// A server on PostgreSQL through a relay, and what the tests use with it.
struct Setup {
    /// Kept for the test's length: dropped, its schema goes.
    _schema: SchemaGuard,
    /// PostgreSQL's URL, not through the relay.
    direct: String,
    relay: Relay,
    /// The server's data directory (its journal), inside `_dir`.
    data: PathBuf,
    _dir: tempfile::TempDir,
    server: Serve,
    http: reqwest::Client,
}

/// Starts [`Setup`]; `None` when the tests do not run on PostgreSQL.
async fn serve_through_a_relay() -> Option<Setup> {
    let schema = postgres_schema().await?;
    let direct = schema.url();
    let relay = Relay::start_to(&direct).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fabrique.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.path().join("data");
    let server = Serve::start_on(&config, &data, Some(&relay.url(&direct)));
    let http = reqwest::Client::builder()
        // A bound on a hang, not a timing assertion: every answer here takes milliseconds.
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    Some(Setup {
        _schema: schema,
        direct,
        relay,
        data,
        _dir: dir,
        server,
        http,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_under_load_loses_no_record_and_stores_none_twice() {
    let Some(Setup {
        _schema,
        direct,
        mut relay,
        data,
        _dir,
        mut server,
        http,
    }) = serve_through_a_relay().await
    else {
        return;
    };
    let key = user_key(&http, &server.base, "acme", "ada").await;
    // Bea has a key and a seat but has never sent a request.
    let newcomer = user_key(&http, &server.base, "acme", "bea").await;

    let (answers, _) = watch::channel([0; 3]);
    let load = Arc::new(Load {
        phase: AtomicU8::new(Phase::Before as u8),
        answers,
        stop: AtomicBool::new(false),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, base, key) = (http.clone(), server.base.clone(), key.clone());
            let load = Arc::clone(&load);
            tokio::spawn(async move { drive(client, http, base, key, load).await })
        })
        .collect();
    load.until_answered(Phase::Before, ANSWERS_BEFORE).await;

    relay.cut().await;
    load.enter(Phase::Cut);
    // The usage writer has tried to write a batch and PostgreSQL was not there.
    tokio::task::block_in_place(|| server.until_log("batch not written; kept and tried again"));
    what_needs_the_database_fails_clearly(&http, &server.base, &newcomer).await;
    load.until_answered(Phase::Cut, ANSWERS_DURING).await;
    assert!(
        journal_lines(&data.join("journal")) > 0,
        "the records answered during the cut wait in the journal"
    );

    // The first batch of usage records written once PostgreSQL is back commits, but its answer is
    // lost in a second cut: the writer cannot tell it from a batch refused, and tries it again.
    relay.lose_answer(b"INSERT INTO usage_records (", b"COMMIT");
    relay.restore().await;
    load.enter(Phase::Restored);
    relay.answer_lost().await;
    relay.cut().await;
    relay.restore().await;
    load.until_answered(Phase::Restored, ANSWERS_AFTER).await;
    load.stop.store(true, Ordering::Release);
    let mut answered = Vec::new();
    for client in clients {
        answered.extend(client.await.unwrap());
    }
    let during = answered.iter().filter(|a| a.phase == Phase::Cut).count();
    assert!(during >= ANSWERS_DURING, "{during} answered during the cut");

    let mut db = PgConnection::connect(&direct).await.unwrap();
    let started = Instant::now();
    let (usage, audit) = loop {
        let stored = (stored_usage(&mut db).await, stored_audit(&mut db).await);
        if answered.iter().all(|a| is_stored(a, &stored.0, &stored.1)) {
            break stored;
        }
        assert!(
            started.elapsed() < DRAIN_DEADLINE,
            "records still missing {DRAIN_DEADLINE:?} after PostgreSQL came back: {:?}",
            missing(&answered, &stored.0, &stored.1)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "{} answered ({during} during the cut), all stored {:?} after PostgreSQL came back",
        answered.len(),
        started.elapsed()
    );
    server.terminate();
    // Once each, also after the clean shutdown wrote whatever was left.
    let after = (stored_usage(&mut db).await, stored_audit(&mut db).await);
    for (kind, stored) in [("usage records", &after.0), ("audit events", &after.1)] {
        let twice = twice(stored);
        assert!(
            twice.is_empty(),
            "{} {kind} stored twice, among them {:?}",
            twice.len(),
            &twice[..twice.len().min(5)]
        );
    }
    assert!(after.0.len() >= usage.len() && after.1.len() >= audit.len());
    db.close().await.unwrap();

    let verify = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(["audit", "verify", "--database-url", &direct, "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    drop(relay);
}

/// Found by `bench/outage.py`: PostgreSQL silent rather than refusing (a firewall dropping
/// packets, connections left open and unanswered) hung the writers on a query that never ended,
/// past PostgreSQL's return. Silent under a few requests, then back: every answered request's
/// usage record and audit event reaches PostgreSQL, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_silent_then_back_loses_no_record_and_stores_none_twice() {
    let Some(Setup {
        _schema,
        direct,
        mut relay,
        _dir,
        mut server,
        http,
        ..
    }) = serve_through_a_relay().await
    else {
        return;
    };
    let key = user_key(&http, &server.base, "acme", "ada").await;
    let body = chat_body("mistral-small");
    let mut answered = Vec::new();
    let mut send = async |phase: Phase, count: u64| {
        for n in 0..count {
            let (id, refused) = (format!("outage-silent-{phase:?}-{n}"), n % 4 == 3);
            ask(&http, &server.base, &key, &body, &id, refused)
                .await
                .unwrap();
            answered.push(Answered { id, refused, phase });
        }
    };
    // Silent once the usage writer is in a transaction: its batch never reaches PostgreSQL, and
    // nothing answers it.
    relay.silence_at(b"INSERT INTO usage_records (");
    send(Phase::Before, 8).await;
    relay.swallowed().await;
    send(Phase::Cut, 8).await;
    relay.restore().await;
    send(Phase::Restored, 8).await;

    let mut db = PgConnection::connect(&direct).await.unwrap();
    let started = Instant::now();
    loop {
        let (usage, audit) = (stored_usage(&mut db).await, stored_audit(&mut db).await);
        if answered.iter().all(|a| is_stored(a, &usage, &audit)) {
            break;
        }
        assert!(
            started.elapsed() < DRAIN_DEADLINE,
            "records still missing {DRAIN_DEADLINE:?} after PostgreSQL came back: {:?}",
            missing(&answered, &usage, &audit)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.terminate();
    for (kind, stored) in [
        ("usage records", stored_usage(&mut db).await),
        ("audit events", stored_audit(&mut db).await),
    ] {
        assert!(
            twice(&stored).is_empty(),
            "{kind} stored twice: {:?}",
            twice(&stored)
        );
    }
    db.close().await.unwrap();
    drop(relay);
}

/// During the cut: a user seated when she was provisioned, sending her first request, is answered
/// from memory; a new user, or a new entity, needs the database: refused with a 503 that says so.
async fn what_needs_the_database_fails_clearly(http: &reqwest::Client, base: &str, newcomer: &str) {
    let first = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(newcomer)
        .json(&chat_body("mistral-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200, "{:?}", first.text().await);

    for (path, body) in [
        (
            "/admin/v1/users",
            json!({"entity": "acme", "user_name": "cleo", "email": "cleo@example.test"}),
        ),
        (
            "/admin/v1/entities",
            json!({"slug": "beta", "name": "Beta"}),
        ),
    ] {
        let refused = http
            .post(format!("{base}{path}"))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 503, "{path}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "store_unavailable", "{path}: {body}");
    }
}

/// One client's loop: chat requests (every fourth one labelled `secret`, refused and audited),
/// each with its own request id, until told to stop. Every answer must be the expected one.
async fn drive(
    client: usize,
    http: reqwest::Client,
    base: String,
    key: String,
    load: Arc<Load>,
) -> Vec<Answered> {
    let mut answered = Vec::new();
    let body = chat_body("mistral-small");
    for n in 0_u64.. {
        if load.stop.load(Ordering::Acquire) {
            break;
        }
        load.enough_during_the_cut().await;
        let id = format!("outage-{client}-{n}");
        let refused = n % 4 == 3;
        let phase = load.phase();
        let asked = ask(&http, &base, &key, &body, &id, refused).await;
        assert!(asked.is_ok(), "in {phase:?}: {asked:?}");
        // Counted in the phase it was sent and answered in; one sent before the cut and answered
        // after counts in neither's wait but is checked like every other.
        let now = load.phase();
        answered.push(Answered {
            id,
            refused,
            phase: now,
        });
        if now == phase {
            load.answers
                .send_modify(|answers| answers[now as usize] += 1);
        }
    }
    answered
}

/// Sends one chat request with its own id, labelled `secret` (refused and audited) when
/// `refused`; what was answered when it is not the expected answer.
async fn ask(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    body: &Value,
    id: &str,
    refused: bool,
) -> Result<(), String> {
    let mut request = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .header("x-request-id", id)
        .json(body);
    if refused {
        request = request.header("x-fabrique-classification", "secret");
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    match (refused, status) {
        (false, 200) if text.contains("chat.completion") => Ok(()),
        (true, 403) if text.contains("classification_not_permitted") => Ok(()),
        _ => Err(format!("{id} answered {status}: {text}")),
    }
}

/// How many times each request id of the load has a usage record.
async fn stored_usage(db: &mut PgConnection) -> HashMap<String, i64> {
    let rows = sqlx::query(
        "SELECT client_request_id, COUNT(*) FROM usage_records \
         WHERE client_request_id LIKE 'outage-%' GROUP BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

/// How many times each refused request of the load has its audit event.
async fn stored_audit(db: &mut PgConnection) -> HashMap<String, i64> {
    let rows = sqlx::query(
        "SELECT detail FROM audit_events WHERE action = 'inference.classification_not_permitted'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let mut counts = HashMap::new();
    for row in rows {
        let detail: Value = serde_json::from_str(&row.get::<String, _>(0)).unwrap();
        if let Some(id) = detail["client_request_id"].as_str() {
            *counts.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

fn is_stored(
    answered: &Answered,
    usage: &HashMap<String, i64>,
    audit: &HashMap<String, i64>,
) -> bool {
    usage.contains_key(&answered.id) && (!answered.refused || audit.contains_key(&answered.id))
}

fn missing<'a>(
    answered: &'a [Answered],
    usage: &HashMap<String, i64>,
    audit: &HashMap<String, i64>,
) -> Vec<(&'a str, Phase)> {
    answered
        .iter()
        .filter(|a| !is_stored(a, usage, audit))
        .map(|a| (a.id.as_str(), a.phase))
        .collect()
}

fn twice(counts: &HashMap<String, i64>) -> Vec<&String> {
    counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect()
}

/// Records held in the journal's segments.
fn journal_lines(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "jsonl"))
        .map(|entry| {
            std::fs::read_to_string(entry.path())
                .unwrap()
                .lines()
                .count()
        })
        .sum()
}
