//! Streams: relayed chunk by chunk, usage metered whether or not the caller asked for it, a
//! backend that breaks off mid-stream ends the stream with an error event, and a stream cut
//! before its usage is charged what was relayed.

use serde_json::{Value, json};

use crate::harness::*;

fn config() -> String {
    two_endpoints(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a"]
upstream_name = "internal/small"

[[models]]
name = "codestral"
kind = "fim"
endpoints = ["gpu-b"]
"#,
    )
}

fn stream_body(include_usage: Option<bool>) -> Value {
    let mut body = chat_body("mistral-small");
    body["stream"] = json!(true);
    if let Some(include) = include_usage {
        body["stream_options"] = json!({"include_usage": include});
    }
    body
}

#[tokio::test]
async fn usage_chunk_is_relayed_only_when_asked_but_always_metered() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;

    let (status, headers, text) = t
        .post("/v1/chat/completions", &stream_body(Some(true)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(
        chunks.iter().all(|c| c["model"] == "mistral-small"),
        "public model name in every chunk"
    );
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 5);
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(content.starts_with(sim::SIMULATED_MARK));

    // Not asked: the gateway still asks the backend, but the caller never sees the usage chunk.
    let (status, _, text) = t.post("/v1/chat/completions", &stream_body(None)).await;
    assert_eq!(status, 200);
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(events.iter().all(|e| !e.contains("\"usage\"")), "{text}");
    let backend_saw = t.sims[0].0.stats().last_chat_request.unwrap();
    assert_eq!(backend_saw["stream_options"]["include_usage"], true);

    let records = t.finish().await;
    assert_eq!(records.len(), 2);
    for record in &records {
        assert!(record.stream);
        assert_eq!(record.completion_tokens, 5);
        assert!(record.prompt_tokens > 0);
        assert!(record.error_code.is_none());
        assert!(record.ttft_ms.is_some());
    }
}

#[tokio::test]
async fn fim_streams_too() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let body = json!({"model": "codestral", "prompt": "fn main() {", "suffix": "}", "stream": true, "max_tokens": 3});
    let (status, _, text) = t.post("/v1/fim/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(sse_data(&text).last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn a_stream_cut_by_the_backend_ends_with_an_error_event() {
    let cut = sim::SimConfig {
        faults: sim::Faults {
            disconnect_rate: 1.0,
            ..sim::Faults::default()
        },
        max_tokens_default: 50,
        ..instant_sim()
    };
    let t = TestServer::start(vec![cut, instant_sim()], &config()).await;
    let mut body = stream_body(Some(true));
    body["max_tokens"] = json!(50);
    let (status, _, text) = t.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "headers were sent before the cut");
    let events = sse_data(&text);
    assert_ne!(events.last().map(String::as_str), Some("[DONE]"));
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted", "{text}");
    let records = t.finish().await;
    assert_eq!(records[0].error_code.as_deref(), Some("stream_interrupted"));
}

/// A budget of a million tokens a day on the test key.
fn token_budget(t: &TestServer) -> admission::Scope {
    let scope = admission::Scope::Key(t.key_id.parse().unwrap());
    let budget = admission::Budget {
        period: admission::Period::Day,
        unit: admission::BudgetUnit::Tokens,
        hard_limit: 1_000_000,
        soft_threshold_percent: None,
    };
    t.server
        .gateway
        .admission
        .set_budget(scope.clone(), budget)
        .unwrap();
    scope
}

fn spent(t: &TestServer, scope: &admission::Scope) -> u64 {
    let budget = t.server.gateway.admission.budget(
        scope,
        admission::Period::Day,
        admission::BudgetUnit::Tokens,
        domain::now_millis(),
    );
    budget.map_or(0, |b| b.spent + b.reserved)
}

/// The characters of completion text in the chunks of an SSE body.
fn relayed_chars(sse: &str) -> usize {
    sse_text(sse).chars().count()
}

/// Starts a chat stream allowing `max_tokens`; returns the body sent, for its estimate.
async fn start_stream(t: &TestServer, max_tokens: u64) -> (Vec<u8>, reqwest::Response) {
    let mut body = stream_body(Some(true));
    body["max_tokens"] = json!(max_tokens);
    let body = serde_json::to_vec(&body).unwrap();
    let response = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(&t.key)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    (body, response)
}

/// What a stream cut before its usage chunk is charged: its prompt's estimate, the body's bytes
/// ÷ 4, and the completion relayed, its characters ÷ 4, both rounded up; the record says the
/// counts are estimated, and the budget sees them as soon as the stream ends.
#[tokio::test]
async fn a_stream_the_backend_cuts_is_charged_its_prompt_and_what_was_relayed() {
    let cut = sim::SimConfig {
        faults: sim::Faults {
            disconnect_rate: 1.0,
            ..sim::Faults::default()
        },
        ..instant_sim()
    };
    let t = TestServer::start(vec![cut, instant_sim()], &config()).await;
    let budget = token_budget(&t);
    let (body, response) = start_stream(&t, 50).await;
    let text = response.text().await.unwrap();
    assert!(text.contains("stream_interrupted"), "{text}");
    let prompt = body.len().div_ceil(4) as u64;
    let completion = relayed_chars(&text).div_ceil(4) as u64;
    assert!(completion > 0, "{text}");
    assert_eq!(spent(&t, &budget), prompt + completion, "charged at once");

    let records = t.finish().await;
    let record = &records[0];
    assert_eq!(record.error_code.as_deref(), Some("stream_interrupted"));
    assert_eq!(
        (record.prompt_tokens, record.completion_tokens),
        (prompt, completion)
    );
    assert!(record.usage_estimated);
}

/// A stream the caller cuts is charged at least what the caller received, and its prompt.
#[tokio::test]
async fn a_stream_the_caller_cuts_is_charged_at_least_what_it_received() {
    let slow = sim::SimConfig {
        tokens_per_second: 2.0,
        ..instant_sim()
    };
    let t = TestServer::start(vec![slow, instant_sim()], &config()).await;
    let (body, mut held) = start_stream(&t, 1_000).await;
    let mut received = String::new();
    while relayed_chars(&received) == 0 {
        let chunk = held.chunk().await.unwrap().expect("a chunk");
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    drop(held);

    let records = t.finish().await;
    let record = &records[0];
    assert_eq!(record.error_code.as_deref(), Some("client_disconnected"));
    assert_eq!(record.prompt_tokens, body.len().div_ceil(4) as u64);
    let received = relayed_chars(&received).div_ceil(4) as u64;
    assert!(
        (received..1_000).contains(&record.completion_tokens),
        "{} tokens charged for {received} received",
        record.completion_tokens
    );
    assert!(record.usage_estimated);
}
