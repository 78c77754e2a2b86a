//! Retention of prompts and completions: a `full` entity's content is stored encrypted (never in
//! clear in the database), read back by group administrators and the entity's auditors only,
//! purged by age, and erased with its user's content key while usage records stay; a `metadata`
//! entity stores none.

use domain::{AuditEvent, EntityId, KeyOwner, Outcome, Role, now_millis};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

on_both_databases! {
    full_entity_content_is_encrypted_readable_by_its_auditors_and_erased_with_its_key,
    the_purge_deletes_content_past_its_entity_retention,
    content_in_flight_when_its_user_is_erased_is_never_written,
}

const DAY_MS: i64 = 86_400_000;
/// A phrase that must never reach the database in clear.
const SECRET: &str = "Le code du coffre de la salle Vauban est 4242";

fn config() -> String {
    one_endpoint(&format!(
        r#"
[retention]
master_key_env = "{MASTER_KEY_ENV}"

[[entities]]
slug = "acme"
name = "Acme"
[entities.retention]
mode = "full"
days = 30

[[entities]]
slug = "globex"
name = "Globex"
[entities.retention]
mode = "metadata"
"#
    ))
}

fn echo_sim() -> sim::SimConfig {
    sim::SimConfig {
        echo: true,
        ..instant_sim()
    }
}

fn secret_chat(stream: bool) -> Value {
    json!({
        "model": "mistral-small",
        "messages": [{"role": "user", "content": SECRET}],
        "max_tokens": 200,
        "stream": stream,
    })
}

