//! Each kind of endpoint against the simulator playing that engine (`sim::Flavour`), which serves
//! only the engine's own routes in its own wire format: chat, a chat stream and fill-in-the-middle
//! (whole and streamed) reach the caller in OpenAI's and Mistral's shapes, metered, and the kind's
//! health probe is one the engine answers. A route the kind gets wrong answers 404 here.

use domain::{EndpointKind, Operation, UpstreamPath};
use serde_json::{Value, json};
use sim::Flavour;

use crate::harness::*;

/// The models the engine serves.
const MODELS: &str = r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["engine"]

[[models]]
name = "codestral"
kind = "fim"
endpoints = ["engine"]
upstream_name = "codestral-22b"
"#;

fn config(kind: EndpointKind) -> String {
    one_engine(kind, MODELS)
}

/// The texts of a Mistral-shaped stream's chunks, and its usage chunk's completion tokens.
fn streamed(text: &str) -> (String, Option<u64>) {
    let events = sse_data(text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    let mut content = String::new();
    let mut usage = None;
    for event in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(event).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk", "{event}");
        if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(piece);
        }
        if let Some(tokens) = chunk["usage"]["completion_tokens"].as_u64() {
            usage = Some(tokens);
        }
    }
    (content, usage)
}

async fn serves_chat_streams_and_fim(flavour: Flavour, kind: EndpointKind) {
    let engine = sim::SimConfig {
        flavour,
        ..instant_sim()
    };
    let t = TestServer::start(vec![engine], &config(kind)).await;

    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(status, 200, "{kind:?} chat: {body}");
    assert_eq!(body["usage"]["completion_tokens"], 5);

    let mut stream = chat_body("mistral-small");
    stream["stream"] = json!(true);
    let (status, _, text) = t.post("/v1/chat/completions", &stream).await;
    assert_eq!(status, 200, "{kind:?} chat stream: {text}");
    let (content, usage) = streamed(&text);
    assert!(content.starts_with(sim::SIMULATED_MARK), "{text}");
    // Unasked, only the Mistral API sends usage, and it is relayed as it came.
    assert_eq!(
        usage.is_some(),
        !kind.usage_on_request(),
        "{kind:?}: {text}"
    );

    let fim = json!({"model": "codestral", "prompt": "def add(a, b):", "suffix": "return c", "max_tokens": 4});
    let (status, _, text) = t.post("/v1/fim/completions", &fim).await;
    assert_eq!(status, 200, "{kind:?} FIM: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["object"], "chat.completion", "{text}");
    assert_eq!(body["model"], "codestral", "the public name: {text}");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.starts_with(sim::SIMULATED_MARK), "{text}");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 4);

    let mut fim_stream = fim.clone();
    fim_stream["stream"] = json!(true);
    fim_stream["stream_options"] = json!({"include_usage": true});
    let (status, _, text) = t.post("/v1/fim/completions", &fim_stream).await;
    assert_eq!(status, 200, "{kind:?} FIM stream: {text}");
    let (content, usage) = streamed(&text);
    assert!(content.starts_with(sim::SIMULATED_MARK), "{kind:?}: {text}");
    assert_eq!(usage, Some(4), "{kind:?}: {text}");

    let health = match kind.health_path() {
        Some(path) => format!("http://{}{path}", t.sims[0].1.addr),
        None => format!("{}/models", t.sims[0].1.base_url()),
    };
    let probed = t.http.get(&health).send().await.unwrap().status();
    assert!(probed.is_success(), "{kind:?}: {health} answered {probed}");

    let stats = t.sims[0].0.stats();
    assert_eq!(
        (stats.chat_requests, stats.fim_requests),
        (2, 2),
        "{kind:?}"
    );
    let records = t.finish().await;
    let served: Vec<_> = records
        .iter()
        .map(|r| (r.operation, r.status, r.completion_tokens))
        .collect();
    assert_eq!(
        served,
        [
            (Operation::Chat, 200, 5),
            (Operation::Chat, 200, 5),
            (Operation::Fim, 200, 4),
            (Operation::Fim, 200, 4),
        ],
        "{kind:?}: every request metered with the engine's counts"
    );
}

#[tokio::test]
async fn vllm() {
    serves_chat_streams_and_fim(Flavour::Vllm, EndpointKind::Vllm).await;
}

#[tokio::test]
async fn tgi() {
    serves_chat_streams_and_fim(Flavour::Tgi, EndpointKind::Tgi).await;
}

#[tokio::test]
async fn mistral_rs() {
    serves_chat_streams_and_fim(Flavour::MistralRs, EndpointKind::MistralRs).await;
}

#[tokio::test]
async fn llama_cpp() {
    serves_chat_streams_and_fim(Flavour::LlamaCpp, EndpointKind::LlamaCpp).await;
}

#[tokio::test]
async fn ollama() {
    serves_chat_streams_and_fim(Flavour::Ollama, EndpointKind::Ollama).await;
}

#[tokio::test]
async fn openai_compatible() {
    serves_chat_streams_and_fim(Flavour::Openai, EndpointKind::Openai).await;
}

#[tokio::test]
async fn mistral_api() {
    serves_chat_streams_and_fim(Flavour::Mistral, EndpointKind::Mistral).await;
}

#[tokio::test]
async fn simulator() {
    serves_chat_streams_and_fim(Flavour::All, EndpointKind::Simulator).await;
}

/// Each flavour answers 404 on the FIM routes of the other engines: a kind sent to the wrong one
/// would fail above.
#[tokio::test]
async fn a_flavour_serves_only_its_engines_routes() {
    for (flavour, kind) in [
        (Flavour::Vllm, EndpointKind::Vllm),
        (Flavour::LlamaCpp, EndpointKind::LlamaCpp),
        (Flavour::Ollama, EndpointKind::Ollama),
        (Flavour::Mistral, EndpointKind::Mistral),
    ] {
        let engine = sim::spawn(sim::Simulator::new(sim::SimConfig {
            flavour,
            ..instant_sim()
        }))
        .await
        .unwrap();
        let own = kind.route(Operation::Fim).unwrap().path;
        for other in EndpointKind::ALL {
            let path = other.route(Operation::Fim).unwrap().path;
            if path == own {
                continue;
            }
            let url = match path {
                UpstreamPath::Api(path) => format!("{}{path}", engine.base_url()),
                UpstreamPath::Origin(path) => format!("http://{}{path}", engine.addr),
            };
            let status = reqwest::Client::new()
                .post(&url)
                .json(&json!({"model": "m", "prompt": "a"}))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 404, "{flavour:?} on {url}");
        }
    }
}
