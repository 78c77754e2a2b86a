//! The schedule stage through the real server: endpoints never get more than their capacity, a
//! saturated pool sheds with 429 `capacity_exhausted`, a caller going away frees its sequence, one
//! entity alone gets the whole pool, interactive work goes before the same entity's batch work,
//! and entity shares are set live by the admin API.
//!
//! Requests are held in flight by slow streams (a simulator decoding one token per second) that
//! the test drops when it wants the sequence back, so every ordering here is decided by the
//! scheduler, not by timing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

/// A simulator whose streams stay open until the caller drops them.
pub(crate) fn slow_sim() -> sim::SimConfig {
    sim::SimConfig {
        ttft: Duration::ZERO,
        tokens_per_second: 1.0,
        capacity: 64,
        ..sim::SimConfig::default()
    }
}

/// One pool of one endpoint per simulator, each of `capacity` sequences.
fn pool_config(endpoints: usize, capacity: u32, scheduling: &str) -> String {
    let mut text = String::from("[routing]\nhealth_check_interval_ms = 0\n\n");
    let mut names = Vec::new();
    for i in 0..endpoints {
        text.push_str(&format!(
            "[[endpoints]]\nname = \"gpu-{i}\"\nkind = \"vllm\"\nurl = \"{{sim{i}}}\"\nhosting = \"on_premises\"\nclearance = \"secret\"\ncapacity = {capacity}\n\n"
        ));
        names.push(format!("\"gpu-{i}\""));
    }
    text.push_str(&format!(
        "[[models]]\nname = \"mistral-small\"\nkind = \"chat\"\nendpoints = [{}]\n\n[scheduling]\n{scheduling}\n",
        names.join(", ")
    ));
    text
}

pub(crate) fn streamed(max_tokens: u64) -> Value {
    let mut body = chat_body("mistral-small");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(max_tokens);
    body
}

