//! The simulator driven over real HTTP on 127.0.0.1:0, as the gateway and the SDKs use it.
//! Assertions are on responses and counters, never on timing; nothing sleeps to wait.

#![expect(
    clippy::unwrap_used,
    reason = "the harness helpers below run inside tests and fail them by panicking"
)]

use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sim::{Faults, RunningSim, SimConfig, Simulator, approximate_tokens};

/// Bounds every test so a bug shows as a failure, not a hung CI job.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

struct Harness {
    running: RunningSim,
    client: reqwest::Client,
}

async fn start(config: SimConfig) -> Harness {
    let running = sim::spawn(Simulator::new(config)).await.unwrap();
    Harness {
        running,
        client: reqwest::Client::new(),
    }
}

async fn start_instant() -> Harness {
    start(SimConfig::instant()).await
}

impl Harness {
    fn sim(&self) -> &Simulator {
        self.running.simulator()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self.post(path, body).await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }
}

/// A stream as received: the JSON events, whether `[DONE]` came, and whether the body broke.
struct Received {
    events: Vec<Value>,
    done: bool,
    broken: bool,
}

async fn receive(response: reqwest::Response) -> Received {
    let mut buffer = Vec::new();
    let mut broken = false;
    let mut body = response.bytes_stream();
    while let Some(frame) = body.next().await {
        match frame {
            Ok(bytes) => buffer.extend_from_slice(&bytes),
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    let (events, _) = wire::sse::split_events(&buffer);
    let mut received = Received {
        events: Vec::new(),
        done: false,
        broken,
    };
    for event in events {
        let data = wire::sse::data_of(event).unwrap();
        assert!(!received.done, "an event after [DONE]");
        if data == b"[DONE]" {
            received.done = true;
        } else {
            received.events.push(serde_json::from_slice(&data).unwrap());
        }
    }
    received
}

fn content_of(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| {
            e["choices"].get(0)?["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

fn messages() -> Value {
    json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Hello there!"}]},
    ])
}

/// The documented count: ceil(chars/4) per message text, plus 3 per message.
fn expected_prompt_tokens() -> u64 {
    approximate_tokens("You are terse.") + 3 + approximate_tokens("Hello there!") + 3
}

macro_rules! timed {
    ($body:expr) => {
        tokio::time::timeout(TEST_TIMEOUT, $body)
            .await
            .expect("test timed out")
    };
}

#[tokio::test]
async fn chat_usage_matches_the_words_and_the_documented_prompt_count() {
    timed!(async {
        let h = start_instant().await;
        let request = json!({"model": "any-model-name", "messages": messages(), "max_tokens": 7});
        let (status, body) = h.post_json("/chat/completions", &request).await;
        assert_eq!(status, StatusCode::OK);
        let completion: wire::chat::ChatCompletion = serde_json::from_value(body).unwrap();
        assert!(
            completion.id.starts_with("chatcmpl-sim-"),
            "{}",
            completion.id
        );
        assert_eq!(completion.object, "chat.completion");
        assert_eq!(completion.model, "any-model-name");
        assert_eq!(completion.choices.len(), 1);
        let choice = &completion.choices[0];
        assert_eq!(choice.message.role, "assistant");
        assert_eq!(choice.finish_reason.as_deref(), Some("length"));
        let content = choice.message.content.clone().unwrap();
        assert!(content.starts_with("[simulated] "), "{content}");
        assert_eq!(content.split_whitespace().count(), 7);
        let usage = completion.usage.unwrap();
        assert_eq!(usage, wire::Usage::new(expected_prompt_tokens(), 7));
        assert_eq!(expected_prompt_tokens(), 13);

        // Deterministic: the same request gets the same text.
        let (_, again) = h.post_json("/chat/completions", &request).await;
        assert_eq!(again["choices"][0]["message"]["content"], content.as_str());

        let stats = h.sim().stats();
        assert_eq!(stats.chat_requests, 2);
        assert_eq!(stats.completed, 2);
        assert_eq!(stats.prompt_tokens, 2 * 13);
        assert_eq!(stats.completion_tokens, 14);
        assert_eq!(stats.in_flight, 0);
    });
}

#[tokio::test]
async fn chat_length_defaults_and_max_completion_tokens_wins() {
    timed!(async {
        let h = start(SimConfig {
            max_tokens_default: 5,
            ..SimConfig::instant()
        })
        .await;
        let (_, body) = h
            .post_json(
                "/chat/completions",
                &json!({"model": "m", "messages": messages()}),
            )
            .await;
        assert_eq!(body["usage"]["completion_tokens"], 5);
        assert_eq!(body["choices"][0]["finish_reason"], "stop");

        let request = json!({"model": "m", "messages": messages(), "max_tokens": 9, "max_completion_tokens": 3});
        let (_, body) = h.post_json("/chat/completions", &request).await;
        assert_eq!(body["usage"]["completion_tokens"], 3);
        let content = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(content.split_whitespace().count(), 3);
    });
}

#[tokio::test]
async fn chat_with_several_choices_bills_every_choice() {
    timed!(async {
        let h = start_instant().await;
        let request = json!({"model": "m", "messages": messages(), "max_tokens": 4, "n": 3});
        let (_, body) = h.post_json("/chat/completions", &request).await;
        let choices = body["choices"].as_array().unwrap();
        assert_eq!(choices.len(), 3);
        assert_eq!(body["usage"]["completion_tokens"], 12);
        assert_ne!(
            choices[0]["message"]["content"],
            choices[1]["message"]["content"]
        );
    });
}

#[tokio::test]
async fn stream_without_usage_carries_the_same_text_and_no_usage() {
    timed!(async {
        let h = start_instant().await;
        let plain = json!({"model": "m", "messages": messages(), "max_tokens": 100});
        let (_, body) = h.post_json("/chat/completions", &plain).await;
        let expected = body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned();

        let mut streamed = plain.clone();
        streamed["stream"] = json!(true);
        let response = h.post("/chat/completions", &streamed).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let received = receive(response).await;
        assert!(received.done && !received.broken);
        let events = &received.events;
        for event in events {
            // Every event is a well-formed chunk of one completion, and none carries usage.
            let chunk: wire::chat::ChatCompletionChunk =
                serde_json::from_value(event.clone()).unwrap();
            assert_eq!(chunk.object, "chat.completion.chunk");
            assert_eq!(chunk.model, "m");
            assert_eq!(chunk.id, events[0]["id"].as_str().unwrap());
            assert!(chunk.usage.is_none());
        }
        assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
        let content_events = events.iter().filter(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        });
        assert_eq!(content_events.count(), 100, "one content event per token");
        assert_eq!(content_of(events), expected);
        let last = events.last().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "length");
        assert_eq!(h.sim().stats().completed, 2);
    });
}

#[tokio::test]
async fn stream_with_usage_ends_with_a_usage_chunk_before_done() {
    timed!(async {
        let h = start_instant().await;
        let request = json!({
            "model": "m", "messages": messages(), "max_tokens": 6,
            "stream": true, "stream_options": {"include_usage": true},
        });
        let received = receive(h.post("/chat/completions", &request).await).await;
        assert!(received.done);
        let (last, rest) = received.events.split_last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"]["prompt_tokens"], expected_prompt_tokens());
        assert_eq!(last["usage"]["completion_tokens"], 6);
        assert_eq!(last["usage"]["total_tokens"], expected_prompt_tokens() + 6);
        assert!(
            rest.iter()
                .all(|e| e.get("usage").is_none_or(Value::is_null))
        );
        assert_eq!(
            rest.last().unwrap()["choices"][0]["finish_reason"],
            "length"
        );
        assert_eq!(content_of(rest).split_whitespace().count(), 6);
    });
}

#[tokio::test]
async fn paced_stream_still_delivers_every_token() {
    timed!(async {
        let config = SimConfig {
            ttft: Duration::from_millis(2),
            tokens_per_second: 2000.0,
            ..SimConfig::default()
        };
        let h = start(config).await;
        let request =
            json!({"model": "m", "messages": messages(), "max_tokens": 20, "stream": true});
        let received = receive(h.post("/chat/completions", &request).await).await;
        assert!(received.done);
        assert_eq!(content_of(&received.events).split_whitespace().count(), 20);
    });
}

#[tokio::test]
async fn embeddings_are_deterministic_unit_vectors_in_float_and_base64() {
    timed!(async {
        let h = start_instant().await;
        let inputs = ["The first sentence.", "A second, different sentence."];
        let request = json!({"model": "sim-embed", "input": inputs});
        let (status, body) = h.post_json("/embeddings", &request).await;
        assert_eq!(status, StatusCode::OK);
        let response: wire::embeddings::EmbeddingsResponse = serde_json::from_value(body).unwrap();
        assert_eq!(response.object, "list");
        assert_eq!(response.model, "sim-embed");
        let vectors: Vec<Vec<f32>> = response
            .data
            .iter()
            .map(|d| serde_json::from_value(d.embedding.clone()).unwrap())
            .collect();
        assert_eq!(
            response.data.iter().map(|d| d.index).collect::<Vec<_>>(),
            [0, 1]
        );
        for vector in &vectors {
            assert_eq!(vector.len(), 1024);
            let norm = vector
                .iter()
                .map(|x| f64::from(*x).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "{norm}");
        }
        assert_ne!(vectors[0], vectors[1]);
        let expected_tokens: u64 = inputs.iter().map(|i| approximate_tokens(i)).sum();
        assert_eq!(response.usage.prompt_tokens, expected_tokens);
        assert_eq!(response.usage.total_tokens, expected_tokens);

        // The same text embeds the same way, alone or in a batch.
        let (_, alone) = h
            .post_json("/embeddings", &json!({"model": "x", "input": inputs[1]}))
            .await;
        let alone: Vec<f32> =
            serde_json::from_value(alone["data"][0]["embedding"].clone()).unwrap();
        assert_eq!(alone, vectors[1]);

        // base64, as the openai Python SDK asks by default: little-endian f32 of the same vector.
        let request = json!({"model": "sim-embed", "input": inputs, "encoding_format": "base64"});
        let (_, body) = h.post_json("/embeddings", &request).await;
        let encoded = body["data"][0]["embedding"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let decoded: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(decoded, vectors[0]);
    });
}

#[tokio::test]
async fn embeddings_honour_dimensions_and_token_arrays() {
    timed!(async {
        let h = start_instant().await;
        let (_, body) = h
            .post_json(
                "/embeddings",
                &json!({"model": "e", "input": "hi", "dimensions": 64}),
            )
            .await;
        assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 64);

        let (_, body) = h
            .post_json(
                "/embeddings",
                &json!({"model": "e", "input": [1, 2, 3, 4, 5]}),
            )
            .await;
        assert_eq!(body["data"].as_array().unwrap().len(), 1);
        assert_eq!(body["usage"]["prompt_tokens"], 5);

        let (_, body) = h
            .post_json(
                "/embeddings",
                &json!({"model": "e", "input": [[1, 2], [3]]}),
            )
            .await;
        assert_eq!(body["data"].as_array().unwrap().len(), 2);
        assert_eq!(body["usage"]["prompt_tokens"], 3);
    });
}

#[tokio::test]
async fn fim_answers_like_a_chat_completion_plain_and_streamed() {
    timed!(async {
        let h = start_instant().await;
        let request = json!({"model": "codestral", "prompt": "def add(a, b):", "suffix": "    return c", "max_tokens": 5});
        let (status, body) = h.post_json("/fim/completions", &request).await;
        assert_eq!(status, StatusCode::OK);
        let completion: wire::chat::ChatCompletion = serde_json::from_value(body).unwrap();
        assert_eq!(completion.model, "codestral");
        let content = completion.choices[0].message.content.clone().unwrap();
        assert!(content.starts_with("[simulated] "));
        assert_eq!(content.split_whitespace().count(), 5);
        let prompt_tokens =
            approximate_tokens("def add(a, b):") + approximate_tokens("    return c");
        assert_eq!(
            completion.usage.unwrap(),
            wire::Usage::new(prompt_tokens, 5)
        );

        let mut streamed = request.clone();
        streamed["stream"] = json!(true);
        let received = receive(h.post("/fim/completions", &streamed).await).await;
        assert!(received.done);
        assert_eq!(content_of(&received.events), content);
        assert_eq!(h.sim().stats().fim_requests, 2);
    });
}

#[tokio::test]
async fn models_and_health() {
    timed!(async {
        let config = SimConfig {
            models: vec!["mistral-small".into(), "mistral-embed".into()],
            ..SimConfig::instant()
        };
        let h = start(config).await;
        let list: wire::models::ModelList = h
            .client
            .get(h.url("/models"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list.object, "list");
        let ids: Vec<&str> = list.data.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["mistral-small", "mistral-embed"]);
        assert!(
            list.data
                .iter()
                .all(|m| m.owned_by == "fabrique-simulator" && m.simulated == Some(true))
        );
        assert_eq!(list.data[1].kind.as_deref(), Some("embeddings"));

        let one = h
            .client
            .get(h.url("/models/mistral-small"))
            .send()
            .await
            .unwrap();
        assert_eq!(one.status(), StatusCode::OK);
        let missing = h.client.get(h.url("/models/nope")).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);

        let health_url = format!("http://{}/health", h.running.addr);
        assert_eq!(
            h.client.get(&health_url).send().await.unwrap().status(),
            StatusCode::OK
        );
        let stats = h.sim().stats();
        assert_eq!((stats.models_requests, stats.health_requests), (3, 1));
    });
}

