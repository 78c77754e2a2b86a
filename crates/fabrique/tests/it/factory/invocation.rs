//! Invoking a deployed use case, on SQLite and PostgreSQL: its data policy, set through the admin
//! API, may only tighten its owning entity's, applies to its callers' requests, and its refusals
//! are counted per version; a streamed answer of a version with an output schema is checked when
//! the stream ends, a violation said in a final error event and counted as the version's error.

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

on_both_databases!(
    a_use_cases_policy_only_tightens_and_its_refusals_are_counted,
    a_streamed_structured_answer_is_checked_when_it_ends,
);
