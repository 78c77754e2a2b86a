//! A use case the group owns (no owning entity), from draft to retired, on SQLite and
//! PostgreSQL: built and evaluated by the group's factory engineer, evaluated again by the
//! group's risk officer, who approves it; deployed, invoked by an allowed entity's caller and
//! refused to another's, retired. Its evaluations call as the group's evaluator account, and
//! grade with embedding similarity through the gateway; a suite of exactly 20 cases (one full
//! chunk of stored results) stores each case once.

use domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

use super::{evaluate, line, put_suite, transition};
use crate::harness::{Database, TestServer, call, instant_sim, on_both_databases};

const SLUG: &str = "group-digest";
const ANSWER: &str = "All accounts are reconciled.";

fn config() -> String {
    crate::harness::one_endpoint(
        r#"
[[models]]
name = "embed"
kind = "embeddings"
endpoints = ["gpu"]

[[entities]]
slug = "acme"
name = "Acme"

[[entities]]
slug = "globex"
name = "Globex"
"#,
    )
}

fn scripted_sim() -> sim::SimConfig {
    sim::SimConfig {
        script: vec![line("digest of", ANSWER)],
        ..instant_sim()
    }
}

/// `n` cases whose answer must be close to `reference` (embedding similarity) and mention it.
fn suite(n: usize, reference: &str) -> String {
    (0..n)
        .map(|i| {
            let case = json!({
                "id": format!("c{i}"),
                "variables": {"team": "treasury"},
                "messages": [{"role": "user", "content": format!("The digest of ledger {i}.")}],
                "expect": [
                    {"grader": "similarity", "value": reference, "threshold": 0.99, "model": "embed"},
                    {"grader": "contains", "value": "reconciled"},
                ],
            });
            format!("{case}\n")
        })
        .collect()
}

async fn invoke(t: &TestServer, key: &str) -> (u16, Value) {
    let body = json!({
        "model": format!("usecase/{SLUG}"),
        "fabrique": {"variables": {"team": "treasury"}},
        "messages": [{"role": "user", "content": "The digest of today's ledger."}],
    });
    call(t, Method::POST, "/v1/chat/completions", key, Some(body)).await
}

