//! Invoking a deployed use case, on SQLite and PostgreSQL: its data policy, set through the admin
//! API, may only tighten its owning entity's, applies to its callers' requests, and its refusals
//! are counted per version; a streamed answer of a version with an output schema is checked when
//! the stream ends, a violation said in a final error event and counted as the version's error;
//! a use case's data classification routes its requests to cleared endpoints only.

use std::time::Duration;

use domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

use super::{evaluate, line, put_suite, transition};
use crate::harness::{
    Database, TestServer, call, instant_sim, on_both_databases, sse_data, sse_text,
};

const SLUG: &str = "mail-helper";

/// Acme redacts e-mail addresses and blocks a term; the group blocks nothing.
fn config() -> String {
    crate::harness::one_endpoint(
        r#"
[[entities]]
slug = "acme"
name = "Acme"

[entities.policy]
blocked_terms = ["Projet Orion"]

[entities.policy.actions]
EMAIL = "redact"
"#,
    )
}

fn scripted_sim() -> sim::SimConfig {
    sim::SimConfig {
        script: vec![
            line("invoice 17", r#"{"amount": 17.5, "currency": "EUR"}"#),
            line("invoice broken", r#"{"amount": "a lot"}"#),
        ],
        ..instant_sim()
    }
}

/// The use case of acme's engineer, its version 1 written from `spec`, evaluated, approved by
/// acme's risk officer and deployed; returns the engineer's key.
async fn deployed(t: &TestServer, spec: Value) -> String {
    let (_, engineer) = t
        .create_role_key("acme", "eve", Role::FactoryEngineer, true)
        .await;
    let (_, officer) = t
        .create_role_key("acme", "otto", Role::RiskOfficer, true)
        .await;
    let definition = json!({
        "slug": SLUG, "name": "Mail helper", "purpose": "Reads supplier mail for accounts payable.",
        "owner_entity": "acme", "owners": ["eve"], "allowed_entities": ["acme"], "risk_class": "minimal"
    });
    let (status, body) = call(
        t,
        Method::POST,
        "/admin/v1/use-cases",
        &engineer,
        Some(definition),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let versions = format!("/admin/v1/use-cases/{SLUG}/versions");
    let (status, body) = call(t, Method::POST, &versions, &engineer, Some(spec)).await;
    assert_eq!(status, 201, "{body}");
    let case = r#"{"id": "a", "messages": [{"role": "user", "content": "invoice 17"}], "expect": [{"grader": "contains", "value": "EUR"}]}"#;
    put_suite(t, SLUG, &engineer, "smoke", case).await;
    let run = evaluate(t, SLUG, &engineer, 1, "smoke").await;
    assert_eq!(run["gate"]["passed"], true, "{run}");
    let step = |name: &str| json!({"transition": name, "reason": "test", "eval_run": run["id"], "weight": 100});
    for (key, name) in [
        (&engineer, "submit"),
        (&officer, "approve"),
        (&engineer, "deploy"),
    ] {
        let (status, body) = transition(t, SLUG, key, 1, step(name)).await;
        assert_eq!(status, 200, "{name}: {body}");
    }
    engineer
}

/// A chat call of acme's user: the use case invoked (`usecase/…`), or a model labelled with it.
async fn chat(t: &TestServer, model: &str, text: &str, stream: bool) -> (u16, String) {
    let body =
        json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]});
    let mut request = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(&t.key);
    if !model.starts_with("usecase/") {
        // A model called directly, with its usage charged to the use case.
        request = request.header("x-fabrique-use-case", SLUG);
    }
    let response = request.json(&body).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The use case's figures for version 1, once `ready` holds of them (the usage writers store
/// records in the background).
async fn version_stats(t: &TestServer, key: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/admin/v1/use-cases/{SLUG}/stats");
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (_, stats) = call(t, Method::GET, &path, key, None).await;
            if ready(&stats["data"][0]) {
                return stats["data"][0].clone();
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the version's figures")
}

async fn a_use_cases_policy_only_tightens_and_its_refusals_are_counted(database: Database) {
    let Some(t) = TestServer::start_on(database, vec![scripted_sim()], &config()).await else {
        return;
    };
    let engineer = deployed(
        &t,
        json!({"template": "You read supplier mail.", "model": "mistral-small"}),
    )
    .await;
    let path = format!("/admin/v1/use-cases/{SLUG}");
    let set = |policy: Value| {
        call(
            &t,
            Method::PATCH,
            &path,
            &engineer,
            Some(json!({"policy": policy})),
        )
    };

    // Looser than acme's on any point, or not a policy: refused, saying why.
    for (policy, why) in [
        (
            json!({"blocked_terms": []}),
            "blocked term `Projet Orion` dropped",
        ),
        (
            json!({"actions": {"EMAIL": "flag"}}),
            "EMAIL: redact → flag",
        ),
        (json!({"trace_content": true}), "trace_content: on"),
        (json!({"actions": {"IBAN": "shred"}}), "policy.actions.IBAN"),
        (json!({"blocked_term": ["x"]}), "blocked_term"),
    ] {
        let (status, refused) = set(policy.clone()).await;
        assert_eq!(status, 400, "{policy}: {refused}");
        assert_eq!(refused["error"]["param"], "policy", "{refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{policy}: {message}");
    }
    // Tighter: kept, shown, audited.
    let tighter =
        json!({"blocked_terms": ["Projet Orion", "Projet Vega"], "actions": {"EMAIL": "block"}});
    let (status, changed) = set(tighter.clone()).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["policy"], tighter, "{changed}");

    // It applies to the use case's requests, invoked or labelled; acme's own term still blocks.
    let model = format!("usecase/{SLUG}");
    for (model, text, code) in [
        (model.as_str(), "About Projet Vega.", Some("blocked_term")),
        (model.as_str(), "About Projet Orion.", Some("blocked_term")),
        (
            model.as_str(),
            "Write to ada@example.com.",
            Some("personal_data_blocked"),
        ),
        (model.as_str(), "invoice 17", None),
        ("mistral-small", "About Projet Vega.", Some("blocked_term")),
    ] {
        let (status, body) = chat(&t, model, text, false).await;
        match code {
            Some(code) => {
                assert_eq!(status, 400, "{text}: {body}");
                let error: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(error["error"]["code"], code, "{text}: {body}");
            }
            None => assert_eq!(status, 200, "{text}: {body}"),
        }
    }
    // Side by side: the version's three refusals (the labelled request names no version).
    let stats = version_stats(&t, &engineer, |v| v["requests"] == 4).await;
    assert_eq!(
        (stats["policy_refusals"].as_u64(), stats["errors"].as_u64()),
        (Some(3), Some(0)),
        "{stats}"
    );

    // Dropped again with `{}`: acme's policy applies alone.
    let (status, changed) = set(json!({})).await;
    assert_eq!((status, changed.get("policy")), (200, None), "{changed}");
    assert_eq!(
        chat(&t, &model, "About Projet Vega, invoice 17.", false)
            .await
            .0,
        200
    );

    let (_, events) = t.finish_with_audit().await;
    let updates: Vec<_> = events
        .iter()
        .filter(|e| e.action.as_str() == "use_case.update" && e.target == SLUG)
        .collect();
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert!(
        updates[0].detail.contains("Projet Vega"),
        "{}",
        updates[0].detail
    );
}

async fn a_streamed_structured_answer_is_checked_when_it_ends(database: Database) {
    let Some(t) = TestServer::start_on(database, vec![scripted_sim()], &config()).await else {
        return;
    };
    let spec = json!({
        "template": "Extract the invoice.", "model": "mistral-small",
        "output_schema": {
            "type": "object", "required": ["amount", "currency"],
            "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}}
        }
    });
    let engineer = deployed(&t, spec).await;
    let model = format!("usecase/{SLUG}");

    // An answer that fits the schema streams as usual.
    let (status, body) = chat(&t, &model, "invoice 17", true).await;
    assert_eq!(status, 200, "{body}");
    let text = sse_text(&body);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["amount"],
        17.5,
        "{body}"
    );
    assert!(!body.contains("\"error\""), "{body}");

    // One that breaks it: relayed, then an error event saying so just before `[DONE]`.
    let (status, body) = chat(&t, &model, "invoice broken", true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sse_text(&body), r#"{"amount": "a lot"}"#);
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    let error: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], "output_schema_violation", "{body}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(SLUG) && message.contains("currency"),
        "{message}"
    );

    // Counted as the version's error, and metered with its code.
    let stats = version_stats(&t, &engineer, |v| v["requests"] == 2).await;
    assert_eq!(stats["errors"], 1, "{stats}");
    let records = t.finish().await;
    let broken: Vec<_> = records
        .iter()
        .filter(|r| r.stream && r.use_case_version == Some(1))
        .map(|r| r.error_code.as_deref())
        .collect();
    assert_eq!(broken, [None, Some("output_schema_violation")]);
}

