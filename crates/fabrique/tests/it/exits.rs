//! Every way a request can end leaves one usage record with its status and error code, and a
//! refusal that is an access decision leaves one audit event: a refusal at each stage, the
//! backend's own refusal, an upstream failure, a timeout, a whole answer, a stream that completed,
//! that the caller cut, that the backend cut, and a caller gone before the answer.

use std::time::Duration;

use domain::{AuditAction, AuditEvent, UsageRecord};
use serde_json::{Value, json};

use crate::harness::*;

/// One request, told apart by the id its caller gives it, and what its one usage record must say.
struct Exit {
    id: &'static str,
    status: u16,
    code: Option<&'static str>,
    /// A refusal that is an access decision: audited once as `inference.<code>`.
    audited: bool,
}

const fn exit(id: &'static str, status: u16, code: Option<&'static str>, audited: bool) -> Exit {
    Exit {
        id,
        status,
        code,
        audited,
    }
}

/// A request to send: its id, path, key, extra headers and body.
type Call<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, &'a str)>, String);

/// Sends `body` as the request `id` with `key` and extra headers; returns the status.
async fn send(
    t: &TestServer,
    id: &str,
    path: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> u16 {
    let mut request = t
        .http
        .post(t.url(path))
        .bearer_auth(key)
        .header("x-request-id", id)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    response.bytes().await.expect("body");
    status
}

fn chat(content: &str) -> String {
    json!({"model": "mistral-small", "messages": [{"role": "user", "content": content}], "max_tokens": 5})
        .to_string()
}

/// Each exit's request has exactly one usage record, saying how it ended, and an audit event
/// exactly when it is an audited refusal.
fn check(records: &[UsageRecord], events: &[AuditEvent], exits: &[Exit]) {
    for exit in exits {
        let mine: Vec<_> = records
            .iter()
            .filter(|r| r.client_request_id.as_deref() == Some(exit.id))
            .collect();
        assert_eq!(mine.len(), 1, "usage records of `{}`: {mine:?}", exit.id);
        assert_eq!(mine[0].status, exit.status, "status of `{}`", exit.id);
        assert_eq!(
            mine[0].error_code.as_deref(),
            exit.code,
            "error code of `{}`",
            exit.id
        );
        let audited = events
            .iter()
            .filter(|e| matches!(e.action, AuditAction::InferenceRefused(_)))
            .filter(|e| {
                serde_json::from_str::<Value>(&e.detail).unwrap()["client_request_id"] == exit.id
            })
            .count();
        assert_eq!(
            audited,
            usize::from(exit.audited),
            "audit events of `{}`",
            exit.id
        );
    }
}

const STAGES_CONFIG: &str = r#"
[server]
max_body_bytes = 4096

[routing]
health_check_interval_ms = 0

[policy]
blocked_terms = ["Projet Orion"]

[seats]
pool = 2

[[endpoints]]
name = "gpu"
kind = "vllm"
url = "{sim0}"
hosting = "on_premises"
clearance = "internal"

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu"]

[[models]]
name = "mistral-embed"
kind = "embeddings"
endpoints = ["gpu"]

[[entities]]
slug = "globex"
name = "Globex"

[[use_cases]]
slug = "kyc-review"
entity = "globex"
"#;

#[tokio::test]
async fn a_refusal_at_each_stage_and_each_answer_is_metered_once() {
    let t = TestServer::start(vec![instant_sim()], STAGES_CONFIG).await;
    let path = "/v1/chat/completions";
    let key = t.key.clone();
    let ok = chat("Bonjour");
    // Ada and then Carol, whose key may only use the embeddings model, take the pool's two seats;
    // Bob gets none.
    assert_eq!(send(&t, "answered", path, &key, &[], ok.clone()).await, 200);
    let (carol, _, _) = t.create_user_with_roles("acme", "carol", &[]).await;
    let only_embed = json!({"user_id": carol, "models": ["mistral-embed"]});
    let (status, scoped) = t.admin_post("/admin/v1/keys", only_embed).await;
    assert_eq!(status, 201, "{scoped}");
    let (_, bob) = t.create_user_key("acme", "bob").await;
    let scoped = scoped["key"].as_str().unwrap().to_owned();
    let stream = json!({"model": "mistral-small", "stream": true, "messages": [{"role": "user", "content": "Bonjour"}]});
    let embed = json!({"model": "mistral-embed", "input": "Bonjour"});
    let rejected = json!({"model": "mistral-small", "max_tokens": 1_000_000, "messages": [{"role": "user", "content": "Bonjour"}]});
    let cases: Vec<Call<'_>> = vec![
        ("no-key", path, "", vec![], ok.clone()),
        ("out-of-scope", path, &scoped, vec![], ok.clone()),
        ("no-seat", path, &bob, vec![], ok.clone()),
        (
            "bad-use-case",
            path,
            &key,
            vec![("x-fabrique-use-case", "Not A Slug")],
            ok.clone(),
        ),
        (
            "foreign-use-case",
            path,
            &key,
            vec![("x-fabrique-use-case", "kyc-review")],
            ok.clone(),
        ),
        (
            "bad-priority",
            path,
            &key,
            vec![("x-fabrique-priority", "urgent")],
            ok.clone(),
        ),
        ("bad-json", path, &key, vec![], "{".to_owned()),
        (
            "out-of-range",
            path,
            &key,
            vec![],
            ok.replace(
                "\"max_tokens\":5",
                "\"max_tokens\":5,\"temperature\":\"hot\"",
            ),
        ),
        ("too-large", path, &key, vec![], chat(&"a".repeat(4_500))),
        (
            "unknown-model",
            path,
            &key,
            vec![],
            ok.replace("mistral-small", "mistral-huge"),
        ),
        (
            "wrong-kind",
            path,
            &key,
            vec![],
            ok.replace("mistral-small", "mistral-embed"),
        ),
        (
            "bad-label",
            path,
            &key,
            vec![("x-fabrique-classification", "ultra")],
            ok.clone(),
        ),
        (
            "blocked",
            path,
            &key,
            vec![],
            chat("Le Projet Orion avance"),
        ),
        (
            "too-secret",
            path,
            &key,
            vec![("x-fabrique-classification", "secret")],
            ok.clone(),
        ),
        ("backend-refused", path, &key, vec![], rejected.to_string()),
        ("streamed", path, &key, vec![], stream.to_string()),
        (
            "embedded",
            "/v1/embeddings",
            &key,
            vec![],
            embed.to_string(),
        ),
    ];
    for (id, path, key, headers, body) in cases {
        send(&t, id, path, key, &headers, body).await;
    }
    // The last: a key allowed one request a minute, refused at admission the second time.
    let key_id: domain::KeyId = t.key_id.parse().unwrap();
    let limits = admission::Limits {
        requests_per_minute: Some(1),
        tokens_per_minute: None,
    };
    t.server
        .gateway
        .admission
        .set_limit(admission::Scope::Key(key_id), limits)
        .unwrap();
    assert_eq!(
        send(&t, "within-limit", path, &key, &[], ok.clone()).await,
        200
    );
    assert_eq!(send(&t, "rate-limited", path, &key, &[], ok).await, 429);

    let (records, events) = t.finish_with_audit().await;
    assert!(
        records
            .iter()
            .all(|r| r.client_request_id.as_deref() != Some("no-key")),
        "a caller nobody knows is counted in the metrics only"
    );
    check(
        &records,
        &events,
        &[
            exit("answered", 200, None, false),
            exit("no-seat", 403, Some("seat_required"), false),
            exit("bad-use-case", 400, Some("invalid_use_case"), false),
            exit(
                "foreign-use-case",
                403,
                Some("use_case_not_permitted"),
                true,
            ),
            exit("bad-priority", 400, Some("invalid_value"), false),
            exit("bad-json", 400, Some("invalid_json"), false),
            exit("out-of-range", 400, Some("invalid_value"), false),
            exit("too-large", 413, Some("request_too_large"), false),
            exit("unknown-model", 404, Some("model_not_found"), false),
            exit("wrong-kind", 400, Some("model_kind_mismatch"), false),
            exit("out-of-scope", 403, Some("model_not_allowed"), true),
            exit("bad-label", 400, Some("invalid_classification"), false),
            exit("blocked", 400, Some("blocked_term"), true),
            exit(
                "too-secret",
                403,
                Some("classification_not_permitted"),
                true,
            ),
            exit("backend-refused", 400, Some("upstream_rejected"), false),
            exit("streamed", 200, None, false),
            exit("embedded", 200, None, false),
            exit("within-limit", 200, None, false),
            exit("rate-limited", 429, Some("rate_limit_exceeded"), false),
        ],
    );
}

