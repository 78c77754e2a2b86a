//! Failover between endpoints, circuit breaking, fallback models and the route stage's errors.

use std::time::Duration;

use crate::harness::*;

fn config(routing_extra: &str) -> String {
    two_endpoints(&format!(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a", "gpu-b"]

[[models]]
name = "mistral-large"
kind = "chat"
endpoints = ["gpu-a"]
fallbacks = ["mistral-small-b"]

[[models]]
name = "mistral-small-b"
kind = "chat"
endpoints = ["gpu-b"]
{routing_extra}
"#
    ))
}

fn failing() -> sim::Faults {
    sim::Faults {
        error_rate: 1.0,
        ..sim::Faults::default()
    }
}

#[tokio::test]
async fn an_endpoint_dying_mid_run_is_failed_over_and_its_circuit_opens() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config("")).await;
    for _ in 0..4 {
        assert_eq!(t.chat("mistral-small").await.0, 200);
    }
    assert!(
        t.sims[0].0.stats().completed > 0 && t.sims[1].0.stats().completed > 0,
        "both endpoints served"
    );

    t.sims[0].0.set_faults(failing());
    for _ in 0..10 {
        let (status, body) = t.chat("mistral-small").await;
        assert_eq!(status, 200, "callers never see the dead endpoint: {body}");
    }
    // Two consecutive failures opened gpu-a's circuit; after that it gets no traffic at all.
    assert_eq!(t.circuit("gpu-a").await, "open");
    assert_eq!(t.sims[0].0.stats().errors_injected, 2);
    // The admin API's pools show the same circuits, read from the gateway's own state.
    let (status, pools) = t.get_with_key("/admin/v1/pools", ADMIN_KEY).await;
    assert_eq!(status, 200, "{pools}");
    let endpoints = &pools["data"][0]["endpoints"];
    assert_eq!(endpoints[0]["name"], "gpu-a", "{pools}");
    assert_eq!(endpoints[0]["state"], "open", "{pools}");
    assert_eq!(endpoints[1]["state"], "closed", "{pools}");
    assert_eq!(
        endpoints[1]["outstanding"], 0,
        "nothing in flight once answered"
    );

    let records = t.finish().await;
    let failed_over: Vec<_> = records.iter().filter(|r| r.attempts == 2).collect();
    assert_eq!(failed_over.len(), 2);
    assert!(
        failed_over
            .iter()
            .all(|r| r.endpoint.as_deref() == Some("gpu-b") && r.status == 200)
    );
}

#[tokio::test]
async fn a_half_open_probe_closes_the_circuit_when_the_endpoint_recovers() {
    // Open period of 1 ms: the circuit turns half-open almost at once and the next request is the
    // probe. `mistral-large` has gpu-a as its only endpoint, so the probe cannot go elsewhere (on a
    // model with two endpoints, prefix affinity would rightly keep sending the prompt to the other).
    let text = config("").replace("circuit_open_ms = 3600000", "circuit_open_ms = 1");
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &text).await;
    t.sims[0].0.set_faults(failing());
    for _ in 0..2 {
        let (status, body) = t.chat("mistral-large").await;
        assert_eq!(status, 200, "the fallback model answers: {body}");
        assert_eq!(body["model"], "mistral-small-b");
    }
    assert_ne!(t.circuit("gpu-a").await, "closed");
    t.sims[0].0.set_faults(sim::Faults::default());
    // Wait (bounded) for the 1 ms open period to pass before probing: no fixed sleep, a condition.
    tokio::time::timeout(Duration::from_secs(5), async {
        while t.circuit("gpu-a").await == "open" {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("open period ends");
    assert_eq!(t.circuit("gpu-a").await, "half_open");
    let (status, body) = t.chat("mistral-large").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["model"], "mistral-large",
        "the probe went to the recovered endpoint"
    );
    assert_eq!(t.circuit("gpu-a").await, "closed");
    assert_eq!(t.sims[0].0.stats().errors_injected, 2);
}

#[tokio::test]
async fn fallback_models_answer_when_every_endpoint_of_the_model_fails() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config("")).await;
    t.sims[0].0.set_faults(failing());
    let (status, body) = t.chat("mistral-large").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "mistral-small-b");
    let records = t.finish().await;
    assert_eq!(records[0].model, "mistral-small-b");
    assert_eq!(records[0].endpoint.as_deref(), Some("gpu-b"));
    assert_eq!(records[0].attempts, 2);
}

