//! Admission on the wire: rate limits and budgets refuse before any backend is called, answers
//! carry OpenAI's `x-ratelimit-*` headers, and every request counts against the request rate,
//! refused or not.

use admission::{Budget, BudgetUnit, Limits, Period, Scope};
use serde_json::Value;

use crate::harness::*;

fn config() -> String {
    two_endpoints(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a"]
"#,
    )
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn a_key_over_its_request_rate_gets_429_with_retry_after_and_nothing_is_sent() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let key: domain::KeyId = t.key_id.parse().unwrap();
    t.server
        .gateway
        .admission
        .set_limit(
            Scope::Key(key),
            Limits {
                requests_per_minute: Some(2),
                tokens_per_minute: None,
            },
        )
        .unwrap();
    let body = chat_body("mistral-small");
    for remaining in ["1", "0"] {
        let (status, headers, text) = t.post("/v1/chat/completions", &body).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(header(&headers, "x-ratelimit-limit-requests"), "2");
        assert_eq!(
            header(&headers, "x-ratelimit-remaining-requests"),
            remaining
        );
        assert!(!header(&headers, "x-ratelimit-reset-requests").is_empty());
    }
    let (status, headers, text) = t.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 429, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");
    let retry_after: u64 = header(&headers, "retry-after").parse().unwrap();
    assert!(
        (1..=30).contains(&retry_after),
        "one request per 30 s: {retry_after}"
    );
    assert_eq!(header(&headers, "x-ratelimit-remaining-requests"), "0");
    assert_eq!(
        t.sims[0].0.stats().chat_requests,
        2,
        "the refused request never left"
    );

    let records = t.finish().await;
    assert_eq!(records.iter().filter(|r| r.status == 429).count(), 1);
}

#[tokio::test]
async fn an_exhausted_budget_is_refused_naming_it_and_when_it_resets() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let user = t
        .server
        .store
        .list_users(None, store::Window::ALL)
        .await
        .unwrap()[0]
        .clone();
    t.server
        .gateway
        .admission
        .set_budget(
            Scope::Entity(user.entity_id),
            Budget {
                period: Period::Day,
                unit: BudgetUnit::Tokens,
                hard_limit: 10,
                soft_threshold_percent: None,
            },
        )
        .unwrap();
    let (status, headers, text) = t
        .post("/v1/chat/completions", &chat_body("mistral-small"))
        .await;
    assert_eq!(status, 429, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], "budget_exceeded");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("daily token budget") && message.contains("resets at"),
        "{message}"
    );
    assert!(!header(&headers, "retry-after").is_empty());
    assert_eq!(t.sims[0].0.stats().chat_requests, 0);
}

/// A request refused at any stage still counts against the caller's request rate; so a flood of
/// prompts the policy blocks is refused 429 once over the rate, before it is read, inspected or
/// audited.
#[tokio::test]
async fn refused_requests_count_and_a_flood_of_blocked_prompts_is_refused_before_inspection() {
    let config = format!(
        "{}\n[policy]\nblocked_terms = [\"Projet Orion\"]\n",
        config()
    );
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config).await;
    let key: domain::KeyId = t.key_id.parse().unwrap();
    let limits = Limits {
        requests_per_minute: Some(3),
        tokens_per_minute: None,
    };
    t.server
        .gateway
        .admission
        .set_limit(Scope::Key(key), limits)
        .unwrap();
    let mut blocked = chat_body("mistral-small");
    blocked["messages"][0]["content"] = "Le Projet Orion avance".into();
    let statuses = [
        t.post("/v1/chat/completions", &chat_body("mistral-large"))
            .await
            .0,
        t.post("/v1/chat/completions", &blocked).await.0,
        t.post("/v1/chat/completions", &blocked).await.0,
        t.post("/v1/chat/completions", &blocked).await.0,
        t.post("/v1/chat/completions", &chat_body("mistral-small"))
            .await
            .0,
    ];
    assert_eq!(statuses, [404, 400, 400, 429, 429]);
    assert_eq!(t.requests_seen(0), 0, "nothing reached a backend");

    let (_, events) = t.finish_with_audit().await;
    let blocked = domain::AuditAction::inference_refused("blocked_term");
    assert_eq!(events.iter().filter(|e| e.action == blocked).count(), 2);
}