#[tokio::test]
async fn concurrent_requests_never_decode_beyond_capacity() {
    timed!(async {
        let config = SimConfig {
            capacity: 2,
            ttft: Duration::from_millis(5),
            tokens_per_second: 1000.0,
            ..SimConfig::default()
        };
        let h = start(config).await;
        let request = json!({"model": "m", "messages": messages(), "max_tokens": 10});
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (client, url) = (h.client.clone(), h.url("/chat/completions"));
            let mut request = request.clone();
            request["stream"] = json!(i % 2 == 0);
            tasks.push(tokio::spawn(async move {
                client.post(url).json(&request).send().await.unwrap()
            }));
        }
        for task in tasks {
            let response = task.await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.unwrap();
        }
        let stats = h.sim().stats();
        assert_eq!(stats.completed, 6);
        assert!((1..=2).contains(&stats.max_concurrent), "{stats:?}");
        assert_eq!((stats.in_flight, stats.waiting), (0, 0));
    });
}

#[tokio::test]
async fn a_full_backend_queues_the_next_request_until_a_slot_frees() {
    timed!(async {
        // One token every 1000 s: a stream holds its slot until the client lets it go.
        let config = SimConfig {
            capacity: 2,
            ttft: Duration::ZERO,
            tokens_per_second: 0.001,
            ..SimConfig::default()
        };
        let h = start(config).await;
        let request =
            json!({"model": "m", "messages": messages(), "max_tokens": 50, "stream": true});
        let mut holders = Vec::new();
        for _ in 0..2 {
            let mut response = h.post("/chat/completions", &request).await;
            // The role chunk is sent only once the slot is granted.
            assert!(response.chunk().await.unwrap().is_some());
            holders.push(response);
        }
        assert_eq!(h.sim().stats().in_flight, 2);

        let mut third = h.post("/chat/completions", &request).await;
        drop(holders.pop());
        // The third gets its first chunk only once a holder let go of its slot.
        assert!(third.chunk().await.unwrap().is_some());
        let stats = h.sim().stats();
        assert_eq!(stats.max_concurrent, 2, "{stats:?}");
        assert_eq!(stats.in_flight, 2);
    });
}

