//! The response cache (`[cache]`): a request an entity already made is answered again without a
//! backend, charged no tokens, and the record says so; another entity's identical request is
//! never answered from it.

use serde_json::{Value, json};

use crate::harness::*;

fn config() -> String {
    one_endpoint(
        r#"
[[models]]
name = "mistral-embed"
kind = "embeddings"
endpoints = ["gpu"]

[cache]
models = ["mistral-small", "mistral-embed"]
"#,
    )
}

/// The chat requests simulator 0 received.
fn backend_chats(t: &TestServer) -> u64 {
    t.sims[0].0.stats().chat_requests
}

#[tokio::test]
async fn a_cache_hit_is_answered_without_a_backend_and_charged_no_tokens() {
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let body = chat_body("mistral-small");
    let (status, first_headers, first) = t.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{first}");
    assert!(first_headers.get("x-fabrique-cache").is_none());
    let (status, headers, second) = t.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(headers["x-fabrique-cache"], "hit");
    assert_eq!(second, first, "the same answer, byte for byte");
    assert_eq!(backend_chats(&t), 1, "the hit asked no backend");
    // A colleague of the same entity shares it; embeddings are cached too.
    let (_, colleague) = t.create_user_key("acme", "grace").await;
    let (_, headers, _) = t
        .post_with_key("/v1/chat/completions", &body, &colleague)
        .await;
    assert_eq!(headers["x-fabrique-cache"], "hit");
    let embed = json!({"model": "mistral-embed", "input": "Bonjour"});
    t.post("/v1/embeddings", &embed).await;
    let (_, headers, _) = t.post("/v1/embeddings", &embed).await;
    assert_eq!(headers["x-fabrique-cache"], "hit");

    let records = t.finish().await;
    let hits: Vec<_> = records.iter().filter(|r| r.cache_hit).collect();
    assert_eq!(hits.len(), 3, "{records:#?}");
    for hit in hits {
        assert_eq!((hit.status, hit.error_code.as_deref()), (200, None));
        assert_eq!((hit.prompt_tokens, hit.completion_tokens), (0, 0));
        assert_eq!((hit.cost_micros, hit.endpoint.as_deref()), (0, None));
    }
    let first = records.iter().find(|r| !r.cache_hit).unwrap();
    assert!(first.prompt_tokens > 0 && first.endpoint.is_some());
}

#[tokio::test]
async fn another_entitys_identical_request_misses() {
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let body = chat_body("mistral-small");
    t.post("/v1/chat/completions", &body).await;
    let (_, other) = t.create_user_key("globex", "linus").await;
    let (status, headers, answer) = t.post_with_key("/v1/chat/completions", &body, &other).await;
    assert_eq!(status, 200, "{answer}");
    assert!(headers.get("x-fabrique-cache").is_none());
    assert_eq!(backend_chats(&t), 2);
    // A request that differs in anything the model reads misses too.
    let mut longer = body.clone();
    longer["max_tokens"] = json!(6);
    let (_, headers, _) = t.post("/v1/chat/completions", &longer).await;
    assert!(headers.get("x-fabrique-cache").is_none());
    assert_eq!(backend_chats(&t), 3);
}

#[tokio::test]
async fn a_stream_is_replayed_whole_from_the_cache() {
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let mut body = chat_body("mistral-small");
    body["stream"] = Value::Bool(true);
    let (status, _, first) = t.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{first}");
    let (status, headers, replayed) = t.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(headers["x-fabrique-cache"], "hit");
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(sse_text(&replayed), sse_text(&first));
    assert!(replayed.ends_with("data: [DONE]\n\n"), "{replayed}");
    assert_eq!(backend_chats(&t), 1);
    let records = t.finish().await;
    assert!(records.iter().any(|r| r.cache_hit && r.stream));
}
