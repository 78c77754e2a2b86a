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

impl Installation {
    /// Runs a server, records a few changes, shuts it down cleanly.
    async fn recorded() -> Installation {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::embedded_default();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.server.data_dir = dir.path().to_path_buf();
        let server = fabrique::start(config, Some("fabk_audit_test_admin".to_owned()))
            .await
            .unwrap();
        for slug in ["acme", "beta"] {
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
        }
        server.shutdown().await;
        Installation { dir }
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
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
        let url = format!("sqlite://{}", self.path("fabrique.db").display());
        let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
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
    let server = fabrique::start(config, Some("fabk_audit_test_admin".to_owned()))
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
