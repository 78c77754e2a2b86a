//! `fabrique audit verify` and `export` through the built binary, against a store a real server
//! wrote (its checkpoint signed at shutdown), then tampered with as someone with database or file
//! access would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use configuration::Config;
use domain::{AuditEvent, Outcome, now_millis};
use sqlx::Connection as _;

/// A data directory a server ran in: its SQLite database and its generated signing key.
struct Installation {
    dir: tempfile::TempDir,
}

/// Where a test keeps the checkpoints an installation published: beside, not inside, its data
/// directory, as an operator would keep them off the database's machine.
const PUBLISHED: &str = "published-checkpoints.jsonl";

/// A server on a fresh data directory in `dir`, its configuration changed by `configure`.
async fn server_in(dir: &Path, configure: impl FnOnce(&mut Config)) -> fabrique::RunningServer {
    let mut config = Config::embedded_default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.data_dir = dir.join("data");
    configure(&mut config);
    fabrique::start(
        config,
        Some("fabk_audit_test_admin_key_0123456789abcdef".to_owned()),
    )
    .await
    .unwrap()
}

impl Installation {
    /// Runs a server, records a few changes, shuts it down cleanly.
    async fn recorded() -> Installation {
        let dir = tempfile::tempdir().unwrap();
        let server = server_in(dir.path(), |_| {}).await;
        create_entities(&server, &["acme", "beta"], false).await;
        server.shutdown().await;
        Installation { dir }
    }

    /// Runs a server that publishes its checkpoints to [`PUBLISHED`], signs one after the
    /// bootstrap's three events and one after each of three entities (seq 3, 4, 5 and 6), and shuts
    /// it down cleanly.
    async fn published() -> Installation {
        let dir = tempfile::tempdir().unwrap();
        let published = dir.path().join(PUBLISHED);
        let server = server_in(dir.path(), |config| {
            config.audit.publish_file = Some(published);
        })
        .await;
        server.sign_audit_checkpoint().await.unwrap().unwrap();
        create_entities(&server, &["acme", "beta", "gamma"], true).await;
        server.shutdown().await;
        Installation { dir }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.data_dir().join(name)
    }

    fn published_file(&self) -> String {
        self.dir.path().join(PUBLISHED).to_str().unwrap().to_owned()
    }

    /// The public key the server generated, as `verify` would derive it.
    fn public_key(&self) -> String {
        let seed = std::fs::read_to_string(self.path("audit-signing.key")).unwrap();
        evidence::AuditSigner::from_seed_text(&seed)
            .unwrap()
            .public_key()
            .to_string()
    }

    async fn sql(&self, statement: &str) {
        sql(&self.data_dir(), statement).await;
    }

    fn audit(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_fabrique"))
            .arg("audit")
            .args(args)
            .env_remove("FABRIQUE_CONFIG")
            .env_remove("FABRIQUE_DATABASE_URL")
            .output()
            .unwrap()
    }

    fn verify_store(&self, extra: &[&str]) -> Output {
        let dir = self.data_dir().to_str().unwrap().to_owned();
        let mut args = vec!["verify", "--data-dir", &dir];
        args.extend_from_slice(extra);
        self.audit(&args)
    }
}