/// A conversation whose system prompt spans several prefix blocks.
fn long_conversation(turns: usize) -> Value {
    let system = "You answer questions about the group's internal procedures. ".repeat(40);
    let mut messages = vec![json!({"role": "system", "content": system})];
    for turn in 0..turns {
        messages.push(json!({"role": "user", "content": format!("question {turn}")}));
        messages.push(json!({"role": "assistant", "content": "an answer ".repeat(30)}));
    }
    json!({"model": "m", "messages": messages, "max_tokens": 4})
}

#[tokio::test]
async fn the_prefix_cache_spares_the_prefill_of_a_conversations_known_prefix() {
    timed!(async {
        let h = start(SimConfig {
            prefix_cache_blocks: 1024,
            ..SimConfig::instant()
        })
        .await;
        let (status, _) = h
            .post_json("/chat/completions", &long_conversation(0))
            .await;
        assert_eq!(status, StatusCode::OK);
        let first = h.sim().stats();
        assert_eq!(first.prefix_cache_hits, 0);
        assert!(first.prefix_cache_misses >= 9, "{first:?}");
        // The follow-up repeats the whole first prompt, then adds to it.
        let (status, _) = h
            .post_json("/chat/completions", &long_conversation(2))
            .await;
        assert_eq!(status, StatusCode::OK);
        let second = h.sim().stats();
        assert!(second.prefix_cache_hits >= 9, "{second:?}");
        assert!(second.cached_prompt_tokens >= 9 * 64, "{second:?}");
        // A stranger's prompt finds nothing.
        let stranger = json!({"model": "m", "messages": [
            {"role": "user", "content": "something else entirely ".repeat(60)}
        ]});
        h.post_json("/chat/completions", &stranger).await;
        assert_eq!(h.sim().stats().prefix_cache_hits, second.prefix_cache_hits);
    });
}

