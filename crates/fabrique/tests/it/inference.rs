//! Non-streaming inference, models, errors and usage records.

use serde_json::{Value, json};

use crate::harness::*;

fn one_model(extra: &str) -> String {
    two_endpoints(&format!(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a", "gpu-b"]
upstream_name = "mistralai/Mistral-Small-Instruct"
input_price_per_million = 2.0
output_price_per_million = 6.0

[[models]]
name = "mistral-embed"
kind = "embeddings"
endpoints = ["gpu-a"]

[[models]]
name = "codestral"
kind = "fim"
endpoints = ["gpu-b"]

{extra}
"#
    ))
}

#[tokio::test]
async fn chat_usage_matches_the_backend_and_is_recorded() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &one_model("")).await;
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(status, 200, "{body}");
    // The backend knows the model by another name; the caller sees the public one.
    assert_eq!(body["model"], "mistral-small");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.starts_with(sim::SIMULATED_MARK), "{content}");
    let usage = &body["usage"];
    assert_eq!(usage["completion_tokens"], 5);
    let served: u64 = t.sims.iter().map(|(s, _)| s.stats().prompt_tokens).sum();
    assert_eq!(usage["prompt_tokens"].as_u64(), Some(served));
    let backend_saw = t
        .sims
        .iter()
        .find_map(|(s, _)| s.stats().last_chat_request)
        .unwrap();
    assert_eq!(backend_saw["model"], "mistralai/Mistral-Small-Instruct");

    let key_id = t.key_id.clone();
    let records = t.finish().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.model, "mistral-small");
    assert_eq!(record.prompt_tokens, served);
    assert_eq!(record.completion_tokens, 5);
    assert_eq!(record.status, 200);
    assert_eq!(record.key_id.map(|k| k.to_string()), Some(key_id));
    assert!(record.user_id.is_some() && record.entity_id.is_some());
    assert!(
        record
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("gpu-"))
    );
    // 2.00 per million input, 6.00 per million output, in micro-units.
    assert_eq!(
        record.cost_micros,
        (served * 2_000_000 + 5 * 6_000_000 + 500_000) / 1_000_000
    );
}

#[tokio::test]
async fn fields_the_gateway_does_not_interpret_pass_through_unchanged() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &one_model("")).await;
    let tools = json!([{"type": "function", "function": {"name": "get_rate", "parameters": {"type": "object"}}}]);
    let mut body = chat_body("mistral-small");
    body["tools"] = tools.clone();
    body["tool_choice"] = json!("auto");
    body["response_format"] = json!({"type": "json_object"});
    body["seed"] = json!(42);
    let (status, _, text) = t.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    let seen = t
        .sims
        .iter()
        .find_map(|(s, _)| s.stats().last_chat_request)
        .unwrap();
    assert_eq!(seen["tools"], tools);
    assert_eq!(seen["tool_choice"], "auto");
    assert_eq!(seen["response_format"], json!({"type": "json_object"}));
    assert_eq!(seen["seed"], 42);
}

#[tokio::test]
async fn embeddings_and_fim_are_served() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &one_model("")).await;
    let (status, _, text) = t
        .post(
            "/v1/embeddings",
            &json!({"model": "mistral-embed", "input": ["un", "deux"]}),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let fim = json!({"model": "codestral", "prompt": "def add(a, b):", "suffix": "return c", "max_tokens": 4});
    let (status, _, text) = t.post("/v1/fim/completions", &fim).await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["usage"]["completion_tokens"], 4);

    // A chat model does not serve embeddings.
    let (status, _, text) = t
        .post(
            "/v1/embeddings",
            &json!({"model": "mistral-small", "input": "x"}),
        )
        .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("model_kind_mismatch"), "{text}");

    let records = t.finish().await;
    assert_eq!(records.iter().filter(|r| r.status == 200).count(), 2);
    assert!(
        records
            .iter()
            .any(|r| r.operation == domain::Operation::Embeddings && r.prompt_tokens > 0)
    );
}

#[tokio::test]
async fn models_lists_only_what_the_entity_may_use() {
    let config = one_model(
        r#"
[[entities]]
slug = "restricted"
name = "Restricted entity"
models = ["mistral-embed"]
"#,
    );
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config).await;
    let ids = t.model_ids(&t.key).await;
    assert_eq!(ids, ["mistral-small", "mistral-embed", "codestral"]);

    let (_, restricted_key) = t.create_user_key("restricted", "bob").await;
    let ids = t.model_ids(&restricted_key).await;
    assert_eq!(ids, ["mistral-embed"]);
    let one = t
        .http
        .get(t.url("/v1/models/mistral-small"))
        .bearer_auth(&restricted_key)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 404);
    let (status, _, _) = t
        .post_with_key(
            "/v1/chat/completions",
            &chat_body("mistral-small"),
            &restricted_key,
        )
        .await;
    assert_eq!(status, 404);
    let one: Value = t
        .http
        .get(t.url("/v1/models/mistral-embed"))
        .bearer_auth(&restricted_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "mistral-embed");
}

