//! Streams: relayed chunk by chunk, usage metered whether or not the caller asked for it, and a
//! backend that breaks off mid-stream ends the stream with an error event.

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
