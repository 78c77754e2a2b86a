//! `fabrique plan`: the 100,000-user scenario of `bench/plan/` planned, its report printed and
//! written with its charts; a bad scenario refused in one line that names the key.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::cli::assert_one_line_error;

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../bench/plan/{name}"))
}

fn plan(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .arg("plan")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn plan_prints_the_report_and_writes_it_with_its_charts() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("report");
    let output = plan(&[
        scenario("100k.toml").as_os_str(),
        "--out".as_ref(),
        dir.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "Capacity plan: the group, 100,000 users",
        "GPU pools, sized for the target",
        "Entities in pool large",
        "Gateway tier",
        "PostgreSQL rows",
    ] {
        assert!(stdout.contains(expected), "missing {expected}:\n{stdout}");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.starts_with("# Capacity plan: the group, 100,000 users"));
    for pool in ["large", "small"] {
        for chart in [format!("arrivals-{pool}.svg"), format!("ttft-{pool}.svg")] {
            let svg = std::fs::read_to_string(dir.join(&chart)).unwrap();
            assert!(svg.starts_with("<svg role=\"img\""), "{chart}");
            assert!(svg.contains("<polyline"), "{chart} draws no line");
            assert!(
                report.contains(&format!("]({chart})")),
                "{chart} not in the report"
            );
        }
    }
    // Every scenario shipped plans.
    for name in ["40k.toml", "1m.toml"] {
        let output = plan(&[scenario(name).as_os_str()]);
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_bad_scenario_is_one_line_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(scenario("100k.toml")).unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        text.replacen("max_sequences = 128", "max_sequences = 0", 1),
    )
    .unwrap();
    let output = plan(&[path.as_os_str()]);
    assert_one_line_error(&output, "pools[0].max_sequences: must be at least 1");
    assert_one_line_error(&output, "bad.toml");
    std::fs::write(
        &path,
        text.replacen("prompt_tokens = {", "prompt_tokns = {", 1),
    )
    .unwrap();
    let output = plan(&[path.as_os_str()]);
    assert_one_line_error(&output, "prompt_tokns");
    let output = plan(&[dir.path().join("missing.toml").as_os_str()]);
    assert_one_line_error(&output, "reading the scenario");
}
