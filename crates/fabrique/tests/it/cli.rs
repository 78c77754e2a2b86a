//! The `fabrique` binary itself: configuration errors are refused at start, all of them listed.

use std::process::Command;

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

#[test]
fn admin_cli_errors_are_readable() {
    // Nothing listens on port 9 (discard) on loopback: the CLI says what failed instead of panicking.
    let output = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args([
            "admin",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "k",
            "entities",
            "list",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
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
