//! `scan_cli::run`: one output line per input line, errors in place, processing continues.

use policy::scan_cli;

fn run(input: &str) -> (Vec<serde_json::Value>, policy::ScanStats) {
    let mut output = Vec::new();
    let stats = scan_cli::run(input.as_bytes(), &mut output).unwrap();
    let output = String::from_utf8(output).unwrap();
    let lines = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (lines, stats)
}

#[test]
fn each_line_gets_its_spans_or_its_error() {
    let input = concat!(
        r#"{"text": "IBAN FR76 3000 6000 0112 3456 7890 189, tél. 06 12 34 56 78"}"#,
        "\n",
        "not json at all\n",
        r#"{"text": "rien à signaler", "other": 1}"#,
        "\r\n",
        r#"{"texte": "mauvais champ"}"#,
        "\n",
        r#"{"text": 42}"#,
        "\n",
        "\n",
        r#"{"text": "jean@exemple.fr"}"#,
    );
    let (lines, stats) = run(input);
    assert_eq!(lines.len(), 7);
    assert_eq!(
        lines[0],
        serde_json::json!({"spans": [
            {"start": 5, "end": 38, "type": "IBAN"},
            {"start": 46, "end": 60, "type": "PHONE_FR"},
        ]})
    );
    for (index, line) in lines.iter().enumerate() {
        if matches!(index, 1 | 3 | 4 | 5) {
            let error = line["error"].as_str().unwrap();
            assert!(
                error.starts_with(&format!("line {}: ", index + 1)),
                "{error}"
            );
        } else {
            assert!(line.get("error").is_none(), "{line}");
        }
    }
    assert_eq!(lines[2], serde_json::json!({"spans": []}));
    assert_eq!(
        lines[6],
        serde_json::json!({"spans": [{"start": 0, "end": 15, "type": "EMAIL"}]})
    );
    assert_eq!(stats.lines, 7);
    assert_eq!(stats.errors, 4);
    assert_eq!(stats.spans, 3);
}

#[test]
fn invalid_utf8_is_an_error_line_not_a_failure() {
    let mut input = b"{\"text\": \"caf\xE9\"}\n".to_vec();
    input.extend_from_slice(b"{\"text\": \"ok 192.168.0.1\"}\n");
    let mut output = Vec::new();
    let stats = scan_cli::run(&input[..], &mut output).unwrap();
    let output = String::from_utf8(output).unwrap();
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with(r#"{"error":"line 1: "#),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        r#"{"spans":[{"start":3,"end":14,"type":"IPV4"}]}"#
    );
    assert_eq!(stats.errors, 1);
}

#[test]
fn empty_input_writes_nothing() {
    let (lines, stats) = run("");
    assert!(lines.is_empty());
    assert_eq!(stats, policy::ScanStats::default());
}