/// Sends a chat request with extra headers; resolves when the response headers arrive, so a
/// streamed answer still holds its sequence while the returned response lives.
pub(crate) async fn send(
    t: &TestServer,
    key: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

/// The pool as the admin API shows it.
async fn pool_state(t: &TestServer) -> Value {
    t.http
        .get(t.url("/admin/v1/pools/default/shares"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("pool shares")
        .json()
        .await
        .expect("json")
}

/// Waits until `queued` requests are in the pool's line (each look is one admin request; the
/// condition is the scheduler's state, not elapsed time).
pub(crate) async fn until_queued(t: &TestServer, queued: u64) {
    for _ in 0..10_000 {
        if pool_state(t).await["queued"] == queued {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the pool's line never held {queued} requests");
}

async fn error_code(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_endpoint_never_gets_more_than_its_capacity_under_a_burst() {
    let sim = sim::SimConfig {
        ttft: Duration::from_millis(20),
        ..instant_sim()
    };
    let t = TestServer::start(vec![sim.clone(), sim], &pool_config(2, 2, "")).await;
    let burst = (0..24).map(|_| t.chat("mistral-small"));
    let answers = futures_util::future::join_all(burst).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    for (simulator, _) in &t.sims {
        let stats = simulator.stats();
        assert!(stats.max_concurrent <= 2, "{stats:?}");
    }
    let served: u64 = t.sims.iter().map(|(s, _)| s.stats().completed).sum();
    assert_eq!(served, 24);
}

#[tokio::test]
async fn a_saturated_pool_sheds_with_429_capacity_exhausted_and_retry_after() {
    let t = TestServer::start(vec![slow_sim()], &pool_config(1, 1, "max_queued = 1")).await;
    let holder = send(&t, &t.key, &streamed(1_000), &[]).await;
    assert_eq!(holder.status(), 200);

    // Asking to wait no time at all while the only sequence is taken.
    let impatient = send(
        &t,
        &t.key,
        &chat_body("mistral-small"),
        &[("x-fabrique-max-queue-ms", "0")],
    )
    .await;
    let (status, retry_after, body) = error_code(impatient).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "capacity_exhausted");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=300).contains(&seconds));

    // One waits in line; the line holds one, so the next is refused at once.
    let waiting = {
        let (http, url, key) = (t.http.clone(), t.url("/v1/chat/completions"), t.key.clone());
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .json(&chat_body("mistral-small"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    until_queued(&t, 1).await;
    let (status, retry_after, body) =
        error_code(send(&t, &t.key, &chat_body("mistral-small"), &[]).await).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "capacity_exhausted");
    assert!(retry_after.is_some());

    // Freeing the sequence serves the one in line.
    drop(holder);
    assert_eq!(waiting.await.unwrap(), 200);

    let records = t.finish().await;
    let shed: Vec<_> = records
        .iter()
        .filter(|r| r.error_code.as_deref() == Some("capacity_exhausted"))
        .collect();
    assert_eq!(shed.len(), 2, "each shed request is metered with its code");
    assert!(shed.iter().all(|r| r.status == 429 && r.endpoint.is_none()));
}

#[tokio::test]
async fn a_client_leaving_mid_stream_frees_its_sequence() {
    let t = TestServer::start(
        vec![slow_sim()],
        &pool_config(1, 1, "max_wait_standard_ms = 60000"),
    )
    .await;
    let mut holder = send(&t, &t.key, &streamed(1_000), &[]).await;
    assert_eq!(holder.status(), 200);
    let first = holder.chunk().await.unwrap().expect("a first chunk");
    assert!(!first.is_empty());
    drop(holder);

    // With the sequence leaked this would wait its whole minute and get 429.
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(status, 200, "{body}");
    let records = t.finish().await;
    assert_eq!(
        records[0].error_code.as_deref(),
        Some("client_disconnected")
    );
}

#[tokio::test]
async fn one_entity_alone_gets_the_whole_pool() {
    let t = TestServer::start(vec![slow_sim(), slow_sim()], &pool_config(2, 2, "")).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let response = send(&t, &t.key, &streamed(1_000), &[]).await;
        assert_eq!(response.status(), 200);
        held.push(response);
    }
    let state = pool_state(&t).await;
    assert_eq!(state["capacity"], 4);
    assert_eq!(state["in_flight"], 4);
    // Exactly the pool's capacity, no more: a fifth finds nothing free.
    let fifth = send(
        &t,
        &t.key,
        &chat_body("mistral-small"),
        &[("x-fabrique-max-queue-ms", "0")],
    )
    .await;
    assert_eq!(fifth.status(), 429);
    for (simulator, _) in &t.sims {
        assert_eq!(simulator.stats().in_flight, 2, "both endpoints filled");
    }
    drop(held);
}

#[tokio::test]
async fn interactive_work_goes_before_the_same_entitys_batch_work() {
    let t = TestServer::start(vec![slow_sim()], &pool_config(1, 1, "")).await;
    let holder = send(&t, &t.key, &streamed(1_000), &[]).await;
    assert_eq!(holder.status(), 200);

    let spawn = |priority: &'static str| {
        let (http, url, key) = (t.http.clone(), t.url("/v1/chat/completions"), t.key.clone());
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .header("x-fabrique-priority", priority)
                .json(&streamed(1_000))
                .send()
                .await
                .unwrap()
        })
    };
    let mut batch = spawn("batch");
    until_queued(&t, 1).await;
    let mut interactive = spawn("interactive");
    until_queued(&t, 2).await;

    drop(holder);
    // The batch request arrived first, yet the interactive one gets the sequence; it then holds
    // it (a slow stream), so the batch request is still waiting.
    let first = tokio::select! {
        done = &mut interactive => ("interactive", done.unwrap()),
        done = &mut batch => ("batch", done.unwrap()),
    };
    assert_eq!(first.0, "interactive");
    assert_eq!(first.1.status(), 200);
    assert_eq!(pool_state(&t).await["queued"], 1);
    drop(first);
    assert_eq!(batch.await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_bad_priority_or_queue_header_is_a_clear_400() {
    let t = TestServer::start(vec![instant_sim()], &pool_config(1, 4, "")).await;
    for (name, value, says) in [
        ("x-fabrique-priority", "urgent", "interactive"),
        ("x-fabrique-max-queue-ms", "soon", "milliseconds"),
    ] {
        let (status, _, body) =
            error_code(send(&t, &t.key, &chat_body("mistral-small"), &[(name, value)]).await).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["param"], name);
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_priority_is_forwarded_to_vllm_only_when_configured() {
    let t = TestServer::start(
        vec![instant_sim()],
        &pool_config(1, 4, "forward_priority = true"),
    )
    .await;
    let response = send(
        &t,
        &t.key,
        &chat_body("mistral-small"),
        &[("x-fabrique-priority", "batch")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let seen = t.sims[0].0.stats().last_chat_request.unwrap();
    assert_eq!(seen["priority"], 2);

    let t = TestServer::start(vec![instant_sim()], &pool_config(1, 4, "")).await;
    let response = send(
        &t,
        &t.key,
        &chat_body("mistral-small"),
        &[("x-fabrique-priority", "batch")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let seen = t.sims[0].0.stats().last_chat_request.unwrap();
    assert!(seen.get("priority").is_none(), "{seen}");
}

#[tokio::test]
async fn entity_shares_are_set_live_audited_stored_and_exported_as_metrics() {
    let t = TestServer::start(vec![instant_sim()], &pool_config(1, 4, "")).await;
    assert_eq!(t.chat("mistral-small").await.0, 200);

    let put = |key: String, body: Value| {
        let request = t
            .http
            .put(t.url("/admin/v1/pools/default/shares/acme"))
            .bearer_auth(key)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = put(t.key.clone(), json!({"weight": 5})).await;
    assert_eq!(status, 403, "an inference user sets no shares: {body}");
    let (status, body) = put(ADMIN_KEY.to_owned(), json!({"weight": 0})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "weight");
    let (status, body) = put(ADMIN_KEY.to_owned(), json!({"weight": 3, "min_share": 1.5})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(
        ADMIN_KEY.to_owned(),
        json!({"weight": 3, "min_share": 0.25}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["weight"], 3);

    let missing = t
        .http
        .put(t.url("/admin/v1/pools/nowhere/shares/acme"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"weight": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let state = pool_state(&t).await;
    let acme = &state["data"][0];
    assert_eq!(acme["weight"], 3);
    assert_eq!(acme["min_share"], 0.25);
    assert!(acme["served_output_tokens"].as_u64().unwrap() > 0);

    let metrics = t.metrics().await;
    assert!(
        metrics.contains(r#"fabrique_schedule_served_tokens_total{pool="default",entity="acme",direction="output"} 5"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"fabrique_pool_capacity{pool="default"} 4"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("fabrique_schedule_wait_seconds_bucket"),
        "{metrics}"
    );

    // Read before `finish_with_audit`, which removes the data directory.
    let stored = t.server.store.list_pool_shares().await.unwrap();
    let (_, events) = t.finish_with_audit().await;
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].weight, stored[0].min_share_ppm), (3, 250_000));
    let set: Vec<_> = events
        .iter()
        .filter(|e| e.action == domain::AuditAction::PoolShareSet)
        .collect();
    assert_eq!(
        set.len(),
        2,
        "the change and the refusal of the inference user"
    );
    assert!(set.iter().any(|e| e.target == "default/acme"));
}

/// `primary` (pool `a`, an endpoint that always fails, its circuit open after one failure) falls
/// back to `backup` (pool `b`, one sequence of a slow simulator).
const TWO_POOLS: &str = r#"
[routing]
health_check_interval_ms = 0
circuit_failures = 1
circuit_open_ms = 600000

[[endpoints]]
name = "gpu-a"
kind = "vllm"
url = "{sim0}"
hosting = "on_premises"
clearance = "secret"
capacity = 1
pool = "a"

[[endpoints]]
name = "gpu-b"
kind = "vllm"
url = "{sim1}"
hosting = "on_premises"
clearance = "secret"
capacity = 1
pool = "b"

[[models]]
name = "primary"
kind = "chat"
endpoints = ["gpu-a"]
fallbacks = ["backup"]

[[models]]
name = "backup"
kind = "chat"
endpoints = ["gpu-b"]
"#;

async fn pool_named(t: &TestServer, pool: &str) -> Value {
    t.get_json(&format!("/admin/v1/pools/{pool}/shares"), ADMIN_KEY)
        .await
}

#[tokio::test]
async fn a_fallback_in_another_pool_takes_a_sequence_there_and_never_jumps_its_line() {
    let failing = sim::SimConfig {
        faults: sim::Faults {
            error_rate: 1.0,
            ..sim::Faults::default()
        },
        ..instant_sim()
    };
    let t = TestServer::start(vec![failing, slow_sim()], TWO_POOLS).await;
    let primary = |max_tokens: u64| {
        let mut body = streamed(max_tokens);
        body["model"] = json!("primary");
        body
    };

    // Pool a admits, its endpoint fails, `backup` answers: pool b served it and counted it.
    let answered = send(&t, &t.key, &primary(1), &[]).await;
    assert_eq!(answered.status(), 200);
    let _ = answered.text().await.unwrap();
    let b = pool_named(&t, "b").await;
    assert!(
        b["data"][0]["served_output_tokens"].as_u64().unwrap() > 0,
        "{b}"
    );
    assert_eq!(b["in_flight"], 0, "{b}");
    assert_eq!(pool_named(&t, "a").await["in_flight"], 0);

    // Pool b's only sequence is taken. With pool a's endpoint out of service, `primary` waits in
    // pool b's line like everyone else there, and gives up after its own deadline: b never gets
    // a second sequence.
    let holder = send(
        &t,
        &t.key,
        &{
            let mut body = streamed(1_000);
            body["model"] = json!("backup");
            body
        },
        &[],
    )
    .await;
    assert_eq!(holder.status(), 200);
    let (status, _, body) =
        error_code(send(&t, &t.key, &primary(1), &[("x-fabrique-max-queue-ms", "1")]).await).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "capacity_exhausted");
    assert!(t.sims[1].0.stats().max_concurrent <= 1);

    // Freed, the sequence goes to the next `primary` request, which `backup` serves.
    drop(holder);
    let answered = send(&t, &t.key, &primary(1), &[]).await;
    assert_eq!(answered.status(), 200);
    let _ = answered.text().await.unwrap();
    assert!(t.sims[1].0.stats().max_concurrent <= 1);
    t.finish().await;
}

#[tokio::test]
async fn a_declared_use_cases_class_schedules_its_requests_and_bounds_the_header() {
    let config = format!(
        "{}\n[[use_cases]]\nslug = \"nightly-digest\"\npriority = \"batch\"\n",
        pool_config(1, 4, "")
    );
    let t = TestServer::start(vec![instant_sim()], &config).await;
    let nightly = [("x-fabrique-use-case", "nightly-digest")];
    let answered = send(&t, &t.key, &chat_body("mistral-small"), &nightly).await;
    assert_eq!(answered.status(), 200);
    let batch_waits = t.schedule_waits_line("batch").await;
    assert!(batch_waits.ends_with(" 1"), "{batch_waits}");

    let urgent = [
        ("x-fabrique-use-case", "nightly-digest"),
        ("x-fabrique-priority", "interactive"),
    ];
    let (status, _, body) =
        error_code(send(&t, &t.key, &chat_body("mistral-small"), &urgent).await).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "priority_not_allowed");
    t.finish().await;
}