/// Streams end three ways: completed, cut by the caller, cut by the backend.
#[tokio::test]
async fn a_stream_is_metered_once_however_it_ends() {
    let slow = sim::SimConfig {
        tokens_per_second: 1.0,
        ..instant_sim()
    };
    let cut = sim::SimConfig {
        faults: sim::Faults {
            disconnect_rate: 1.0,
            ..sim::Faults::default()
        },
        max_tokens_default: 50,
        ..instant_sim()
    };
    let config = two_endpoints(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a"]

[[models]]
name = "mistral-cut"
kind = "chat"
endpoints = ["gpu-b"]
"#,
    );
    let t = TestServer::start(vec![slow, cut], &config).await;
    let path = "/v1/chat/completions";
    let streamed = |model: &str, max_tokens: u64| {
        json!({"model": model, "stream": true, "max_tokens": max_tokens, "messages": [{"role": "user", "content": "Bonjour"}]})
            .to_string()
    };
    assert_eq!(
        send(
            &t,
            "completed",
            path,
            &t.key,
            &[],
            streamed("mistral-small", 1)
        )
        .await,
        200
    );
    assert_eq!(
        send(
            &t,
            "cut-by-backend",
            path,
            &t.key,
            &[],
            streamed("mistral-cut", 50)
        )
        .await,
        200
    );
    let mut held = t
        .http
        .post(t.url(path))
        .bearer_auth(&t.key)
        .header("x-request-id", "cut-by-caller")
        .header("content-type", "application/json")
        .body(streamed("mistral-small", 1_000))
        .send()
        .await
        .unwrap();
    assert!(
        !held
            .chunk()
            .await
            .unwrap()
            .expect("a first chunk")
            .is_empty()
    );
    drop(held);

    let (records, events) = t.finish_with_audit().await;
    check(
        &records,
        &events,
        &[
            exit("completed", 200, None, false),
            exit("cut-by-backend", 200, Some("stream_interrupted"), false),
            exit("cut-by-caller", 200, Some("client_disconnected"), false),
        ],
    );
}

