//! OpenTelemetry traces: with `[telemetry] otlp_endpoint` set, `fabrique serve` sends one trace per
//! request to an OTLP/HTTP collector — a root span with GenAI attributes and a child span per
//! stage — and never a prompt's text, unless the entity's data policy sets `trace_content`. The collector is a small axum server on loopback that
//! decodes the protobuf bodies; the spans buffered are sent at the server's clean shutdown.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use serde_json::json;

use crate::harness::chat_body;
use crate::process::{Serve, user_key};

const PROMPT: &str = "Bonjour, quel temps fait-il ?";
/// The prompt of the entity whose policy lets its traces carry content.
const TRACED_PROMPT: &str = "Résume le rapport trimestriel";
const STAGES: [&str; 11] = [
    "authenticate",
    "license",
    "accept",
    "resolve",
    "classify",
    "inspect",
    "admit",
    "schedule",
    "route",
    "relay",
    "meter",
];

/// What the collector received: the raw bodies and their spans.
#[derive(Default)]
struct Received {
    bodies: Vec<Bytes>,
    spans: Vec<Span>,
}

async fn collect(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body.clone()).expect("OTLP protobuf");
    let mut received = received.lock().unwrap();
    received.bodies.push(body);
    received.spans.extend(
        request
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans),
    );
    ""
}

// Two workers: the collector keeps serving while the test thread waits for the server to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_a_trace_of_its_stages_with_genai_attributes_and_no_content() {
    let received = Arc::new(Mutex::new(Received::default()));
    let collector = axum::Router::new()
        .route("/v1/traces", axum::routing::post(collect))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fabrique.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[telemetry]
otlp_endpoint = "http://{collector_addr}"

[simulator]
ttft_ms = 0
tokens_per_second = 1000000

[[entities]]
slug = "acme"
name = "Acme"

[[entities]]
slug = "beta"
name = "Beta"
[entities.policy]
trace_content = true
"#
        ),
    )
    .unwrap();
    let mut server = Serve::start(&config, &dir.path().join("data"));
    let http = reqwest::Client::new();
    let key = user_key(&http, &server.base, "acme", "ada").await;
    let mut streamed = chat_body("mistral-small");
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    for (id, body) in [
        ("trace-whole", chat_body("mistral-small")),
        ("trace-stream", streamed),
    ] {
        let response = http
            .post(format!("{}/v1/chat/completions", server.base))
            .bearer_auth(&key)
            .header("x-request-id", id)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap();
    }
    let beta_key = user_key(&http, &server.base, "beta", "bea").await;
    let response = http
        .post(format!("{}/v1/chat/completions", server.base))
        .bearer_auth(&beta_key)
        .header("x-request-id", "trace-content")
        .json(&json!({"model": "mistral-small", "max_tokens": 5,
            "messages": [{"role": "user", "content": TRACED_PROMPT}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
    server.terminate();

    let received = received.lock().unwrap();
    for body in &received.bodies {
        let text = String::from_utf8_lossy(body);
        assert!(!text.contains(PROMPT), "the prompt is in a trace");
        assert!(!text.contains("[simulated]"), "the answer is in a trace");
    }
    for id in ["trace-whole", "trace-stream"] {
        let root = received
            .spans
            .iter()
            .find(|s| string(s, "fabrique.client_request_id").as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no root span for {id}"));
        assert_eq!(root.name, "chat mistral-small");
        assert_eq!(root.kind, SpanKind::Server as i32);
        assert!(root.parent_span_id.is_empty(), "a root span");
        for (attribute, expected) in [
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.request.model", "mistral-small"),
            ("gen_ai.response.model", "mistral-small"),
            ("gen_ai.provider.name", "simulator"),
            ("server.address", "127.0.0.1"),
            ("fabrique.entity", "acme"),
        ] {
            assert_eq!(
                string(root, attribute).as_deref(),
                Some(expected),
                "{attribute} of {id}"
            );
        }
        for (attribute, expected) in [
            ("gen_ai.usage.output_tokens", Some(5)),
            ("http.response.status_code", Some(200)),
            ("gen_ai.request.max_tokens", Some(5)),
            ("fabrique.attempts", Some(1)),
        ] {
            assert_eq!(integer(root, attribute), expected, "{attribute} of {id}");
        }
        assert!(integer(root, "gen_ai.usage.input_tokens").is_some_and(|n| n > 0));
        let stages: BTreeSet<&str> = received
            .spans
            .iter()
            .filter(|s| s.trace_id == root.trace_id && s.parent_span_id == root.span_id)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(stages, STAGES.into_iter().collect(), "stages of {id}");
        assert_eq!(
            string(root, "gen_ai.input.messages"),
            None,
            "no content for {id}"
        );
    }
    let traced = received
        .spans
        .iter()
        .find(|s| string(s, "fabrique.client_request_id").as_deref() == Some("trace-content"))
        .expect("a root span for the request of beta");
    let input = string(traced, "gen_ai.input.messages").expect("beta's policy allows content");
    assert!(input.contains(TRACED_PROMPT), "{input}");
}

fn attributes(span: &Span) -> HashMap<&str, &AnyValue> {
    span.attributes
        .iter()
        .filter_map(|kv| Some((kv.key.as_str(), kv.value.as_ref()?.value.as_ref()?)))
        .collect()
}

fn string(span: &Span, key: &str) -> Option<String> {
    match attributes(span).get(key) {
        Some(AnyValue::StringValue(text)) => Some(text.clone()),
        _ => None,
    }
}

fn integer(span: &Span, key: &str) -> Option<i64> {
    match attributes(span).get(key) {
        Some(AnyValue::IntValue(n)) => Some(*n),
        _ => None,
    }
}