#[tokio::test]
async fn every_failure_is_openai_style_json_with_the_right_status() {
    let config = one_model("[server]\nmax_body_bytes = 2048\n");
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config).await;
    let url = t.url("/v1/chat/completions");
    let send = |body: String, key: Option<&str>| {
        let mut request = t
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let cases: Vec<(u16, &str, reqwest::Response)> = vec![
        (
            400,
            "invalid_json",
            send(
                "{\"model\": \"mistral-small\",\n \"messages\": [".into(),
                Some(&t.key),
            )
            .await
            .unwrap(),
        ),
        (
            400,
            "invalid_value",
            send(
                r#"{"model":"mistral-small","messages":"hi"}"#.into(),
                Some(&t.key),
            )
            .await
            .unwrap(),
        ),
        (
            401,
            "missing_api_key",
            send(chat_body("mistral-small").to_string(), None)
                .await
                .unwrap(),
        ),
        (
            401,
            "invalid_api_key",
            send(chat_body("mistral-small").to_string(), Some("fabk_nope"))
                .await
                .unwrap(),
        ),
        (
            404,
            "model_not_found",
            send(chat_body("gpt-17").to_string(), Some(&t.key))
                .await
                .unwrap(),
        ),
        (
            413,
            "request_too_large",
            send(
                format!("{{\"model\":\"{}\"}}", "x".repeat(4096)),
                Some(&t.key),
            )
            .await
            .unwrap(),
        ),
    ];
    for (expected, code, response) in cases {
        assert_eq!(response.status().as_u16(), expected);
        assert!(response.headers().contains_key("x-request-id"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(body["error"]["type"].is_string());
    }
    // Malformed JSON says where.
    let body: Value = send("{\n\"model\": 1,,\n}".into(), Some(&t.key))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{body}"
    );
    // Unknown routes too.
    let response = t.http.get(t.url("/v1/nothing")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_route");
}

#[tokio::test]
async fn request_ids_are_the_servers_and_the_callers_is_kept_apart() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &one_model("")).await;
    let response = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(&t.key)
        .header("x-request-id", "req-from-caller-1")
        .json(&chat_body("mistral-small"))
        .send()
        .await
        .unwrap();
    let server_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(server_id, "req-from-caller-1", "no caller chooses the id");
    assert!(server_id.len() >= 16);
    assert_eq!(
        response.headers()["x-client-request-id"],
        "req-from-caller-1"
    );
    let (_, headers, _) = t
        .post("/v1/chat/completions", &chat_body("mistral-small"))
        .await;
    assert!(headers["x-request-id"].len() >= 16);
    assert_ne!(headers["x-request-id"].to_str().unwrap(), server_id);
    assert!(!headers.contains_key("x-client-request-id"));

    let metrics = t.metrics().await;
    assert!(
        metrics.contains(
            r#"fabrique_requests_total{entity="acme",model="mistral-small",route="chat",status="2xx"} 2"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"fabrique_tokens_total{entity="acme",model="mistral-small",direction="output"} 10"#
        ),
        "{metrics}"
    );
    let records = t.finish().await;
    assert_eq!(records[0].request_id, server_id);
    assert_eq!(
        records[0].client_request_id.as_deref(),
        Some("req-from-caller-1")
    );
    assert_eq!(records[1].client_request_id, None);
}

#[tokio::test]
async fn the_mistral_api_gets_only_fields_it_accepts() {
    let config = r#"
[routing]
health_check_interval_ms = 0
[[endpoints]]
name = "la-plateforme"
kind = "mistral"
url = "{sim0}"
hosting = "eu_cloud"
clearance = "internal"
[[models]]
name = "mistral-large"
kind = "chat"
endpoints = ["la-plateforme"]
"#;
    let t = TestServer::start(vec![instant_sim()], config).await;
    let mut body = chat_body("mistral-large");
    body["user"] = json!("ada@example.test");
    body["seed"] = json!(7);
    body["logit_bias"] = json!({"42": 1});
    let (status, _, text) = t.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    let seen = t.sims[0].0.stats().last_chat_request.unwrap();
    assert!(
        seen.get("user").is_none()
            && seen.get("logit_bias").is_none()
            && seen.get("seed").is_none(),
        "{seen}"
    );
    assert_eq!(seen["random_seed"], 7);
}

/// Prefix caches are kept apart per entity: vLLM endpoints get the caller's entity's
/// `cache_salt`, whatever the caller sent, so one entity's prompts neither warm another's cache
/// nor reveal themselves through its timing.
#[tokio::test]
async fn each_entity_gets_its_own_cache_salt_and_no_caller_chooses_it() {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint("")).await;
    let (_, beta) = t.create_user_key("beta", "bob").await;
    let salt_of = |key: &str, sent: Option<&str>| {
        let mut body = chat_body("mistral-small");
        if let Some(sent) = sent {
            body["cache_salt"] = json!(sent);
        }
        let request = t
            .http
            .post(t.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&body);
        async {
            assert_eq!(request.send().await.unwrap().status(), 200);
            let seen = t.sims[0].0.stats().last_chat_request.unwrap();
            seen["cache_salt"].as_str().unwrap().to_owned()
        }
    };
    let acme = salt_of(&t.key, None).await;
    let other = salt_of(&beta, None).await;
    assert_ne!(acme, other);
    assert_eq!(salt_of(&t.key, None).await, acme);
    assert_eq!(
        salt_of(&t.key, Some(&other)).await,
        acme,
        "the caller's salt is replaced"
    );
}