/// A backend that fails, one that never answers in time, and a caller gone before the answer.
#[tokio::test]
async fn a_failure_a_timeout_and_a_departure_are_metered_once() {
    let failing = sim::SimConfig {
        faults: sim::Faults {
            error_rate: 1.0,
            ..sim::Faults::default()
        },
        ..instant_sim()
    };
    let stalling = sim::SimConfig {
        faults: sim::Faults {
            stall_rate: 1.0,
            stall: Duration::from_secs(30),
            ..sim::Faults::default()
        },
        ..instant_sim()
    };
    let config = two_endpoints(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a"]

[[models]]
name = "mistral-stalled"
kind = "chat"
endpoints = ["gpu-b"]
"#,
    )
    .replace("max_attempts = 3", "max_attempts = 1");
    let t = TestServer::start(vec![failing, stalling.clone()], &config).await;
    let path = "/v1/chat/completions";
    assert_eq!(
        send(&t, "failed", path, &t.key, &[], chat("Bonjour")).await,
        502
    );
    // The caller leaves while the backend says nothing: its handler is dropped mid-route.
    let leaving = {
        let (http, url, key) = (t.http.clone(), t.url(path), t.key.clone());
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .header("x-request-id", "caller-gone")
                .header("content-type", "application/json")
                .body(chat("Bonjour").replace("mistral-small", "mistral-stalled"))
                .send()
                .await
        })
    };
    while t.sims[1].0.stats().chat_requests == 0 {
        tokio::task::yield_now().await;
    }
    leaving.abort();
    assert!(leaving.await.unwrap_err().is_cancelled());
    let (records, events) = t.finish_with_audit().await;

    // The same backend, now with a deadline: the request times out.
    let config = config.replace(
        "health_check_interval_ms = 0",
        "health_check_interval_ms = 0\nfirst_byte_timeout_ms = 100\ndeadline_ms = 250",
    );
    let t = TestServer::start(vec![instant_sim(), stalling], &config).await;
    let stalled = chat("Bonjour").replace("mistral-small", "mistral-stalled");
    assert_eq!(send(&t, "timed-out", path, &t.key, &[], stalled).await, 504);
    let (timed_out, timed_out_events) = t.finish_with_audit().await;

    check(
        &records,
        &events,
        &[
            exit("failed", 502, Some("upstream_error"), false),
            exit("caller-gone", 499, Some("client_disconnected"), false),
        ],
    );
    check(
        &timed_out,
        &timed_out_events,
        &[exit("timed-out", 504, Some("upstream_timeout"), false)],
    );
    assert_eq!(timed_out[0].attempts, 1);
}