/// `cloud-eu` (sim 1) is cleared up to `internal`, `gpu-onprem` (sim 0) up to `secret`;
/// `mistral-small` runs in the cloud, `mistral-small-onprem` on premises.
const CLEARED: &str = r#"
[routing]
health_check_interval_ms = 0

[[endpoints]]
name = "gpu-onprem"
kind = "vllm"
url = "{sim0}"
hosting = "on_premises"
clearance = "secret"

[[endpoints]]
name = "cloud-eu"
kind = "openai"
url = "{sim1}"
hosting = "eu_cloud"
clearance = "internal"

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["cloud-eu"]

[[models]]
name = "mistral-small-onprem"
kind = "chat"
endpoints = ["gpu-onprem"]

[[entities]]
slug = "acme"
name = "Acme"
"#;

/// A use case's data classification is its requests' floor: once it says `confidential`, its
/// invocations and the requests labelled with it reach only the endpoint cleared for that level,
/// whatever lower level the caller states; without a cleared endpoint they are refused before
/// anything leaves.
#[tokio::test]
async fn a_use_cases_classification_routes_its_requests_to_cleared_endpoints_only() {
    let t = TestServer::start(vec![scripted_sim(), scripted_sim()], CLEARED).await;
    let spec = json!({
        "template": "Extract the invoice.", "model": "mistral-small",
        "fallbacks": ["mistral-small-onprem"],
    });
    let engineer = deployed(&t, spec).await;
    let model = format!("usecase/{SLUG}");
    let served = |t: &TestServer| {
        (
            t.sims[0].0.stats().chat_requests,
            t.sims[1].0.stats().chat_requests,
        )
    };
    let (onprem, cloud) = served(&t);
    let (status, body) = chat(&t, &model, "invoice 17", false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        served(&t),
        (onprem, cloud + 1),
        "unclassified: the cloud answers"
    );

    let classify = |level: &str| Some(json!({"classification": level}));
    let path = format!("/admin/v1/use-cases/{SLUG}");
    let (status, body) = call(
        &t,
        Method::PATCH,
        &path,
        &engineer,
        classify("confidential"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = chat(&t, &model, "invoice 17", false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        served(&t),
        (onprem + 1, cloud + 1),
        "invoked: on premises only"
    );
    let (status, body) = chat(&t, "mistral-small-onprem", "invoice 17", false).await;
    assert_eq!(status, 200, "{body}");
    let lowered = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(&t.key)
        .header("x-fabrique-classification", "public")
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "invoice 17"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(lowered.status(), 200);
    assert_eq!(
        served(&t),
        (onprem + 3, cloud + 1),
        "a lower label lowers nothing"
    );

    // Labelled with the use case, a model only the cloud serves is refused, nothing sent.
    let (status, body) = chat(&t, "mistral-small", "invoice 17", false).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("classification_not_permitted"), "{body}");
    assert_eq!(served(&t), (onprem + 3, cloud + 1));

    let records = t.finish().await;
    let levels: Vec<_> = records
        .iter()
        .filter(|r| r.use_case.as_deref() == Some(SLUG) && r.use_case_version.is_some())
        // The evaluation's calls are the evaluator account's.
        .filter(|r| r.service_account_id.is_none())
        .map(|r| r.classification.as_deref())
        .collect();
    assert_eq!(
        levels,
        [Some("public"), Some("confidential"), Some("confidential")],
        "invocations, by the level they were routed at"
    );
}

on_both_databases!(
    a_use_cases_policy_only_tightens_and_its_refusals_are_counted,
    a_streamed_structured_answer_is_checked_when_it_ends,
);