#[tokio::test]
async fn without_a_prefix_cache_nothing_is_counted() {
    timed!(async {
        let h = start_instant().await;
        for _ in 0..2 {
            h.post_json("/chat/completions", &long_conversation(1))
                .await;
        }
        let stats = h.sim().stats();
        assert_eq!((stats.prefix_cache_hits, stats.prefix_cache_misses), (0, 0));
        // The KV tokens are still accounted, with an unlimited cache.
        assert!(stats.max_kv_tokens_in_use > 0);
        assert_eq!(stats.kv_tokens_in_use, 0);
    });
}

#[tokio::test]
async fn a_full_kv_cache_makes_the_next_sequence_wait() {
    timed!(async {
        // Room for one sequence of this prompt and 50 tokens, not two; slots are plenty.
        let prompt_tokens = expected_prompt_tokens();
        let config = SimConfig {
            capacity: 8,
            kv_cache_tokens: prompt_tokens + 50 + 10,
            ttft: Duration::ZERO,
            tokens_per_second: 0.001,
            ..SimConfig::default()
        };
        let h = start(config).await;
        let request =
            json!({"model": "m", "messages": messages(), "max_tokens": 50, "stream": true});
        let mut holder = h.post("/chat/completions", &request).await;
        assert!(holder.chunk().await.unwrap().is_some());
        let stats = h.sim().stats();
        assert_eq!(
            (stats.in_flight, stats.kv_tokens_in_use),
            (1, prompt_tokens + 50)
        );

        let mut second = h.post("/chat/completions", &request).await;
        drop(holder);
        // The second starts only once the first's KV cache was freed.
        assert!(second.chunk().await.unwrap().is_some());
        let stats = h.sim().stats();
        assert_eq!(stats.max_concurrent, 1, "{stats:?}");
        assert_eq!(stats.max_kv_tokens_in_use, prompt_tokens + 50);
    });
}

