//! `/v1/rerank` end to end, against the simulator playing each engine that reranks: vLLM answers
//! in the caller's own shape, TGI in Hugging Face's (`query`, `texts` → `[{index, score}]`),
//! which reaches the caller in the same shape as vLLM's, cut to `top_n`. The simulator scores a
//! document by the share of the query's words it holds, so the order is known. A reranker served
//! by an engine without a rerank route is refused before anything is sent; the data policy reads
//! the documents; every request is metered as a `rerank` record.

use domain::{EndpointKind, Operation};
use serde_json::{Value, json};
use sim::Flavour;

use crate::harness::*;

/// The models the engine serves.
const MODELS: &str = r#"
[[models]]
name = "bge-reranker"
kind = "rerank"
endpoints = ["engine"]
upstream_name = "BAAI/bge-reranker-v2-m3"

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["engine"]
"#;

fn config(kind: EndpointKind, extra: &str) -> String {
    one_engine(kind, &format!("{MODELS}\n{extra}"))
}

/// A question and three documents holding none, all and half of its words.
fn request() -> Value {
    json!({
        "model": "bge-reranker",
        "query": "notice period managers",
        "documents": [
            "The notice period is one month.",
            "The canteen opens at noon.",
            "Managers have a notice period of three months.",
        ],
        "top_n": 2,
    })
}

async fn started(flavour: Flavour, kind: EndpointKind, extra: &str) -> TestServer {
    let engine = sim::SimConfig {
        flavour,
        ..instant_sim()
    };
    TestServer::start(vec![engine], &config(kind, extra)).await
}

/// The results' `(index, relevance_score, document text)`.
fn results(answer: &Value) -> Vec<(u64, f64, Option<String>)> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {answer}"))
        .iter()
        .map(|r| {
            let text = r["document"]["text"].as_str().map(str::to_owned);
            (
                r["index"].as_u64().unwrap(),
                r["relevance_score"].as_f64().unwrap(),
                text,
            )
        })
        .collect()
}

#[tokio::test]
async fn vllm_and_tgi_rerank_in_the_callers_shape_and_are_metered() {
    let engines = [
        (Flavour::Vllm, EndpointKind::Vllm),
        (Flavour::Tgi, EndpointKind::Tgi),
        (Flavour::All, EndpointKind::Simulator),
    ];
    for (flavour, kind) in engines {
        let t = started(flavour, kind, "").await;
        let (status, _, text) = t.post("/v1/rerank", &request()).await;
        assert_eq!(status, 200, "{kind:?}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["model"], "bge-reranker", "the public name: {text}");
        let third = "Managers have a notice period of three months.".to_owned();
        let first = "The notice period is one month.".to_owned();
        assert_eq!(
            results(&answer),
            [(2, 1.0, Some(third)), (0, 2.0 / 3.0, Some(first))],
            "{kind:?}: most relevant first, cut to `top_n`"
        );
        assert_eq!(t.sims[0].0.stats().rerank_requests, 1, "{kind:?}");

        // Without the documents' texts, only positions and scores.
        let mut bare = request();
        bare["return_documents"] = json!(false);
        let (status, _, text) = t.post("/v1/rerank", &bare).await;
        assert_eq!(status, 200, "{kind:?}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert!(results(&answer).iter().all(|r| r.2.is_none()), "{text}");

        let served_tokens = t.sims[0].0.stats().prompt_tokens;
        let records = t.finish().await;
        let reranks: Vec<_> = records
            .iter()
            .filter(|r| r.operation == Operation::Rerank)
            .collect();
        assert_eq!(reranks.len(), 2, "{kind:?}: {records:?}");
        for record in reranks {
            assert_eq!(
                (record.status, record.model.as_str()),
                (200, "bge-reranker")
            );
            assert_eq!(record.completion_tokens, 0, "{kind:?}");
            assert!(record.prompt_tokens > 0, "{kind:?}: {record:?}");
            // vLLM counts the tokens it read; Hugging Face's rerank counts none, so the
            // gateway charges its estimate and says so.
            let counted = kind != EndpointKind::Tgi;
            assert_eq!(record.usage_estimated, !counted, "{kind:?}: {record:?}");
            if counted {
                assert_eq!(record.prompt_tokens * 2, served_tokens, "{kind:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_reranker_on_an_engine_without_rerank_is_refused_before_anything_is_sent() {
    let t = started(Flavour::Ollama, EndpointKind::Ollama, "").await;
    let (status, _, text) = t.post("/v1/rerank", &request()).await;
    assert_eq!(status, 400, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], "operation_not_served", "{text}");
    assert_eq!(error["error"]["param"], "model");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("ollama") && message.contains("/v1/rerank"),
        "{message}"
    );
    assert_eq!(t.sims[0].0.stats().rerank_requests, 0);

    // A chat model is no reranker, whatever its engine.
    let mut chat = request();
    chat["model"] = json!("mistral-small");
    let (status, _, text) = t.post("/v1/rerank", &chat).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("model_kind_mismatch"), "{text}");

    // A request without documents is refused naming the field, as every API refuses its own.
    let (status, _, text) = t
        .post(
            "/v1/rerank",
            &json!({"model": "bge-reranker", "query": "q", "documents": []}),
        )
        .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains(r#""param":"documents""#), "{text}");
    let records = t.finish().await;
    assert!(
        records
            .iter()
            .all(|r| r.operation == Operation::Rerank && r.status == 400),
        "{records:?}"
    );
}

#[tokio::test]
async fn the_data_policy_reads_the_query_and_every_document() {
    let policy = r#"
[[entities]]
slug = "acme"
name = "Acme"

[entities.policy.actions]
EMAIL = "redact"
"#;
    let t = started(Flavour::Vllm, EndpointKind::Vllm, policy).await;
    let mut asked = request();
    asked["documents"][1] = json!("Write to jeanne@example.fr about the notice period.");
    asked["top_n"] = json!(3);
    let (status, _, text) = t.post("/v1/rerank", &asked).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("jeanne@"), "{text}");
    assert!(
        text.contains("[REDACTED_EMAIL]"),
        "the engine read it redacted: {text}"
    );
}
