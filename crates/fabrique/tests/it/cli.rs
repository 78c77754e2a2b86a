//! The `fabrique` binary itself: configuration errors are refused at start, all of them listed;
//! every other error is one line and a non-zero exit; output to a closed pipe ends quietly.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

#[test]
fn serve_refuses_an_invalid_configuration_listing_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[[endpoints]]
name = "gpu-1"
kind = "vllm"
url = "ftp://10.0.0.1/v1"
hosting = "on_premises"
clearance = "top-secret"

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-2"]
"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "endpoints[0].url",
        "endpoints[0].clearance",
        "models[0].endpoints[0]",
        "bad.toml",
    ] {
        assert!(
            stderr.contains(expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    // Nothing was created: refused before any state was touched.
    assert!(!dir.path().join("data").exists());
}

/// A failed command: a non-zero exit and one line on standard error, `error: ` and `expected`.
pub(crate) fn assert_one_line_error(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.ends_with('\n') && stderr.lines().count() == 1,
        "not one line: {stderr:?}"
    );
    assert!(stderr.contains(expected), "missing `{expected}`: {stderr}");
}

fn fabrique(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(args)
        .env_remove("FABRIQUE_CONFIG")
        .env_remove("FABRIQUE_DATABASE_URL")
        .env_remove("FABRIQUE_ADMIN_KEY")
        .output()
        .unwrap()
}

/// A one-shot HTTP server on loopback that answers its first request with `status` and `body`,
/// and the URL to reach it.
fn answer_once(status: &'static str, body: &'static str) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = socket.read(&mut buffer).unwrap();
            assert!(read > 0, "the request ends early");
            request.extend_from_slice(&buffer[..read]);
        }
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).unwrap();
    });
    (url, server)
}

#[test]
fn admin_cli_errors_are_one_readable_line() {
    // Nothing listens on port 9 (discard) on loopback: the CLI says what failed instead of panicking.
    let args = ["admin", "--url", "http://127.0.0.1:9", "--key", "k"];
    let output = fabrique(&[&args[..], &["entities", "list"]].concat());
    assert_one_line_error(&output, "cannot reach http://127.0.0.1:9/admin/v1/entities");
    assert_one_line_error(&output, "Connection refused");

    let (url, server) = answer_once(
        "401 Unauthorized",
        r#"{"error":{"message":"unknown API key","type":"authentication_error","code":"invalid_api_key"}}"#,
    );
    let output = fabrique(&["admin", "--url", &url, "--key", "k", "entities", "list"]);
    server.join().unwrap();
    assert_one_line_error(&output, "401 invalid_api_key: unknown API key");

    let output = fabrique(&["admin", "--url", "http://127.0.0.1:9", "entities", "list"]);
    assert_one_line_error(&output, "no API key");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let output = fabrique(&["audit", "verify", "--data-dir", missing.to_str().unwrap()]);
    assert_one_line_error(&output, "no public key to check checkpoint signatures with");
}

/// `fabrique admin … | head`: the reader goes away before the answer is printed. The command ends
/// quietly, as `cat` would, without a panic.
#[test]
fn a_closed_pipe_ends_the_admin_output_quietly() {
    let (url, server) = answer_once("200 OK", r#"{"data":[{"slug":"acme","name":"Acme"}]}"#);
    let (reader, writer) = std::io::pipe().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(["admin", "--url", &url, "--key", "k", "entities", "list"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the server answers, so the answer can only be printed into a closed pipe.
    drop(reader);
    server.join().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert_eq!(stderr, "");
}

#[test]
fn a_closed_pipe_ends_a_policy_scan_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(["policy", "scan"])
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(reader);
    let mut stdin = child.stdin.take().unwrap();
    // More than any pipe buffer, so the output is flushed while input remains.
    for _ in 0..10_000 {
        if stdin
            .write_all(b"{\"text\": \"ada@example.com\"}\n")
            .is_err()
        {
            break;
        }
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert_eq!(stderr, "");
}

#[test]
fn policy_scan_reads_json_lines_and_writes_spans() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(["policy", "scan"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = "{\"text\": \"Écrire à jean.dupont@exemple.fr, IBAN FR76 3000 6000 0112 3456 7890 189\"}\nnot json\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let spans = lines[0]["spans"].as_array().unwrap();
    let types: Vec<&str> = spans.iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["EMAIL", "IBAN"]);
    // Byte offsets: "Écrire à " is 11 bytes (É and à take two each).
    assert_eq!(spans[0]["start"], 11);
    assert!(lines[1]["error"].as_str().unwrap().starts_with("line 2"));
}