#[tokio::test]
async fn a_batch_slowed_stream_still_delivers_every_token() {
    timed!(async {
        let config = SimConfig {
            capacity: 4,
            ttft: Duration::from_millis(1),
            tokens_per_second: 2000.0,
            batch_slowdown: 0.5,
            prefill_tokens_per_second: 100_000.0,
            prefix_cache_blocks: 64,
            ..SimConfig::default()
        };
        let h = start(config).await;
        let mut tasks = Vec::new();
        for i in 0..4 {
            let (client, url) = (h.client.clone(), h.url("/chat/completions"));
            let mut request = long_conversation(1);
            request["max_tokens"] = json!(20);
            request["stream"] = json!(i % 2 == 0);
            tasks.push(tokio::spawn(async move {
                client.post(url).json(&request).send().await.unwrap()
            }));
        }
        for task in tasks {
            let response = task.await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.unwrap();
        }
        let stats = h.sim().stats();
        assert_eq!((stats.completed, stats.completion_tokens), (4, 80));
        assert_eq!((stats.in_flight, stats.kv_tokens_in_use), (0, 0));
    });
}

#[tokio::test]
async fn error_faults_answer_500_and_503_with_an_error_body_until_healed() {
    timed!(async {
        let h = start_instant().await;
        h.sim().set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        });
        let request = json!({"model": "m", "messages": messages(), "max_tokens": 3});
        let mut statuses = Vec::new();
        for path in [
            "/chat/completions",
            "/chat/completions",
            "/fim/completions",
            "/embeddings",
        ] {
            let (status, body) = h.post_json(path, &request).await;
            let error: wire::ErrorBody = serde_json::from_value(body).unwrap();
            assert_eq!(error.error.kind, "server_error");
            statuses.push(status.as_u16());
        }
        assert!(
            statuses.iter().all(|s| *s == 500 || *s == 503),
            "{statuses:?}"
        );
        assert!(
            statuses.contains(&500) && statuses.contains(&503),
            "{statuses:?}"
        );
        let health_url = format!("http://{}/health", h.running.addr);
        assert_eq!(
            h.client.get(&health_url).send().await.unwrap().status(),
            503
        );
        assert_eq!(h.sim().stats().errors_injected, 4);
        assert_eq!(h.sim().stats().completed, 0);

        h.sim().set_faults(Faults::default());
        let (status, _) = h.post_json("/chat/completions", &request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            h.client.get(&health_url).send().await.unwrap().status(),
            200
        );
    });
}

