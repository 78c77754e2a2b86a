//! `/metrics` after traffic from two entities: per entity and model, requests by status class,
//! tokens, cost, admission rejections, latency histograms, and the endpoints' health — and no user
//! or key anywhere in the labels.

use std::collections::HashMap;

use admission::{Limits, Scope};

use crate::harness::*;

fn config() -> String {
    two_endpoints(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a"]
input_price_per_million = 2.0
output_price_per_million = 6.0
"#,
    )
}

/// The samples of an exposition: `name{labels}` → value, in the order the labels were written.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

#[tokio::test]
async fn metrics_are_labelled_by_entity_and_model_with_their_values() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let (_, globex_key) = t.create_user_key("globex", "grace").await;
    let globex = t.entity("globex").await;
    // globex may send one request a minute: its second is refused at admission.
    t.server
        .gateway
        .admission
        .set_limit(
            Scope::Entity(globex.id),
            Limits {
                requests_per_minute: Some(1),
                tokens_per_minute: None,
            },
        )
        .unwrap();
    let body = chat_body("mistral-small");
    for _ in 0..3 {
        assert_eq!(t.post("/v1/chat/completions", &body).await.0, 200);
    }
    let statuses = [
        t.post_with_key("/v1/chat/completions", &body, &globex_key)
            .await
            .0,
        t.post_with_key("/v1/chat/completions", &body, &globex_key)
            .await
            .0,
    ];
    assert_eq!(statuses, [200, 429]);
    let (status, _, _) = t
        .post("/v1/chat/completions", &chat_body("no-such-model"))
        .await;
    assert_eq!(status, 404);

    let text = t.metrics().await;
    let samples = samples(&text);
    let value = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no `{series}` in:\n{text}"))
    };
    let pair = |entity: &str| format!(r#"entity="{entity}",model="mistral-small""#);
    let requests = |entity: &str, class: &str| {
        value(&format!(
            r#"fabrique_requests_total{{{},route="chat",status="{class}"}}"#,
            pair(entity)
        ))
    };
    assert_eq!(requests("acme", "2xx"), 3.0);
    assert_eq!(requests("acme", "4xx"), 0.0);
    assert_eq!(requests("globex", "2xx"), 1.0);
    // The request over the rate is refused before its body, and so its model, is read.
    assert_eq!(requests("globex", "4xx"), 0.0);
    assert_eq!(
        value(
            r#"fabrique_requests_total{entity="globex",model="unknown",route="chat",status="4xx"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            r#"fabrique_requests_total{entity="acme",model="unknown",route="chat",status="4xx"}"#
        ),
        1.0
    );
    let rejections = |entity: &str, reason: &str| {
        value(&format!(
            r#"fabrique_admission_rejections_total{{{},reason="{reason}"}}"#,
            pair(entity)
        ))
    };
    assert_eq!(
        value(
            r#"fabrique_admission_rejections_total{entity="globex",model="unknown",reason="rate_limit_exceeded"}"#
        ),
        1.0
    );
    assert_eq!(rejections("globex", "budget_exceeded"), 0.0);
    assert_eq!(rejections("acme", "rate_limit_exceeded"), 0.0);
    for (entity, answered) in [("acme", 3.0), ("globex", 1.0)] {
        for histogram in ["request_duration_seconds", "time_to_first_token_seconds"] {
            let count = value(&format!("fabrique_{histogram}_count{{{}}}", pair(entity)));
            assert_eq!(count, answered, "{histogram} of {entity}");
        }
    }
    assert_eq!(value(r#"fabrique_endpoint_up{endpoint="gpu-a"}"#), 1.0);
    assert_eq!(
        value(r#"fabrique_endpoint_circuit{endpoint="gpu-a",state="closed"}"#),
        1.0
    );
    assert_eq!(
        value(r#"fabrique_endpoint_circuit{endpoint="gpu-b",state="open"}"#),
        0.0
    );
    for forbidden in ["user", "key"] {
        assert!(
            !text.contains(&format!("{forbidden}=\"")),
            "a `{forbidden}` label: {text}"
        );
    }

    // Tokens and cost are the sums of the usage records, entity by entity.
    let records = t.finish().await;
    for entity in ["acme", "globex"] {
        let theirs: Vec<_> = records
            .iter()
            .filter(|r| r.status == 200 && (entity == "acme") == (r.entity_id != Some(globex.id)))
            .collect();
        let input: u64 = theirs.iter().map(|r| r.prompt_tokens).sum();
        let output: u64 = theirs.iter().map(|r| r.completion_tokens).sum();
        let cost: u64 = theirs.iter().map(|r| r.cost_micros).sum();
        assert!(input > 0 && output > 0 && cost > 0, "{entity}: {theirs:?}");
        let tokens = |direction: &str| {
            value(&format!(
                r#"fabrique_tokens_total{{{},direction="{direction}"}}"#,
                pair(entity)
            ))
        };
        assert_eq!(tokens("input"), input as f64, "{entity}");
        assert_eq!(tokens("output"), output as f64, "{entity}");
        assert_eq!(
            value(&format!("fabrique_cost_micros_total{{{}}}", pair(entity))),
            cost as f64,
            "{entity}"
        );
    }
}

#[tokio::test]
async fn with_a_metrics_token_only_its_holder_sees_metrics_and_circuits() {
    let extra = format!("[server]\nmetrics_token_env = \"{METRICS_TOKEN_ENV}\"\n");
    let t = TestServer::start(
        vec![instant_sim(), instant_sim()],
        &config().replace("[routing]", &format!("{extra}\n[routing]")),
    )
    .await;
    assert_eq!(t.chat("mistral-small").await.0, 200);
    let get = |path: &str, token: Option<&str>| {
        let mut request = t.http.get(t.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for token in [None, Some("wrong-token"), Some(t.key.as_str())] {
        let refused = get("/metrics", token).await.unwrap();
        assert_eq!(refused.status(), 401, "{token:?}");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_metrics_token");
        let ready: serde_json::Value = get("/readyz", token).await.unwrap().json().await.unwrap();
        assert_eq!(
            ready,
            serde_json::json!({"status": "ready"}),
            "no endpoint named"
        );
    }
    let metrics = get("/metrics", Some(METRICS_TOKEN)).await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains(r#"entity="acme""#));
    let ready: serde_json::Value = get("/readyz", Some(METRICS_TOKEN))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["endpoints"][0]["name"], "gpu-a");
    assert_eq!(get("/healthz", None).await.unwrap().status(), 200);
}
