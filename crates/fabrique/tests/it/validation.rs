//! Requests are checked before they cost anything: a known field out of type or range, a message
//! of an unknown role or without content, a model name no model can have, a prompt past the
//! model's context — 400 naming the field, metered, and nothing sent to a backend. Unknown fields
//! still reach the backend, and the estimate admission charges counts every choice asked for.

use admission::{Limits, Scope};
use serde_json::{Value, json};

use crate::harness::*;

/// `mistral-small` with a context of 4,096 tokens.
fn config() -> String {
    one_endpoint("").replace(
        "endpoints = [\"gpu\"]",
        "endpoints = [\"gpu\"]\ncontext_length = 4096",
    )
}

fn error(body: &str) -> (String, String) {
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{body}"));
    let error = &body["error"];
    (
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["param"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn malformed_requests_are_refused_naming_the_field_before_any_backend() {
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let with = |field: &str, value: Value| {
        let mut body = chat_body("mistral-small");
        body[field] = value;
        body
    };
    let many: Vec<Value> = (0..100_000)
        .map(|_| json!({"role": "user", "content": "a"}))
        .collect();
    let cases = [
        (
            with("temperature", json!("hot")),
            "invalid_value",
            "temperature",
        ),
        (with("n", json!(0)), "invalid_value", "n"),
        (with("top_p", json!(3)), "invalid_value", "top_p"),
        (with("max_tokens", json!(-1)), "invalid_value", "max_tokens"),
        (
            with("messages", json!([{"role": "wizard", "content": "hi"}])),
            "invalid_value",
            "messages[0].role",
        ),
        (
            with("messages", json!([{"role": "user", "content": null}])),
            "invalid_value",
            "messages[0].content",
        ),
        (
            with("model", json!("=HYPERLINK(\"https://evil.example\")")),
            "invalid_value",
            "model",
        ),
        (with("model", json!("x\u{0}y")), "invalid_value", "model"),
        (
            with("messages", json!(many)),
            "context_length_exceeded",
            "messages",
        ),
        (
            with("max_tokens", json!(5_000)),
            "context_length_exceeded",
            "messages",
        ),
    ];
    for (body, code, param) in &cases {
        let (status, _, text) = t.post("/v1/chat/completions", body).await;
        assert_eq!(status, 400, "{text}");
        assert_eq!(
            error(&text),
            ((*code).to_owned(), (*param).to_owned()),
            "{text}"
        );
    }
    let (status, _, text) = t
        .post(
            "/v1/embeddings",
            &json!({"model": "mistral-small", "input": []}),
        )
        .await;
    assert_eq!((status, error(&text).1.as_str()), (400, "input"), "{text}");
    let stats = t.sims[0].0.stats();
    assert_eq!(
        stats.chat_requests + stats.embeddings_requests,
        0,
        "nothing reached the backend"
    );

    let records = t.finish().await;
    assert_eq!(records.len(), cases.len() + 1, "every refusal is metered");
    assert!(
        records
            .iter()
            .all(|r| r.model.len() <= 128 && !r.model.starts_with('=') && !r.model.contains('\0')),
        "no unchecked model name is stored: {records:?}"
    );
}

#[tokio::test]
async fn unknown_fields_still_reach_the_backend() {
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let mut body = chat_body("mistral-small");
    body["guided_choice"] = json!(["oui", "non"]);
    body["temperature"] = json!(0.3);
    let (status, _, text) = t.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    let seen = t.sims[0].0.stats().last_chat_request.unwrap();
    assert_eq!(seen["guided_choice"], json!(["oui", "non"]));
}

/// The simulator refuses what vLLM refuses, so a test that bypasses the gateway sees it too.
#[tokio::test]
async fn the_simulator_refuses_what_vllm_refuses() {
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let sim = t.sims[0].1.base_url();
    let mut body = chat_body("mistral-small");
    body["temperature"] = json!("hot");
    let response = t
        .http
        .post(format!("{sim}/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert_eq!(error(&text).1, "temperature", "{text}");
}

/// Admission charges a request for every choice it decodes, and for `max_completion_tokens` over
/// `max_tokens`: a key of 300 tokens a minute takes one choice of 100 tokens, not three.
#[tokio::test]
async fn the_estimate_counts_every_choice_and_max_completion_tokens_wins() {
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let key: domain::KeyId = t.key_id.parse().unwrap();
    let limits = Limits {
        requests_per_minute: None,
        tokens_per_minute: Some(300),
    };
    t.server
        .gateway
        .admission
        .set_limit(Scope::Key(key), limits)
        .unwrap();
    let mut three = chat_body("mistral-small");
    three["max_tokens"] = json!(100);
    three["n"] = json!(3);
    let (status, _, text) = t.post("/v1/chat/completions", &three).await;
    assert_eq!(status, 429, "{text}");
    let mut long = chat_body("mistral-small");
    long["max_tokens"] = json!(10);
    long["max_completion_tokens"] = json!(1_000);
    let (status, _, text) = t.post("/v1/chat/completions", &long).await;
    assert_eq!(status, 429, "{text}");
    let mut one = chat_body("mistral-small");
    one["max_tokens"] = json!(100);
    let (status, _, text) = t.post("/v1/chat/completions", &one).await;
    assert_eq!(status, 200, "{text}");
}