#[tokio::test]
async fn disconnect_faults_break_streams_before_done() {
    timed!(async {
        let h = start(SimConfig {
            faults: Faults {
                disconnect_rate: 1.0,
                ..Faults::default()
            },
            ..SimConfig::instant()
        })
        .await;
        let request =
            json!({"model": "m", "messages": messages(), "max_tokens": 20, "stream": true});
        let received = receive(h.post("/chat/completions", &request).await).await;
        assert!(received.broken, "the body should end with an error");
        assert!(!received.done);
        assert!(
            !received.events.is_empty(),
            "a few chunks come before the cut"
        );

        // Non-streamed requests are not affected.
        let mut plain = request.clone();
        plain["stream"] = json!(false);
        let (status, _) = h.post_json("/chat/completions", &plain).await;
        assert_eq!(status, StatusCode::OK);
        let stats = h.sim().stats();
        assert_eq!(
            (stats.disconnects_injected, stats.completed, stats.in_flight),
            (1, 1, 0)
        );
    });
}

#[tokio::test]
async fn stall_faults_hold_the_request_then_give_up() {
    timed!(async {
        let h = start(SimConfig {
            faults: Faults {
                stall_rate: 1.0,
                stall: Duration::from_millis(1),
                ..Faults::default()
            },
            ..SimConfig::instant()
        })
        .await;
        let request = json!({"model": "m", "messages": messages()});
        let (status, body) = h.post_json("/chat/completions", &request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "simulated_stall");
        assert_eq!(h.sim().stats().stalls_injected, 1);
    });
}

