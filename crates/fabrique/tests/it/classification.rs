//! Classification-cleared routing: a request only reaches endpoints cleared for its classification,
//! and when none is, it is refused before a single byte leaves.

use serde_json::{Value, json};

use crate::harness::*;

/// `gpu-onprem` may receive anything; `cloud-eu` only up to `internal`. `mistral-small` runs only in
/// the cloud; `mistral-large` runs in the cloud and falls back on premises.
const CONFIG: &str = r#"
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
name = "mistral-large"
kind = "chat"
endpoints = ["cloud-eu"]
fallbacks = ["mistral-large-onprem"]

[[models]]
name = "mistral-large-onprem"
kind = "chat"
endpoints = ["gpu-onprem"]

[[models]]
name = "mistral-embed"
kind = "embeddings"
endpoints = ["cloud-eu"]

[[entities]]
slug = "markets"
name = "Marchés"
classification = "confidential"

[policy]
personal_data_classification = "confidential"
"#;

async fn start() -> TestServer {
    TestServer::start(vec![instant_sim(), instant_sim()], CONFIG).await
}

async fn chat_labelled(
    t: &TestServer,
    key: &str,
    model: &str,
    label: Option<&str>,
    text: &str,
) -> (u16, Value) {
    let mut request = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 3}));
    if let Some(label) = label {
        request = request.header("x-fabrique-classification", label);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_label_above_every_cleared_endpoint_is_refused_before_anything_is_sent() {
    let t = start().await;
    let (status, body) =
        chat_labelled(&t, &t.key, "mistral-small", Some("confidential"), "Bonjour").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "classification_not_permitted");
    assert_eq!(body["error"]["type"], "permission_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`confidential`") && message.contains("`mistral-small`"),
        "{message}"
    );
    assert_eq!(
        t.requests_seen(0) + t.requests_seen(1),
        0,
        "no endpoint saw anything"
    );

    let (records, audit) = t.finish_with_audit().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, 403);
    assert_eq!(records[0].classification.as_deref(), Some("confidential"));
    assert_eq!(records[0].endpoint, None);
    let denial = audit
        .iter()
        .find(|e| {
            e.action == domain::AuditAction::inference_refused("classification_not_permitted")
        })
        .expect("the refusal is audited");
    assert_eq!(denial.outcome, domain::Outcome::Denied);
    assert_eq!(denial.target, "mistral-small");
    assert!(
        denial
            .detail
            .contains("\"classification\":\"confidential\""),
        "{}",
        denial.detail
    );
}

#[tokio::test]
async fn a_cleared_request_goes_only_where_it_may_and_is_recorded_with_its_hosting() {
    let t = start().await;
    let (status, body) = chat_labelled(&t, &t.key, "mistral-small", None, "Bonjour").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        chat_labelled(&t, &t.key, "mistral-small", Some("internal"), "Bonjour").await;
    assert_eq!(status, 200, "{body}");

    // Too high for the cloud: the fallback on premises answers, the cloud sees nothing more.
    let (status, body) =
        chat_labelled(&t, &t.key, "mistral-large", Some("secret"), "Bonjour").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "mistral-large-onprem");
    assert_eq!(t.sims[1].0.stats().chat_requests, 2);
    assert_eq!(t.sims[0].0.stats().chat_requests, 1);

    let records = t.finish().await;
    let seen: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r.classification.as_deref(),
                r.hosting.map(domain::Hosting::as_str),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("public"), Some("eu_cloud")),
            (Some("internal"), Some("eu_cloud")),
            (Some("secret"), Some("on_premises")),
        ]
    );
}

#[tokio::test]
async fn personal_data_in_the_input_raises_the_classification() {
    let t = start().await;
    let iban = "Virez le solde sur FR76 3000 6000 0112 3456 7890 189 demain.";
    let (status, body) = chat_labelled(&t, &t.key, "mistral-small", None, iban).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`confidential`")
    );
    // A near-miss (wrong check digits) is not personal data.
    let near_miss = "Virez le solde sur FR76 3000 6000 0112 3456 7890 188 demain.";
    let (status, body) = chat_labelled(&t, &t.key, "mistral-small", None, near_miss).await;
    assert_eq!(status, 200, "{body}");
    // With a cleared fallback, the same request is served on premises.
    let (status, body) = chat_labelled(&t, &t.key, "mistral-large", None, iban).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "mistral-large-onprem");

    // Embedding inputs are inspected too.
    let (status, _, body) = t
        .post(
            "/v1/embeddings",
            &json!({"model": "mistral-embed", "input": ["ok", "écrire à jeanne.martin@example.fr"]}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(t.sims[1].0.stats().embeddings_requests, 0);
}

#[tokio::test]
async fn an_entity_default_applies_to_all_its_requests() {
    let t = start().await;
    let (_, markets_key) = t.create_user_key("markets", "trader").await;
    let (status, body) = chat_labelled(&t, &markets_key, "mistral-small", None, "Bonjour").await;
    assert_eq!(status, 403, "{body}");
    // A caller cannot label its way below its entity's level.
    let (status, _) =
        chat_labelled(&t, &markets_key, "mistral-small", Some("public"), "Bonjour").await;
    assert_eq!(status, 403);
    let (status, body) = chat_labelled(&t, &markets_key, "mistral-large", None, "Bonjour").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "mistral-large-onprem");
    assert_eq!(
        t.sims[1].0.stats().chat_requests,
        0,
        "the cloud never saw the entity's data"
    );
}

#[tokio::test]
async fn an_unknown_label_is_a_clear_client_error() {
    let t = start().await;
    let (status, body) =
        chat_labelled(&t, &t.key, "mistral-small", Some("top-secret"), "Bonjour").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_classification");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("top-secret") && message.contains("confidential"),
        "{message}"
    );
    assert_eq!(t.requests_seen(0) + t.requests_seen(1), 0);
}