async fn a_use_case_of_the_group_goes_from_draft_to_retired(database: Database) {
    let Some(t) = TestServer::start_on(database, vec![scripted_sim()], &config()).await else {
        return;
    };
    let (_, engineer) = t
        .create_role_key("acme", "gia", Role::FactoryEngineer, false)
        .await;
    let (_, officer) = t
        .create_role_key("acme", "grace", Role::RiskOfficer, false)
        .await;
    let (_, acme_engineer) = t
        .create_role_key("acme", "eve", Role::FactoryEngineer, true)
        .await;

    // The group's engineer registers it; an entity's engineer may not.
    let definition = json!({
        "slug": SLUG, "name": "Group digest", "purpose": "Summarizes the day's ledgers for treasury.",
        "owners": ["gia"], "allowed_entities": ["acme"], "risk_class": "limited",
        "thresholds": {"pass_rate": 1.0, "min_scores": {"similarity": 0.99}}
    });
    let path = "/admin/v1/use-cases";
    let (status, _) = call(
        &t,
        Method::POST,
        path,
        &acme_engineer,
        Some(definition.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (status, created) = call(&t, Method::POST, path, &engineer, Some(definition)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["owner_entity"], Value::Null, "{created}");
    let version = json!({"template": "Write for the {{team}} team.", "model": "mistral-small", "parameters": {"temperature": 0}});
    let versions = format!("/admin/v1/use-cases/{SLUG}/versions");
    let (status, v1) = call(&t, Method::POST, &versions, &engineer, Some(version)).await;
    assert_eq!(status, 201, "{v1}");
    put_suite(&t, SLUG, &engineer, "similar", &suite(20, ANSWER)).await;
    put_suite(
        &t,
        SLUG,
        &engineer,
        "far",
        &suite(1, "Quarterly revenue fell sharply."),
    )
    .await;

    // Evaluated by the group's engineer: 20 cases, each graded through the embedding model
    // and stored once.
    let passing = evaluate(&t, SLUG, &engineer, 1, "similar").await;
    let results = format!(
        "/admin/v1/evaluations/{}/results",
        passing["id"].as_str().unwrap()
    );
    let (_, results) = call(&t, Method::GET, &results, &engineer, None).await;
    assert_eq!(passing["status"], "finished", "{passing}");
    assert_eq!(
        passing["summary"]["pass_rate"], 1.0,
        "{passing} {}",
        results["data"][0]
    );
    assert_eq!(
        (passing["cases"].as_u64(), passing["done"].as_u64()),
        (Some(20), Some(20))
    );
    let mut ids: Vec<&str> = results["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["case_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(results["data"].as_array().unwrap().len(), 20, "{results}");
    assert_eq!(ids.len(), 20, "each case once");
    // And by the group's risk officer, who checks a far reference fails the similarity grader.
    let far = evaluate(&t, SLUG, &officer, 1, "far").await;
    assert_eq!(far["status"], "finished", "{far}");
    assert_eq!(far["summary"]["pass_rate"], 0.0, "{far}");
    assert_eq!(far["gate"]["passed"], false, "{far}");
    let results = format!(
        "/admin/v1/evaluations/{}/results",
        far["id"].as_str().unwrap()
    );
    let (_, results) = call(&t, Method::GET, &results, &officer, None).await;
    let grade = &results["data"][0]["grades"][0];
    assert_eq!(
        (grade["grader"].as_str(), grade["passed"].as_bool()),
        (Some("similarity"), Some(false)),
        "{results}"
    );
    assert_eq!(
        results["data"][0]["error"],
        Value::Null,
        "graded, not failed: {results}"
    );

    // Submitted, approved by the group's officer on the passing run, deployed.
    let step = |transition_name: &str, reason: &str| json!({"transition": transition_name, "reason": reason});
    let (status, _) = transition(&t, SLUG, &engineer, 1, step("submit", "ready")).await;
    assert_eq!(status, 200);
    let mut approve = step("approve", "similar enough");
    approve["eval_run"] = passing["id"].clone();
    let (status, _) = transition(&t, SLUG, &engineer, 1, approve.clone()).await;
    assert_eq!(status, 403, "an engineer does not approve");
    let (status, approved) = transition(&t, SLUG, &officer, 1, approve).await;
    assert_eq!(
        (status, approved["state"].as_str()),
        (200, Some("approved")),
        "{approved}"
    );
    let mut deploy = step("deploy", "go live");
    deploy["weight"] = json!(100);
    let (status, _) = transition(&t, SLUG, &engineer, 1, deploy).await;
    assert_eq!(status, 200);

    // Invoked by an allowed entity's caller; another entity's gets 404.
    let (status, answer) = invoke(&t, &t.key).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], ANSWER);
    let (_, globex) = t.create_user_key("globex", "gus").await;
    assert_eq!(invoke(&t, &globex).await.0, 404);

    // Retired: out of service for good.
    let (status, retired) = transition(&t, SLUG, &officer, 1, step("retire", "replaced")).await;
    assert_eq!(
        (status, retired["state"].as_str()),
        (200, Some("retired")),
        "{retired}"
    );
    assert_eq!(invoke(&t, &t.key).await.0, 404);

    // Every step audited, in the group (no entity).
    let (_, events) = t.finish_with_audit().await;
    // Refusals name the group as their target, changes the use case.
    let count = |action: &str, outcome: domain::Outcome| {
        events
            .iter()
            .filter(|e| e.action.as_str() == action && e.outcome == outcome)
            .filter(|e| e.target.starts_with(SLUG) || e.target == "group")
            .inspect(|e| assert_eq!(e.entity_id, None, "{e:?}"))
            .count()
    };
    let done = |action: &str| count(action, domain::Outcome::Success);
    for (action, times) in [
        ("use_case.create", 1),
        ("use_case.version.create", 1),
        ("eval.suite.set", 2),
        ("eval.run", 2),
        ("use_case.submit", 1),
        ("use_case.approve", 1),
        ("use_case.deploy", 1),
        ("use_case.retire", 1),
    ] {
        assert_eq!(done(action), times, "{action}");
    }
    assert_eq!(
        count("use_case.approve", domain::Outcome::Denied),
        1,
        "the engineer's"
    );
    assert_eq!(
        count("use_case.create", domain::Outcome::Denied),
        1,
        "the entity engineer's"
    );
}

on_both_databases!(a_use_case_of_the_group_goes_from_draft_to_retired);