#[tokio::test]
async fn malformed_requests_get_400_with_an_openai_error_body() {
    timed!(async {
        let h = start_instant().await;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("/chat/completions", b"{not json".to_vec()),
            ("/chat/completions", b"".to_vec()),
            ("/chat/completions", br#"{"model": "m"}"#.to_vec()),
            (
                "/chat/completions",
                br#"{"model": "m", "messages": []}"#.to_vec(),
            ),
            (
                "/chat/completions",
                br#"{"model": "m", "messages": "hi"}"#.to_vec(),
            ),
            (
                "/chat/completions",
                br#"{"model": "m", "messages": [{"role":"user","content":"x"}], "max_tokens": 0}"#
                    .to_vec(),
            ),
            (
                "/chat/completions",
                br#"{"model": "m", "messages": [{"role":"user","content":"x"}], "max_tokens": -1}"#
                    .to_vec(),
            ),
            (
                "/chat/completions",
                br#"{"model": "m", "messages": [{"role":"user","content":"x"}], "n": 0}"#.to_vec(),
            ),
            ("/chat/completions", br#"[1, 2, 3]"#.to_vec()),
            ("/fim/completions", br#"{"model": "m"}"#.to_vec()),
            ("/embeddings", br#"{"model": "m", "input": []}"#.to_vec()),
            ("/embeddings", br#"{"model": "m", "input": null}"#.to_vec()),
            (
                "/embeddings",
                br#"{"model": "m", "input": "x", "encoding_format": "int8"}"#.to_vec(),
            ),
            (
                "/embeddings",
                br#"{"model": "m", "input": "x", "dimensions": 0}"#.to_vec(),
            ),
        ];
        let count = cases.len();
        for (path, body) in cases {
            let response = h
                .client
                .post(h.url(path))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{path} {}",
                String::from_utf8_lossy(&body)
            );
            assert_eq!(response.headers()["content-type"], "application/json");
            let error: wire::ErrorBody = response.json().await.unwrap();
            assert_eq!(error.error.kind, "invalid_request_error");
            assert!(!error.error.message.is_empty());
        }
        assert_eq!(h.sim().stats().rejected, count as u64);

        let response = h.client.get(h.url("/nowhere")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let _: wire::ErrorBody = response.json().await.unwrap();
    });
}

#[tokio::test]
async fn credentials_and_the_chat_body_are_recorded_for_the_gateway_tests() {
    timed!(async {
        let h = start_instant().await;
        assert_eq!(h.sim().stats().last_authorization, None);
        let request = json!({
            "model": "m", "messages": messages(), "max_tokens": 2, "seed": 7,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "response_format": {"type": "json_object"}, "priority": 3,
        });
        let response = h
            .client
            .post(h.url("/chat/completions"))
            .bearer_auth("upstream-secret")
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let stats = h.sim().stats();
        assert_eq!(
            stats.last_authorization.as_deref(),
            Some("Bearer upstream-secret")
        );
        assert_eq!(stats.last_chat_request, Some(request));
    });
}

#[tokio::test]
async fn shutdown_closes_the_server() {
    timed!(async {
        let h = start_instant().await;
        let url = format!("http://{}/health", h.running.addr);
        assert_eq!(
            h.client.get(&url).send().await.unwrap().status(),
            StatusCode::OK
        );
        h.running.shutdown().await;
        // A fresh client, so no pooled connection can hide the server being gone.
        assert!(reqwest::Client::new().get(&url).send().await.is_err());
    });
}
