//! Fixture-driven cases: `fixtures/positives.jsonl` (text and the exact spans expected, as type
//! and matched text) and `fixtures/near_misses.jsonl` (text that must produce no span at all).

use std::path::PathBuf;

use policy::Detector;
use serde_json::Value;

use crate::support::scan_pairs;

fn fixture_lines(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let content = std::fs::read_to_string(&path).unwrap();
    content
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn positives_yield_exactly_the_expected_spans() {
    let detector = Detector::all();
    let cases = fixture_lines("positives.jsonl");
    assert!(cases.len() > 50);
    let mut failures = Vec::new();
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<(String, String)> = case["expect"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_owned(),
                    pair[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let found = scan_pairs(&detector, text);
        if found != expected {
            failures.push(format!(
                "{text:?}\n  expected {expected:?}\n  found    {found:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn near_misses_yield_no_span() {
    let detector = Detector::all();
    let cases = fixture_lines("near_misses.jsonl");
    assert!(cases.len() > 40);
    let mut failures = Vec::new();
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        let found = scan_pairs(&detector, text);
        if !found.is_empty() {
            failures.push(format!("{} — {text:?}: found {found:?}", case["why"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn positives_are_filtered_by_the_enabled_types() {
    // Every positive, scanned with only its own types enabled, gives the same spans; with every
    // other type enabled, none of them.
    let cases = fixture_lines("positives.jsonl");
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        let all = policy::Detector::all().scan(text);
        let kinds: Vec<policy::PiiType> = all.iter().map(|span| span.kind).collect();
        assert_eq!(Detector::new(&kinds).scan(text), all, "{text:?}");
        let others: Vec<policy::PiiType> = policy::PiiType::ALL
            .into_iter()
            .filter(|kind| !kinds.contains(kind))
            .collect();
        assert!(Detector::new(&others).scan(text).is_empty(), "{text:?}");
    }
    assert!(Detector::new(&[]).scan("jean@exemple.fr").is_empty());
}

#[test]
fn type_names_round_trip() {
    for kind in policy::PiiType::ALL {
        assert_eq!(kind.as_str().parse::<policy::PiiType>().unwrap(), kind);
        assert_eq!(kind.to_string(), kind.as_str());
    }
    assert!("PHONE".parse::<policy::PiiType>().is_err());
}