#[tokio::test]
async fn route_stage_failures_name_the_stage_with_502_503_and_504() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config("")).await;
    t.sims[0].0.set_faults(failing());
    t.sims[1].0.set_faults(failing());
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_error");
    // The stage, and no backend's name or error chain: those are for the log.
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("route stage"), "{message}");
    assert!(
        !message.contains("gpu-") && !message.contains("500"),
        "{message}"
    );
    // Second failure each: both circuits are open now, nothing left to try.
    assert_eq!(t.chat("mistral-small").await.0, 502);
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "no_endpoint_available");
    let before = t.sims[0].0.stats().chat_requests + t.sims[1].0.stats().chat_requests;
    assert_eq!(t.chat("mistral-small").await.0, 503);
    let after = t.sims[0].0.stats().chat_requests + t.sims[1].0.stats().chat_requests;
    assert_eq!(before, after, "open circuits send nothing to the backends");
}

#[tokio::test]
async fn a_backend_that_never_answers_times_out_with_504() {
    let stalling = sim::SimConfig {
        faults: sim::Faults {
            stall_rate: 1.0,
            stall: Duration::from_secs(30),
            ..sim::Faults::default()
        },
        ..instant_sim()
    };
    let text = config("").replace(
        "health_check_interval_ms = 0",
        "health_check_interval_ms = 0\nfirst_byte_timeout_ms = 100\ndeadline_ms = 250",
    );
    let t = TestServer::start(vec![stalling.clone(), stalling], &text).await;
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout");
}

#[tokio::test]
async fn active_health_checks_open_the_circuit_of_a_dead_endpoint_without_traffic() {
    let text = config("").replace(
        "health_check_interval_ms = 0",
        "health_check_interval_ms = 20",
    );
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &text).await;
    t.sims[0].0.set_faults(failing());
    // Bounded wait on a condition (the next health-check round), not a fixed sleep.
    tokio::time::timeout(Duration::from_secs(10), async {
        while t.circuit("gpu-a").await != "open" {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("health checks open the circuit");
    assert_eq!(
        t.sims[0].0.stats().chat_requests,
        0,
        "no inference request was needed"
    );
    // Recovery: a passing check lets the next request through as a probe.
    t.sims[0].0.set_faults(sim::Faults::default());
    tokio::time::timeout(Duration::from_secs(10), async {
        while t.circuit("gpu-a").await == "open" {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a passing check ends the open period");
    let metrics = t.metrics().await;
    assert!(
        metrics.contains(r#"fabrique_endpoint_up{endpoint="gpu-a"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn rate_limiting_backends_are_tried_in_turn_then_429_with_retry_after() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config("")).await;
    let busy = sim::Faults {
        rate_limit_rate: 1.0,
        ..sim::Faults::default()
    };
    t.sims[0].0.set_faults(busy);
    t.sims[1].0.set_faults(busy);
    let (status, headers, text) = t
        .post("/v1/chat/completions", &chat_body("mistral-small"))
        .await;
    assert_eq!(status, 429, "{text}");
    assert_eq!(headers["retry-after"], "1");
    assert!(text.contains("upstream_rate_limited"), "{text}");
    assert_eq!(
        t.sims[0].0.stats().errors_injected + t.sims[1].0.stats().errors_injected,
        2,
        "both tried"
    );
    // Busy is not broken: the circuits stay closed, and the next request is tried again.
    for _ in 0..3 {
        assert_eq!(t.chat("mistral-small").await.0, 429);
    }
    assert_eq!(t.circuit("gpu-a").await, "closed");
    assert_eq!(t.circuit("gpu-b").await, "closed");
    t.sims[1].0.set_faults(sim::Faults::default());
    assert_eq!(t.chat("mistral-small").await.0, 200);
}
