//! Which models a caller may use — their entity's `models` list and their key's `models` scope —
//! holds for fallbacks too, whichever way a fallback would be reached: a classification the
//! model's endpoints are not cleared for, or an endpoint that fails.

use domain::{AuditAction, AuditEvent};
use serde_json::{Value, json};

use crate::harness::*;

/// The review's set-up: `mistral-small` runs in the cloud, cleared up to `internal`, and falls
/// back on `mistral-large`, on premises. Retail banking may only use `mistral-small`. The cloud
/// endpoint fails every request, so a caller would fail over to the fallback.
const CONFIG: &str = r#"
classifications = ["public", "internal", "confidential", "secret"]

[routing]
health_check_interval_ms = 0
circuit_failures = 100

[[endpoints]]
name = "cloud"
kind = "vllm"
url = "{sim0}"
hosting = "eu_cloud"
clearance = "internal"

[[endpoints]]
name = "onprem"
kind = "vllm"
url = "{sim1}"
hosting = "on_premises"
clearance = "secret"

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["cloud"]
fallbacks = ["mistral-large"]

[[models]]
name = "mistral-large"
kind = "chat"
endpoints = ["onprem"]

[[entities]]
slug = "retail-bank"
name = "RB"
models = ["mistral-small"]
"#;

async fn start() -> TestServer {
    let failing = sim::SimConfig {
        faults: sim::Faults {
            error_rate: 1.0,
            ..sim::Faults::default()
        },
        ..instant_sim()
    };
    TestServer::start(vec![failing, instant_sim()], CONFIG).await
}

async fn chat(t: &TestServer, key: &str, label: Option<&str>) -> (u16, Value) {
    let mut request = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat_body("mistral-small"));
    if let Some(label) = label {
        request = request.header("x-fabrique-classification", label);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn refusals<'a>(events: &'a [AuditEvent], code: &str) -> Vec<&'a AuditEvent> {
    let action = AuditAction::inference_refused(code);
    events.iter().filter(|e| e.action == action).collect()
}

/// A caller who may not use the fallback gets neither way to it: raising the classification
/// (403, audited) nor the model's endpoint failing (502). The fallback's endpoint sees nothing.
async fn no_way_to_the_fallback(t: TestServer, key: &str) {
    let (status, body) = chat(&t, key, Some("secret")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "classification_not_permitted");
    let (status, body) = chat(&t, key, None).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_error");
    assert_eq!(t.requests_seen(1), 0, "the fallback's endpoint saw nothing");
    let (records, events) = t.finish_with_audit().await;
    assert!(
        records.iter().all(|r| r.model == "mistral-small"),
        "{records:?}"
    );
    assert_eq!(refusals(&events, "classification_not_permitted").len(), 1);
}

#[tokio::test]
async fn a_fallback_outside_the_entitys_models_is_never_used() {
    let t = start().await;
    let (_, key) = t.create_user_key("retail-bank", "rb").await;
    no_way_to_the_fallback(t, &key).await;
}

#[tokio::test]
async fn a_fallback_outside_the_keys_scope_is_never_used() {
    let t = start().await;
    let (user, _, _) = t.create_user_with_roles("acme", "scoped", &[]).await;
    let scoped = json!({"user_id": user, "models": ["mistral-small"]});
    let (status, key) = t.admin_post("/admin/v1/keys", scoped).await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();
    no_way_to_the_fallback(t, &key).await;
}

#[tokio::test]
async fn a_caller_allowed_the_fallback_still_gets_it() {
    let t = start().await;
    let (status, body) = chat(&t, &t.key, Some("secret")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "mistral-large");
    let (status, body) = chat(&t, &t.key, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "mistral-large");
}

#[tokio::test]
async fn each_model_is_listed_with_where_it_runs_and_the_highest_classification_it_accepts() {
    let t = start().await;
    let list = t.get_json("/v1/models", &t.key).await;
    let card = |id: &str| {
        let cards = list["data"].as_array().unwrap();
        cards.iter().find(|c| c["id"] == id).unwrap().clone()
    };
    assert_eq!(
        card("mistral-small")["hosting"],
        json!(["eu_cloud"]),
        "{list}"
    );
    assert_eq!(card("mistral-small")["clearance"], "internal");
    assert_eq!(card("mistral-large")["hosting"], json!(["on_premises"]));
    assert_eq!(card("mistral-large")["clearance"], "secret");
}

/// Every inference access denial leaves one audit event, `inference.<code>`: a model outside the
/// key's scope, a model the entity may not use (answered as absent), a use case of another
/// entity, a priority above the key's class.
#[tokio::test]
async fn each_access_denial_is_audited_once() {
    let config =
        format!("{CONFIG}\n[[use_cases]]\nslug = \"kyc-review\"\nentity = \"retail-bank\"\n");
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config).await;
    let (_, retail) = t.create_user_key("retail-bank", "rb").await;
    let (user, _, _) = t.create_user_with_roles("acme", "scoped", &[]).await;
    let narrow = json!({"user_id": user, "models": ["mistral-small"], "priority": "batch"});
    let (status, scoped) = t.admin_post("/admin/v1/keys", narrow).await;
    assert_eq!(status, 201, "{scoped}");
    let scoped = scoped["key"].as_str().unwrap().to_owned();
    let send = |key: &str, model: &str, header: Option<(&str, &str)>| {
        let mut request = t
            .http
            .post(t.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&chat_body(model));
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(send(&scoped, "mistral-large", None).await, 403);
    assert_eq!(send(&retail, "mistral-large", None).await, 404);
    assert_eq!(send(&t.key, "mistral-huge", None).await, 404);
    let use_case = Some(("x-fabrique-use-case", "kyc-review"));
    assert_eq!(send(&t.key, "mistral-small", use_case).await, 403);
    let urgent = Some(("x-fabrique-priority", "interactive"));
    assert_eq!(send(&scoped, "mistral-small", urgent).await, 403);

    let (_, events) = t.finish_with_audit().await;
    for code in [
        "model_not_allowed",
        "use_case_not_permitted",
        "priority_not_allowed",
    ] {
        assert_eq!(refusals(&events, code).len(), 1, "{code}: {events:?}");
    }
    // Only the model that exists but is not the entity's: an unknown name is no access decision.
    let absent = refusals(&events, "model_not_found");
    assert_eq!(absent.len(), 1, "{absent:?}");
    assert_eq!(absent[0].target, "mistral-large");
}
