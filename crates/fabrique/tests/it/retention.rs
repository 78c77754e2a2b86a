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

pub(crate) fn config() -> String {
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

pub(crate) fn echo_sim() -> sim::SimConfig {
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

pub(crate) fn range() -> String {
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
        id: retention::record_id(),
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

async fn read_ada(t: &TestServer) -> (u16, Value) {
    let path = format!("/admin/v1/content?user=ada&{}", range());
    call(t, Method::GET, ADMIN_KEY, &path).await
}

/// The database's files (SQLite and its write-ahead log) copied from `from` to `to`: a backup
/// taken, or restored, while the server is stopped.
fn copy_database(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let name = format!("{}{suffix}", store::SQLITE_FILE_NAME);
        let _ = std::fs::remove_file(to.join(&name));
        if from.join(&name).exists() {
            std::fs::copy(from.join(&name), to.join(&name)).unwrap();
        }
    }
}

/// M-4 (b): with `content_key_dir`, content keys live outside the database, so an erasure
/// reaches every database backup at once. A deployment that kept its keys in the database moves
/// them out at start and reads its content as before; a backup taken before an erasure and
/// restored afterwards holds the erased user's records, and nothing opens them.
#[tokio::test]
async fn with_keys_outside_the_database_a_backup_from_before_an_erasure_opens_nothing_of_it() {
    let t = TestServer::start(vec![echo_sim()], &config()).await;
    let (status, _, _) = t.post("/v1/chat/completions", &secret_chat(false)).await;
    assert_eq!(status, 200);
    let t = t.restart().await;
    let ada = t.server.store.user_by_name("ada").await.unwrap().unwrap();
    let owner = KeyOwner::User(ada.id);
    assert!(t.server.store.content_key(owner).await.unwrap().is_some());

    let keys = t.data_dir().join("content-keys");
    let backup = t.data_dir().join("backup");
    let t = t
        .restart_with(|config| config.retention.content_key_dir = Some(keys.clone()))
        .await;
    assert_eq!(
        t.server.store.content_keys().await.unwrap().len(),
        0,
        "the keys moved out of the database"
    );
    let file = keys.join(format!("user.{}.key", ada.id));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode(&file) & 0o777, 0o600);
        assert_eq!(mode(&keys) & 0o777, 0o700);
    }
    let (status, _, _) = t.post("/v1/chat/completions", &secret_chat(true)).await;
    assert_eq!(status, 200);
    // The backup is taken with both records in the database, while the server is stopped.
    let t = t
        .restart_with(|config| copy_database(&config.server.data_dir, &backup))
        .await;
    let (status, before) = read_ada(&t).await;
    assert_eq!(status, 200, "{before}");
    let readable: Vec<&Value> = before["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| &record["readable"])
        .collect();
    assert_eq!(
        readable,
        [&json!(true), &json!(true)],
        "the moved key and the new one open: {before}"
    );

    let (status, erased) = call(&t, Method::POST, ADMIN_KEY, "/admin/v1/users/ada/erase").await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["content_keys_destroyed"], 1, "{erased}");
    assert_eq!(erased["content_records_deleted"], 2, "{erased}");
    assert!(!file.exists(), "the key file is gone");

    // The backup, restored: ada's records are back, with the same master key and key directory,
    // and none of them opens.
    let data_dir = t.data_dir().to_owned();
    let t = t.restart_with(|_| copy_database(&backup, &data_dir)).await;
    let (status, restored) = read_ada(&t).await;
    assert_eq!(status, 200, "{restored}");
    let records = restored["data"].as_array().unwrap();
    assert_eq!(records.len(), 2, "the backup holds the records: {restored}");
    for record in records {
        assert_eq!(record["readable"], false, "{record}");
        assert_eq!(record["input"], Value::Null, "{record}");
    }
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

/// `fabrique admin <args>` against `t`, as another process; its exit status, stdout and stderr.
async fn admin_cli(t: &TestServer, args: &[&str]) -> (bool, Value, String) {
    let url = t.server.base_url();
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_fabrique"))
            .args(["admin", "--url", &url, "--key", ADMIN_KEY])
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        output.status.success(),
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// L-14: a legal hold on a user, or on their entity, keeps their content from erasure (409
/// `legal_hold`, audited denied) and from the purge (kept and counted) until it is lifted; only
/// the group places and lifts holds, auditors read them.
#[tokio::test]
async fn a_legal_hold_keeps_content_from_erasure_and_purge_until_it_is_lifted() {
    let t = TestServer::start(vec![echo_sim()], &config()).await;
    let (_, bob_key) = t.create_user_key("acme", "bob").await;
    let ada = t.server.store.user_by_name("ada").await.unwrap().unwrap();
    let bob = t.server.store.user_by_name("bob").await.unwrap().unwrap();
    let (status, _, _) = t.post("/v1/chat/completions", &secret_chat(false)).await;
    assert_eq!(status, 200);
    let (status, _, _) = t
        .post_with_key("/v1/chat/completions", &secret_chat(false), &bob_key)
        .await;
    assert_eq!(status, 200);
    let t = t.restart().await;

    let (placed, on_ada, stderr) = admin_cli(
        &t,
        &[
            "holds",
            "place",
            "--user",
            "ada",
            "--reason",
            "Enquête AMF",
            "--case",
            "AMF-2026-114",
        ],
    )
    .await;
    assert!(placed, "{stderr}");
    assert_eq!(on_ada["user_id"], json!(ada.id), "{on_ada}");
    assert_eq!(on_ada["entity"], "acme");
    assert_eq!(on_ada["case_reference"], "AMF-2026-114");
    let ada_hold = on_ada["id"].as_str().unwrap().to_owned();

    // Only the group places and lifts; an entity's administrator, who erases, does neither.
    let acme_admin = t
        .create_role_key("acme", "alice", Role::EntityAdmin, true)
        .await
        .1;
    let hold_on_bob = json!({"user": "bob", "reason": "r", "case_reference": "c"});
    let (status, body) = post_as(&t, &acme_admin, "/admin/v1/legal-holds", &hold_on_bob).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(&t, Method::GET, &acme_admin, "/admin/v1/legal-holds").await;
    assert_eq!(status, 403);
    let lift_path = format!("/admin/v1/legal-holds/{ada_hold}");
    let (status, _) = call(&t, Method::DELETE, &acme_admin, &lift_path).await;
    assert_eq!(status, 403);
    for bad in [
        json!({"user": "ada", "entity": "acme", "reason": "r", "case_reference": "c"}),
        json!({"reason": "r", "case_reference": "c"}),
        json!({"user": "ada", "reason": " ", "case_reference": "c"}),
    ] {
        let (status, body) = post_as(&t, ADMIN_KEY, "/admin/v1/legal-holds", &bad).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }

    // Held: erasing ada is refused, by her entity's administrator and by the group's.
    for key in [acme_admin.as_str(), ADMIN_KEY] {
        let (status, body) = call(&t, Method::POST, key, "/admin/v1/users/ada/erase").await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "legal_hold", "{body}");
    }
    let (status, read) = read_ada(&t).await;
    assert_eq!(status, 200);
    assert_eq!(read["data"][0]["readable"], true, "{read}");

    // The purge keeps what the hold covers, and counts it; bob's content goes.
    let now = now_millis();
    let old = |owner: &domain::User, text: &str| retention::Captured {
        id: retention::record_id(),
        request_id: format!("req-{text}"),
        at: now - 40 * DAY_MS,
        entity_id: owner.entity_id,
        owner: KeyOwner::User(owner.id),
        operation: domain::Operation::Chat,
        model: "mistral-small".into(),
        input: json!([{"role": "user", "content": text}]).to_string(),
        completion: "ok".into(),
    };
    t.server
        .content
        .write(&[old(&ada, "ada's old"), old(&bob, "bob's old")])
        .await
        .unwrap();
    let (status, purged) = call(&t, Method::POST, ADMIN_KEY, "/admin/v1/retention/purge").await;
    assert_eq!(status, 200, "{purged}");
    assert_eq!(purged["content_records_held"], 1, "{purged}");
    let stored = |owner: &domain::User| {
        let store = t.server.store.clone();
        let owner = KeyOwner::User(owner.id);
        async move {
            store
                .content_of(owner, 0, i64::MAX, 10)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(stored(&ada).await, 2, "ada's old record is held");
    assert_eq!(stored(&bob).await, 1, "bob's old record is purged");

    // A hold on the entity covers bob too; acme's auditor reads both holds.
    let (status, on_acme) = post_as(
        &t,
        ADMIN_KEY,
        "/admin/v1/legal-holds",
        &json!({"entity": "acme", "reason": "Litige", "case_reference": "TC-42"}),
    )
    .await;
    assert_eq!(status, 201, "{on_acme}");
    assert_eq!(on_acme["user_id"], Value::Null);
    let (status, body) = call(&t, Method::POST, ADMIN_KEY, "/admin/v1/users/bob/erase").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("legal_hold"))
    );
    let auditor = t
        .create_role_key("acme", "audrey", Role::Auditor, true)
        .await
        .1;
    let (status, listed) = call(&t, Method::GET, &auditor, "/admin/v1/legal-holds").await;
    assert_eq!(status, 200, "{listed}");
    let cases: Vec<&Value> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hold| &hold["case_reference"])
        .collect();
    assert_eq!(cases, [&json!("AMF-2026-114"), &json!("TC-42")]);

    // Lifted, the holds stop: lifting again finds nothing, and ada is erased.
    let (lifted, hold, stderr) = admin_cli(&t, &["holds", "lift", &ada_hold]).await;
    assert!(lifted, "{stderr}");
    assert!(hold["lifted_at"].is_i64(), "{hold}");
    let (lifted_again, _, stderr) = admin_cli(&t, &["holds", "lift", &ada_hold]).await;
    assert!(!lifted_again && stderr.contains("404"), "{stderr}");
    let (status, body) = call(&t, Method::POST, ADMIN_KEY, "/admin/v1/users/ada/erase").await;
    assert_eq!(status, 409, "the entity's hold still covers ada: {body}");
    let acme_hold = format!("/admin/v1/legal-holds/{}", on_acme["id"].as_str().unwrap());
    let (status, _) = call(&t, Method::DELETE, ADMIN_KEY, &acme_hold).await;
    assert_eq!(status, 200);
    let (_, listed, _) = admin_cli(&t, &["holds", "list"]).await;
    assert_eq!(listed["data"], json!([]));
    let (status, erased) = call(&t, Method::POST, ADMIN_KEY, "/admin/v1/users/ada/erase").await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["content_records_deleted"], 2);

    let (_, events) = t.finish_with_audit().await;
    let trail: Vec<(&str, Outcome)> = events
        .iter()
        .filter(|e| {
            matches!(
                e.action.family(),
                domain::AuditFamily::LegalHold | domain::AuditFamily::User
            ) && e.action != domain::AuditAction::UserCreate
        })
        .map(|e| (e.action.as_str(), e.outcome))
        .collect();
    use Outcome::{Denied, Success};
    assert_eq!(
        trail,
        [
            ("legal_hold.place", Success),
            ("legal_hold.place", Denied),
            ("legal_hold.list", Denied),
            ("legal_hold.lift", Denied),
            ("user.erase", Denied),
            ("user.erase", Denied),
            ("legal_hold.place", Success),
            ("user.erase", Denied),
            ("legal_hold.lift", Success),
            ("user.erase", Denied),
            ("legal_hold.lift", Success),
            ("user.erase", Success),
        ]
    );
}

async fn post_as(t: &TestServer, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = t
        .http
        .post(t.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