/// Creates entities as the admin API would, each audited; with `checkpoint`, signs a checkpoint
/// after each.
async fn create_entities(server: &fabrique::RunningServer, slugs: &[&str], checkpoint: bool) {
    for slug in slugs {
        let audit = AuditEvent {
            at: now_millis(),
            actor: "system".into(),
            action: domain::AuditAction::EntityCreate,
            entity_id: None,
            target: String::new(),
            outcome: Outcome::Success,
            detail: format!(r#"{{"slug":"{slug}"}}"#),
        };
        server
            .store
            .create_entity(slug, slug, &audit)
            .await
            .unwrap();
        if checkpoint {
            server.sign_audit_checkpoint().await.unwrap().unwrap();
        }
    }
}

/// Runs `statement` on the SQLite database of `data`, behind the server's back.
async fn sql(data: &Path, statement: &str) {
    let url = format!("sqlite://{}", data.join("fabrique.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(statement)
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_fails_with(output: &Output, expected: &str) {
    let (stdout, stderr) = text(output);
    assert!(!output.status.success(), "succeeded:\n{stdout}");
    assert!(
        stderr.starts_with("error: audit trail verification failed") && stderr.contains(expected),
        "missing `{expected}` in stderr:\n{stderr}\nstdout:\n{stdout}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_clean_trail_verifies_and_its_shutdown_checkpoint_covers_every_event() {
    let installation = Installation::recorded().await;
    let output = installation.verify_store(&[]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // The bootstrap's three events and the two entities, all under the checkpoint signed at
    // shutdown.
    assert!(
        stdout.contains("audit trail OK: 5 events (seq 1 to 5)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("newest signed head: seq 5; 0 event(s) after it"),
        "{stdout}"
    );
    assert!(stdout.contains(&installation.public_key()), "{stdout}");
}

#[tokio::test]
async fn an_altered_detail_is_named_by_its_seq() {
    let installation = Installation::recorded().await;
    installation
        .sql(r#"UPDATE audit_events SET detail = '{"slug":"evil"}' WHERE seq = 4"#)
        .await;
    assert_fails_with(&installation.verify_store(&[]), "seq 4: content altered");
}

#[tokio::test]
async fn a_deleted_middle_event_and_a_truncated_head_are_detected() {
    let installation = Installation::recorded().await;
    installation
        .sql("DELETE FROM audit_events WHERE seq = 2")
        .await;
    assert_fails_with(&installation.verify_store(&[]), "seq 2: event missing");

    let installation = Installation::recorded().await;
    installation
        .sql("DELETE FROM audit_events WHERE seq >= 4")
        .await;
    installation
        .sql(
            "UPDATE audit_chain_head SET seq = 3, event_count = 3, \
             hash = (SELECT hash FROM audit_events WHERE seq = 3)",
        )
        .await;
    assert_fails_with(
        &installation.verify_store(&[]),
        "chain truncated: it ends at seq 3 but a signed checkpoint covers seq 5",
    );
}

#[tokio::test]
async fn a_wrong_public_key_is_a_signature_failure() {
    let installation = Installation::recorded().await;
    let stranger = evidence::AuditSigner::from_seed([5; 32])
        .public_key()
        .to_string();
    assert_fails_with(
        &installation.verify_store(&["--public-key", &stranger]),
        "bad signature",
    );
}

#[tokio::test]
async fn an_export_verifies_offline_and_its_tampering_is_found() {
    let installation = Installation::recorded().await;
    let dir = installation.data_dir().to_str().unwrap().to_owned();
    let export = installation.path("export.jsonl");
    let export_arg = export.to_str().unwrap().to_owned();
    let output = installation.audit(&["export", "--data-dir", &dir, "--output", &export_arg]);
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(
        text(&output)
            .0
            .contains("exported 5 events and 1 checkpoints")
    );

    let key = installation.public_key();
    let verify_file =
        |path: &str| installation.audit(&["verify", "--file", path, "--public-key", &key]);
    let output = verify_file(&export_arg);
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(text(&output).0.contains("audit trail OK: 5 events"));

    let lines: Vec<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 7, "header, five events, one checkpoint");
    let write = |name: &str, lines: &[String]| {
        let path = installation.path(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        path.to_str().unwrap().to_owned()
    };

    let mut altered = lines.clone();
    altered[3] = altered[3].replace("\"outcome\":\"success\"", "\"outcome\":\"failure\"");
    assert_fails_with(
        &verify_file(&write("altered.jsonl", &altered)),
        "seq 3: content altered",
    );

    let mut without_newest = lines.clone();
    without_newest.remove(5);
    assert_fails_with(
        &verify_file(&write("truncated.jsonl", &without_newest)),
        "chain truncated",
    );

    // A range links up from its first event's prev_hash and still reaches the signed head.
    let range = installation.path("range.jsonl");
    let range_arg = range.to_str().unwrap().to_owned();
    let output = installation.audit(&[
        "export",
        "--data-dir",
        &dir,
        "--from",
        "3",
        "--output",
        &range_arg,
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    let output = verify_file(&range_arg);
    let (stdout, _) = text(&output);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("audit trail OK: 3 events (seq 3 to 5)"),
        "{stdout}"
    );
    assert!(stdout.contains("newest signed head: seq 5"), "{stdout}");

    let output = installation.audit(&["verify", "--file", &write("garbage.jsonl", &["{".into()])]);
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("line 1 is not an export line"), "{stderr}");
}

#[tokio::test]
async fn an_entity_export_checks_each_event_on_its_own() {
    let installation = Installation::recorded().await;
    let dir = installation.data_dir().to_str().unwrap().to_owned();
    let export = installation.path("acme.jsonl");
    let export_arg = export.to_str().unwrap().to_owned();
    let output = installation.audit(&[
        "export",
        "--data-dir",
        &dir,
        "--entity",
        "acme",
        "--output",
        &export_arg,
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    let output = installation.audit(&["verify", "--file", &export_arg]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("audit trail OK: 1 events (seq 4 to 4)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("trusting the public key(s) named in the file"),
        "{stdout}"
    );
    assert!(stdout.contains("entity `acme"), "{stdout}");

    let output = installation.audit(&[
        "export",
        "--data-dir",
        &dir,
        "--entity",
        "nope",
        "--output",
        &export_arg,
    ]);
    assert!(text(&output).1.contains("no entity with slug `nope`"));
}

#[test]
fn bad_input_gets_a_readable_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let output = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(["audit", "verify", "--public-key", "not-a-key", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.starts_with("error: --public-key `not-a-key`"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!missing.exists(), "verifying never creates a database");
}

#[tokio::test]
async fn a_configured_key_file_signs_and_a_generated_key_is_private() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let installation = Installation::recorded().await;
        let mode = std::fs::metadata(installation.path("audit-signing.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("audit.key");
    // The seed in base64, as an operator might write it.
    std::fs::write(&key_file, "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").unwrap();
    let config_file = dir.path().join("fabrique.toml");
    let data_dir = dir.path().join("data");
    std::fs::write(
        &config_file,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\n\n[audit]\nsigning_key_file = {:?}\n",
            data_dir.to_str().unwrap(),
            key_file.to_str().unwrap()
        ),
    )
    .unwrap();
    let config = Config::load(&config_file).unwrap();
    let server = fabrique::start(
        config,
        Some("fabk_audit_test_admin_key_0123456789abcdef".to_owned()),
    )
    .await
    .unwrap();
    server.shutdown().await;
    assert!(
        !data_dir.join("audit-signing.key").exists(),
        "no key is generated when one is configured"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(["audit", "verify", "--config"])
        .arg(&config_file)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let expected_key = evidence::AuditSigner::from_seed([7; 32]).public_key();
    assert!(stdout.contains("audit trail OK: 3 events"), "{stdout}");
    assert!(stdout.contains(&expected_key.to_string()), "{stdout}");
}

/// The review's laundering recipe: an event edited, every hash stripped, every checkpoint
/// deleted, so that whatever chains "legacy" events would chain the edited history and sign it.
const STRIP_EVERYTHING: [&str; 4] = [
    r#"UPDATE audit_events SET detail = '{"slug":"evil"}' WHERE seq = 4"#,
    "UPDATE audit_events SET hash = NULL, prev_hash = NULL",
    "UPDATE audit_chain_head SET hash = NULL",
    "DELETE FROM audit_checkpoints",
];

#[tokio::test]
async fn verify_writes_nothing_and_a_stripped_trail_is_never_chained_again() {
    let installation = Installation::recorded().await;
    for statement in STRIP_EVERYTHING {
        installation.sql(statement).await;
    }
    assert_fails_with(&installation.verify_store(&[]), "seq 1: event has no hash");
    // Verifying twice finds the same: the first run chained nothing.
    assert_fails_with(&installation.verify_store(&[]), "seq 1: event has no hash");

    // Nor does a server started on it, which then signs nothing over it.
    let config_dir = installation.dir.path();
    let server = server_in(config_dir, |_| {}).await;
    assert!(server.sign_audit_checkpoint().await.is_err());
    server.shutdown().await;
    let output = installation.verify_store(&[]);
    assert_fails_with(&output, "seq 1: event has no hash");
    assert!(
        text(&output).0.contains("signed checkpoints: 0 valid"),
        "{}",
        text(&output).0
    );
}

#[tokio::test]
async fn checkpoints_name_the_one_before_so_a_deleted_one_is_found() {
    let installation = Installation::published().await;
    let output = installation.verify_store(&[]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("signed checkpoints: 4 valid"), "{stdout}");

    installation
        .sql("DELETE FROM audit_checkpoints WHERE seq = 4")
        .await;
    assert_fails_with(
        &installation.verify_store(&[]),
        "checkpoint at seq 5: it does not name the checkpoint stored before it",
    );
}

#[tokio::test]
async fn a_truncation_hidden_in_the_database_fails_against_what_was_published() {
    let installation = Installation::published().await;
    let published = installation.published_file();
    let lines = std::fs::read_to_string(&published).unwrap();
    assert_eq!(
        lines.lines().count(),
        4,
        "one line per checkpoint:\n{lines}"
    );
    let newest: serde_json::Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    assert_eq!(newest["seq"], 6);
    let expect = format!("6:{}", newest["head"].as_str().unwrap());

    // The review's recipe: the newest checkpoints and events deleted, the head moved back.
    for statement in [
        "DELETE FROM audit_checkpoints WHERE seq > 4",
        "DELETE FROM audit_events WHERE seq > 4",
        "UPDATE audit_chain_head SET seq = 4, event_count = 4, \
         hash = (SELECT hash FROM audit_events WHERE seq = 4)",
    ] {
        installation.sql(statement).await;
    }
    // From inside the database it is a shorter history, and verify says what it cannot see.
    let output = installation.verify_store(&[]);
    let (stdout, _) = text(&output);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("no checkpoint held outside the database"),
        "{stdout}"
    );

    let output = installation.verify_store(&["--published", &published]);
    assert_fails_with(&output, "seq 5: chain truncated");
    assert!(
        text(&output)
            .0
            .contains("checkpoint at seq 5: published when it was signed, but not in the trail: it was deleted"),
        "{}",
        text(&output).0
    );
    assert_fails_with(
        &installation.verify_store(&["--expect", &expect]),
        "seq 6: the expected event is not in the trail, which ends at seq 4",
    );

    // The configuration names the file, so verify reads it without being told.
    let config = installation.dir.path().join("fabrique.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = {:?}\n\n[audit]\npublish_file = {published:?}\n",
            installation.data_dir().to_str().unwrap()
        ),
    )
    .unwrap();
    let output = installation.audit(&["verify", "--config", config.to_str().unwrap()]);
    assert_fails_with(&output, "seq 5: chain truncated");
    assert!(
        text(&output)
            .0
            .contains("published checkpoints: 4 read from"),
        "{}",
        text(&output).0
    );

    let output = installation.verify_store(&["--expect", "six:abc"]);
    assert!(
        text(&output)
            .1
            .starts_with("error: --expect `six:abc`: expected SEQ:HASH"),
        "{:?}",
        text(&output)
    );
}

/// Rewrites event `seq`'s detail and recomputes every hash after it and the head, as a writer of
/// the database can without any key.
async fn rewrite_from(data: &Path, seq: u64, detail: &str) {
    let store = store::Store::open_dir_read_only(data).await.unwrap();
    let events = store
        .read_audit_chain(&store::ChainSelection::default(), 1_000)
        .await
        .unwrap();
    store.close().await;
    let mut prev: evidence::ChainHash = evidence::GENESIS;
    for mut event in events {
        if event.seq == seq {
            event.detail = detail.to_owned();
        }
        let hash = evidence::chain_hash(&prev, &event.content());
        sql(
            data,
            &format!(
                "UPDATE audit_events SET detail = '{}', prev_hash = '{prev}', hash = '{hash}' WHERE seq = {}",
                event.detail, event.seq
            ),
        )
        .await;
        prev = hash;
    }
    sql(
        data,
        &format!("UPDATE audit_chain_head SET hash = '{prev}'"),
    )
    .await;
}

#[tokio::test]
async fn the_checkpointer_refuses_to_sign_a_rewritten_or_cut_trail() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_in(dir.path(), |_| {}).await;
    let data = dir.path().join("data");
    create_entities(&server, &["acme"], true).await;
    create_entities(&server, &["beta", "gamma"], false).await;

    // Events after the newest checkpoint, rewritten with their hashes recomputed: consistent, but
    // no longer descending from the signed head.
    rewrite_from(&data, 4, r#"{"slug":"evil"}"#).await;
    let refused = server.sign_audit_checkpoint().await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("do not descend from it"),
        "{refused:#}"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("fabrique_audit_checkpoints_refused 1"),
        "{metrics}"
    );
    server.shutdown().await;
    assert_eq!(
        checkpoint_seqs(&data).await,
        [4],
        "neither a checkpoint on demand nor the shutdown's signed the rewrite"
    );

    // The newest checkpoint deleted while a server runs: it remembers it.
    let dir = tempfile::tempdir().unwrap();
    let server = server_in(dir.path(), |_| {}).await;
    let data = dir.path().join("data");
    create_entities(&server, &["acme", "beta"], true).await;
    sql(&data, "DELETE FROM audit_checkpoints WHERE seq = 5").await;
    create_entities(&server, &["gamma"], false).await;
    let refused = server.sign_audit_checkpoint().await.unwrap_err();
    assert!(
        format!("{refused:#}")
            .contains("the checkpoint of seq 5 signed earlier is no longer stored"),
        "{refused:#}"
    );
    server.shutdown().await;
}

async fn checkpoint_seqs(data: &Path) -> Vec<u64> {
    let store = store::Store::open_dir_read_only(data).await.unwrap();
    let seqs = store
        .list_audit_checkpoints(0, None)
        .await
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    store.close().await;
    seqs
}

#[tokio::test]
async fn checkpoints_reach_the_witness_in_order_even_after_it_was_down() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::http::{HeaderMap, StatusCode};
    use std::sync::Mutex;

    // A witness that is down until the test says otherwise, then keeps what it is sent.
    /// Each request's `authorization` header and body.
    type Received = Arc<Mutex<Vec<(Option<String>, serde_json::Value)>>>;
    let received: Received = Arc::default();
    let up = Arc::new(AtomicBool::new(false));
    let witness = {
        let (received, up) = (Arc::clone(&received), Arc::clone(&up));
        axum::Router::new().route(
            "/checkpoints",
            axum::routing::post(
                move |headers: HeaderMap, body: axum::Json<serde_json::Value>| {
                    let (received, up) = (Arc::clone(&received), Arc::clone(&up));
                    async move {
                        if !up.load(Ordering::SeqCst) {
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let token = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        received.lock().unwrap().push((token, body.0));
                        StatusCode::NO_CONTENT
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let witness_url = format!("http://{}/checkpoints", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, witness).await });

    let dir = tempfile::tempdir().unwrap();
    let server = server_in(dir.path(), |config| {
        config.audit.witness = Some(configuration::Witness {
            url: witness_url,
            token: Some("witness-token".into()),
        });
    })
    .await;
    let first = server.sign_audit_checkpoint().await.unwrap().unwrap();
    assert!(received.lock().unwrap().is_empty(), "the witness was down");
    let metrics = reqwest::get(format!("{}/metrics", server.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("fabrique_audit_checkpoints_unpublished 1"),
        "{metrics}"
    );
    up.store(true, Ordering::SeqCst);
    create_entities(&server, &["acme"], false).await;
    let second = server.sign_audit_checkpoint().await.unwrap().unwrap();
    server.shutdown().await;

    let received = received.lock().unwrap();
    let seqs: Vec<u64> = received
        .iter()
        .map(|(_, body)| body["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [first.seq, second.seq]);
    assert!(
        received.iter().all(
            |(token, body)| token.as_deref() == Some("Bearer witness-token")
                && body["type"] == "checkpoint"
        ),
        "{received:?}"
    );
    assert_eq!(
        received[1].1["previous"],
        first.digest().unwrap().to_string(),
        "each names the one before"
    );
}