async fn call(t: &TestServer, method: Method, key: &str, path: &str) -> (u16, Value) {
    let response = t
        .http
        .request(method, t.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn range() -> String {
    let zone = reports::Zone::new("UTC").unwrap();
    let now = now_millis();
    format!(
        "from={}&to={}",
        zone.format(now - DAY_MS),
        zone.format(now + DAY_MS)
    )
    .replace('+', "%2B")
}

/// Reads every byte of the SQLite database, main file and write-ahead log: the prompt is in
/// none of them.
fn assert_database_holds_no_clear_text(t: &TestServer) {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        let path = t
            .data_dir()
            .join(format!("{}{suffix}", store::SQLITE_FILE_NAME));
        bytes.extend(std::fs::read(path).unwrap_or_default());
    }
    assert!(
        contains(&bytes, "content_records") && contains(&bytes, "mistral-small"),
        "the database file, with its tables and usage records"
    );
    assert!(
        !contains(&bytes, SECRET) && !contains(&bytes, "salle Vauban"),
        "the prompt is nowhere in the database in clear"
    );
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

async fn full_entity_content_is_encrypted_readable_by_its_auditors_and_erased_with_its_key(
    database: Database,
) {
    let Some(t) = TestServer::start_on(database, vec![echo_sim()], &config()).await else {
        return;
    };
    let (status, _, whole) = t.post("/v1/chat/completions", &secret_chat(false)).await;
    assert_eq!(status, 200, "{whole}");
    let (status, _, streamed) = t.post("/v1/chat/completions", &secret_chat(true)).await;
    assert_eq!(status, 200, "{streamed}");
    let streamed_text = sse_text(&streamed);
    // A `metadata` entity's user: metered, nothing kept.
    let (_, globex_key) = t.create_user_key("globex", "gus").await;
    let (status, _, _) = t
        .post_with_key("/v1/chat/completions", &secret_chat(false), &globex_key)
        .await;
    assert_eq!(status, 200);

    // A restart writes everything queued (no waiting on a timer) and reads keys from the store.
    let t = t.restart().await;
    if let Database::Sqlite = database {
        assert_database_holds_no_clear_text(&t);
    }

    let range = range();
    let (status, read) = call(
        &t,
        Method::GET,
        ADMIN_KEY,
        &format!("/admin/v1/content?user=ada&{range}"),
    )
    .await;
    assert_eq!(status, 200, "{read}");
    let records = read["data"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{read}");
    for record in records {
        assert_eq!(record["readable"], true);
        assert_eq!(record["operation"], "chat");
        assert_eq!(record["model"], "mistral-small");
        assert_eq!(
            record["input"][0]["content"], SECRET,
            "as the caller sent it"
        );
    }
    let whole: Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(
        records[0]["completion"],
        whole["choices"][0]["message"]["content"]
    );
    assert!(!streamed_text.is_empty());
    assert_eq!(
        records[1]["completion"],
        streamed_text.as_str(),
        "the relayed stream"
    );
    let gus = t.server.store.user_by_name("gus").await.unwrap().unwrap();
    assert!(
        t.server
            .store
            .content_of(KeyOwner::User(gus.id), 0, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty(),
        "a metadata entity keeps no content"
    );

    // Acme's auditor reads; Globex's administrator and auditor neither read nor erase.
    let auditor = t
        .create_role_key("acme", "audrey", Role::Auditor, true)
        .await
        .1;
    let (status, body) = call(
        &t,
        Method::GET,
        &auditor,
        &format!("/admin/v1/content?user=ada&{range}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let outsider = t
        .create_role_key("globex", "olga", Role::EntityAdmin, true)
        .await
        .1;
    let outside_auditor = t
        .create_role_key("globex", "otto", Role::Auditor, true)
        .await
        .1;
    // Another entity's user looks missing to whoever holds the right in their own entity; those
    // who hold it nowhere are refused outright.
    for (key, read, erase) in [(&outsider, 403, 404), (&outside_auditor, 404, 403)] {
        let (status, body) = call(
            &t,
            Method::GET,
            key,
            &format!("/admin/v1/content?user=ada&{range}"),
        )
        .await;
        assert_eq!(status, read, "{body}");
        let (status, body) = call(&t, Method::POST, key, "/admin/v1/users/ada/erase").await;
        assert_eq!(status, erase, "{body}");
    }
    let (status, body) = call(&t, Method::POST, &auditor, "/admin/v1/users/ada/erase").await;
    assert_eq!(status, 403, "auditors read, they do not erase: {body}");

    // Acme's administrator erases: key destroyed, content gone, erasing again is harmless.
    let acme_admin = t
        .create_role_key("acme", "alice", Role::EntityAdmin, true)
        .await
        .1;
    // No one erases their own content (what an investigation of them would read).
    let (status, body) = call(&t, Method::POST, &acme_admin, "/admin/v1/users/alice/erase").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "permission_denied", "{body}");
    let (status, erased) = call(&t, Method::POST, &acme_admin, "/admin/v1/users/ada/erase").await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["content_keys_destroyed"], 1);
    assert_eq!(erased["content_records_deleted"], 2);
    let (status, again) = call(&t, Method::POST, ADMIN_KEY, "/admin/v1/users/ada/erase").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["content_keys_destroyed"], 0);
    let (status, read) = call(
        &t,
        Method::GET,
        ADMIN_KEY,
        &format!("/admin/v1/content?user=ada&{range}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read["data"], json!([]));

    // Chargeback still counts the requests.
    let (status, usage) = call(
        &t,
        Method::GET,
        ADMIN_KEY,
        &format!("/admin/v1/usage?group_by=user&{range}"),
    )
    .await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["totals"]["requests"], 3, "{usage}");

    let (_, events) = t.finish_with_audit().await;
    let erasures: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.action == domain::AuditAction::UserErase)
        .collect();
    let outcomes: Vec<Outcome> = erasures.iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Denied,
            Outcome::Denied,
            Outcome::Denied,
            // alice's own content.
            Outcome::Denied,
            Outcome::Success,
            Outcome::Success
        ]
    );
    assert!(
        erasures[4]
            .detail
            .contains(r#""content_records_deleted":2"#)
    );
    let reads = events
        .iter()
        .filter(|e| e.action == domain::AuditAction::ContentRead)
        .map(|e| e.outcome)
        .collect::<Vec<_>>();
    assert_eq!(
        reads,
        [
            Outcome::Success,
            Outcome::Success,
            Outcome::Denied,
            Outcome::Denied,
            Outcome::Success
        ]
    );
}

/// The review's case: a stream still running when its user is erased ends afterwards; its
/// content, captured then, must not be written under a new key and read back.
async fn content_in_flight_when_its_user_is_erased_is_never_written(database: Database) {
    let slow = sim::SimConfig {
        tokens_per_second: 10.0,
        ..echo_sim()
    };
    let Some(t) = TestServer::start_on(database, vec![slow], &config()).await else {
        return;
    };
    let mut stream = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(&t.key)
        .json(&secret_chat(true))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // The first event is relayed: the stream is in flight.
    assert!(stream.chunk().await.unwrap().is_some());
    let (status, erased) = call(&t, Method::POST, ADMIN_KEY, "/admin/v1/users/ada/erase").await;
    assert_eq!(status, 200, "{erased}");
    let mut rest = 0;
    while let Some(chunk) = stream.chunk().await.unwrap() {
        rest += chunk.len();
    }
    assert!(rest > 0, "the stream went on after the erasure");

    // A restart writes everything queued: the stream's content has been through the writer.
    let t = t.restart().await;
    let (status, read) = call(
        &t,
        Method::GET,
        ADMIN_KEY,
        &format!("/admin/v1/content?user=ada&{}", range()),
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["data"], json!([]), "nothing of ada's is readable");
    let ada = t.server.store.user_by_name("ada").await.unwrap().unwrap();
    let stored = t
        .server
        .store
        .content_of(KeyOwner::User(ada.id), 0, i64::MAX, 10)
        .await
        .unwrap();
    assert!(stored.is_empty(), "nothing of ada's is stored");
    assert!(
        t.server
            .store
            .content_key(KeyOwner::User(ada.id))
            .await
            .unwrap()
            .is_none(),
        "no key is made for content older than the erasure"
    );

    // What ada asks after the erasure is kept, under a new key.
    let (status, _, _) = t.post("/v1/chat/completions", &secret_chat(false)).await;
    assert_eq!(status, 200);
    let t = t.restart().await;
    let (_, read) = call(
        &t,
        Method::GET,
        ADMIN_KEY,
        &format!("/admin/v1/content?user=ada&{}", range()),
    )
    .await;
    assert_eq!(read["data"].as_array().map(Vec::len), Some(1), "{read}");
}

async fn the_purge_deletes_content_past_its_entity_retention(database: Database) {
    let Some(t) = TestServer::start_on(database, vec![echo_sim()], &config()).await else {
        return;
    };
    let ada = t.server.store.user_by_name("ada").await.unwrap().unwrap();
    let globex = t.entity("globex").await;
    let captured = |at: i64, entity_id: EntityId, text: &str| retention::Captured {
        request_id: format!("req-{at}"),
        at,
        entity_id,
        owner: KeyOwner::User(ada.id),
        operation: domain::Operation::Chat,
        model: "mistral-small".into(),
        input: json!([{"role": "user", "content": text}]).to_string(),
        completion: "ok".into(),
    };
    let now = now_millis();
    // Time is controlled by the records' own instants: 31 days old is past acme's 30.
    t.server
        .content
        .write(&[
            captured(now - 31 * DAY_MS, ada.entity_id, "old"),
            captured(now - 29 * DAY_MS, ada.entity_id, "recent"),
            // Content under an entity that keeps none (its mode changed) goes at once.
            captured(now - DAY_MS, globex.id, "not kept"),
        ])
        .await
        .unwrap();

    // The purge job's first run, at start, may come before or after these writes: whichever
    // purge deleted the records, the two past their retention are gone and counted once.
    let (status, body) = call(&t, Method::POST, ADMIN_KEY, "/admin/v1/retention/purge").await;
    assert_eq!(status, 200, "{body}");
    let on_demand = body["content_records_deleted"].as_u64().unwrap();
    let kept = t
        .server
        .content
        .read(KeyOwner::User(ada.id), 0, i64::MAX, 10)
        .await
        .unwrap();
    let inputs: Vec<&Value> = kept
        .iter()
        .map(|r| &r.content.as_ref().unwrap()["input"][0]["content"])
        .collect();
    assert_eq!(inputs, [&json!("recent")]);

    // Only group administrators purge on demand.
    let acme_admin = t
        .create_role_key("acme", "alice", Role::EntityAdmin, true)
        .await
        .1;
    let (status, _) = call(&t, Method::POST, &acme_admin, "/admin/v1/retention/purge").await;
    assert_eq!(status, 403);
    let (_, events) = t.finish_with_audit().await;
    let purges: Vec<(&str, Option<u64>, Outcome)> = events
        .iter()
        .filter(|e| e.action == domain::AuditAction::RetentionPurge)
        .map(|e| {
            let deleted = serde_json::from_str::<Value>(&e.detail).ok();
            let deleted = deleted.and_then(|d| d["content_records_deleted"].as_u64());
            (e.actor.as_str(), deleted, e.outcome)
        })
        .collect();
    let by_job: u64 = purges
        .iter()
        .filter(|(actor, ..)| *actor == retention::SYSTEM_ACTOR)
        .filter_map(|(_, deleted, _)| *deleted)
        .sum();
    assert_eq!(by_job + on_demand, 2, "{purges:?}");
    let by_callers: Vec<(Option<u64>, Outcome)> = purges
        .iter()
        .filter(|(actor, ..)| *actor != retention::SYSTEM_ACTOR)
        .map(|(_, deleted, outcome)| (*deleted, *outcome))
        .collect();
    assert_eq!(
        by_callers,
        [(Some(on_demand), Outcome::Success), (None, Outcome::Denied)]
    );
}

#[tokio::test]
async fn the_cli_erases_a_user_named_by_user_name() {
    let t = TestServer::start(vec![echo_sim()], &config()).await;
    let (status, _, _) = t.post("/v1/chat/completions", &secret_chat(false)).await;
    assert_eq!(status, 200);
    let t = t.restart().await;
    let url = t.server.base_url();
    // The CLI is another process; it must not block the runtime serving it.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_fabrique"))
            .args([
                "admin",
                "--url",
                &url,
                "--key",
                ADMIN_KEY,
                "erase-user",
                "ada",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["user_name"], "ada");
    assert_eq!(answer["content_keys_destroyed"], 1);
    assert_eq!(answer["content_records_deleted"], 1);
}
