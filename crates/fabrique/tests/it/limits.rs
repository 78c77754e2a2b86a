//! Rate limits and budgets set through the admin API and its CLI: the very next request sees them,
//! entity administrators manage only their own entity, and bad input is refused by name.

use std::process::Command;

use domain::{Outcome, Role};
use reqwest::Method;
use serde_json::{Value, json};

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

async fn chat(t: &TestServer) -> (u16, reqwest::header::HeaderMap, Value) {
    let (status, headers, text) = t
        .post("/v1/chat/completions", &chat_body("mistral-small"))
        .await;
    (status, headers, serde_json::from_str(&text).unwrap())
}

/// The id of the test key's user, `ada` of `acme`.
async fn ada(t: &TestServer) -> String {
    let users = t
        .server
        .store
        .list_users(None, store::Window::ALL)
        .await
        .unwrap();
    users
        .iter()
        .find(|u| u.user_name == "ada")
        .unwrap()
        .id
        .to_string()
}

#[tokio::test]
async fn a_limit_set_through_the_api_applies_to_the_very_next_request() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let user = ada(&t).await;
    let limits = format!("/admin/v1/limits/user/{user}");

    // Fewer tokens a minute than one request asks for: refused, and nothing leaves.
    let (status, set) = call(
        &t,
        Method::PUT,
        &limits,
        ADMIN_KEY,
        Some(json!({"tokens_per_minute": 10})),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["entity"], "acme");
    assert_eq!(set["tokens_per_minute"], 10);
    assert_eq!(set["requests_per_minute"], Value::Null);
    let (status, _, body) = chat(&t).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(
        t.sims[0].0.stats().chat_requests,
        0,
        "nothing reached the backend"
    );

    // Raised: the next request passes.
    let (status, _) = call(
        &t,
        Method::PUT,
        &limits,
        ADMIN_KEY,
        Some(json!({"tokens_per_minute": 100_000})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, headers, body) = chat(&t).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-ratelimit-limit-tokens"], "100000");
    assert_eq!(t.sims[0].0.stats().chat_requests, 1);

    // One request a minute on the key: the second is refused with a Retry-After.
    let key_limits = format!("/admin/v1/limits/key/{}", t.key_id);
    let (status, _) = call(
        &t,
        Method::PUT,
        &key_limits,
        ADMIN_KEY,
        Some(json!({"requests_per_minute": 1})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(chat(&t).await.0, 200);
    let (status, headers, body) = chat(&t).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(t.sims[0].0.stats().chat_requests, 2);
    let (status, read) = call(&t, Method::GET, &key_limits, ADMIN_KEY, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            read["requests_per_minute"].clone(),
            read["remaining_requests"].clone()
        ),
        (json!(1), json!(0))
    );

    // Deleted: unlimited again at once; a second delete finds nothing.
    let (status, deleted) = call(&t, Method::DELETE, &key_limits, ADMIN_KEY, None).await;
    assert_eq!((status, deleted["deleted"].clone()), (200, json!(true)));
    assert_eq!(chat(&t).await.0, 200);
    let (status, again) = call(&t, Method::DELETE, &key_limits, ADMIN_KEY, None).await;
    assert_eq!(status, 404, "{again}");

    let (status, listed) = call(&t, Method::GET, "/admin/v1/limits", ADMIN_KEY, None).await;
    assert_eq!(status, 200);
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{listed}");
    assert_eq!(
        (data[0]["kind"].clone(), data[0]["id"].clone()),
        (json!("user"), json!(user))
    );

    // Stored, and audited in the same transaction.
    let stored = t.server.store.list_rate_limits().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].tokens_per_minute, Some(100_000));
    let (_, events) = t.finish_with_audit().await;
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.action.family() == domain::AuditFamily::RateLimit)
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "rate_limit.set",
            "rate_limit.set",
            "rate_limit.set",
            "rate_limit.delete"
        ]
    );
}

#[tokio::test]
async fn a_budget_is_set_spent_read_and_reset() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let user = ada(&t).await;
    let budgets = format!("/admin/v1/budgets/user/{user}");
    let (status, set) = call(
        &t,
        Method::PUT,
        &budgets,
        ADMIN_KEY,
        Some(json!({"period": "day", "unit": "tokens", "hard_limit": 100, "soft_threshold_percent": 50})),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["budgets"][0]["spent"], 0);
    assert_eq!(set["budgets"][0]["remaining"], 100);

    // Spend until the budget refuses (each request reserves its estimate first).
    let mut used = 0;
    let mut admitted = 0;
    let refusal = loop {
        let (status, _, body) = chat(&t).await;
        if status != 200 {
            break (status, body);
        }
        used += body["usage"]["total_tokens"].as_u64().unwrap();
        admitted += 1;
        assert!(admitted < 20, "a 100-token budget never refused");
    };
    assert!(admitted >= 1);
    assert_eq!(refusal.0, 429, "{}", refusal.1);
    assert_eq!(refusal.1["error"]["code"], "budget_exceeded");
    assert_eq!(t.sims[0].0.stats().chat_requests, admitted);

    let (status, read) = call(&t, Method::GET, &budgets, ADMIN_KEY, None).await;
    assert_eq!(status, 200, "{read}");
    let budget = &read["budgets"][0];
    assert_eq!(
        budget["spent"], used,
        "spent is the usage the backend reported"
    );
    assert_eq!(budget["reserved"], 0);
    assert_eq!(budget["remaining"], 100 - used);
    assert_eq!(budget["soft_threshold_reached"], used >= 50);
    assert_eq!(
        (budget["period"].clone(), budget["unit"].clone()),
        (json!("day"), json!("tokens"))
    );
    let resets_at = budget["resets_at"].as_str().unwrap();
    assert!(resets_at.ends_with('Z') && resets_at > budget["period_start"].as_str().unwrap());

    // Reset: spending starts afresh, and the next request passes.
    let (status, reset) = call(
        &t,
        Method::POST,
        &format!("{budgets}/reset"),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(reset["budgets"][0]["spent"], 0);
    assert_eq!(chat(&t).await.0, 200);

    let (status, listed) = call(
        &t,
        Method::GET,
        "/admin/v1/budgets?entity=acme",
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["data"][0]["id"], json!(user));

    let stored = t.server.store.list_budgets().await.unwrap();
    assert!(stored[0].reset_at.is_some(), "the reset survives a restart");

    let (status, deleted) = call(
        &t,
        Method::DELETE,
        &format!("{budgets}?period=day&unit=tokens"),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["budgets"], json!([]));

    // What the budget counted is what the usage records say.
    let records = t.finish().await;
    let recorded: u64 = records
        .iter()
        .filter(|r| r.status == 200)
        .take(admitted as usize)
        .map(|r| r.prompt_tokens + r.completion_tokens)
        .sum();
    assert_eq!(recorded, used);
}

#[tokio::test]
async fn an_entity_administrator_manages_only_their_entity() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let acme_user = ada(&t).await;

    // Bob administers `beta`. Roles are read when a key is created, so grant first.
    let _ = t
        .admin_post(
            "/admin/v1/entities",
            json!({"slug": "beta", "name": "Beta"}),
        )
        .await;
    let (_, bob_key_id, bob_key) = t
        .create_user_with_roles("beta", "bob", &[(Role::EntityAdmin, Some("beta"))])
        .await;
    let beta = t.entity("beta").await;

    // Another entity's scopes look exactly like missing ones.
    let (status, foreign) = call(
        &t,
        Method::PUT,
        &format!("/admin/v1/limits/key/{}", t.key_id),
        &bob_key,
        Some(json!({"requests_per_minute": 1})),
    )
    .await;
    assert_eq!(status, 404, "{foreign}");
    assert_eq!(
        foreign["error"]["message"],
        format!("no API key with id `{}`", t.key_id)
    );
    let missing_key = domain::KeyId::generate().to_string();
    let (status, missing) = call(
        &t,
        Method::PUT,
        &format!("/admin/v1/limits/key/{missing_key}"),
        &bob_key,
        Some(json!({"requests_per_minute": 1})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], foreign["error"]["code"]);
    for (method, path) in [
        (Method::GET, format!("/admin/v1/budgets/user/{acme_user}")),
        (
            Method::POST,
            format!("/admin/v1/budgets/user/{acme_user}/reset"),
        ),
        (Method::GET, "/admin/v1/limits?entity=acme".to_owned()),
        (Method::GET, "/admin/v1/budgets/entity/acme".to_owned()),
    ] {
        let (status, body) = call(&t, method, &path, &bob_key, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    assert_eq!(chat(&t).await.0, 200, "ada's key was not limited");

    // Inside beta: its keys, users and teams are bob's to set; the entity's own budget he reads.
    let (status, own) = call(
        &t,
        Method::PUT,
        &format!("/admin/v1/limits/key/{bob_key_id}"),
        &bob_key,
        Some(json!({"requests_per_minute": 30})),
    )
    .await;
    assert_eq!(status, 200, "{own}");
    let (status, listed) = call(&t, Method::GET, "/admin/v1/limits", &bob_key, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["entity"], "beta");

    let (status, _) = call(
        &t,
        Method::PUT,
        "/admin/v1/budgets/entity/beta",
        ADMIN_KEY,
        Some(json!({"period": "month", "unit": "money_micros", "hard_limit": 5_000_000})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, read) = call(
        &t,
        Method::GET,
        "/admin/v1/budgets/entity/beta",
        &bob_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["budgets"][0]["hard_limit"], 5_000_000);
    let (status, raise) = call(
        &t,
        Method::PUT,
        "/admin/v1/budgets/entity/beta",
        &bob_key,
        Some(json!({"period": "month", "unit": "money_micros", "hard_limit": 9_000_000})),
    )
    .await;
    assert_eq!(status, 403, "{raise}");
    assert!(
        raise["error"]["message"]
            .as_str()
            .unwrap()
            .contains("set by the group"),
        "{raise}"
    );
    let (status, _) = call(
        &t,
        Method::POST,
        "/admin/v1/budgets/entity/beta/reset",
        &bob_key,
        None,
    )
    .await;
    assert_eq!(status, 403);

    // A user who administers nothing is told so.
    let (status, plain) = call(
        &t,
        Method::PUT,
        &format!("/admin/v1/limits/key/{}", t.key_id),
        &t.key,
        Some(json!({"requests_per_minute": 1})),
    )
    .await;
    assert_eq!(status, 403, "{plain}");

    let acme = t.entity("acme").await;
    let (_, events) = t.finish_with_audit().await;
    let denied: Vec<(&str, Option<domain::EntityId>)> = events
        .iter()
        .filter(|e| e.actor == bob_key_id && e.outcome == Outcome::Denied)
        .map(|e| (e.action.as_str(), e.entity_id))
        .collect();
    assert_eq!(
        denied,
        [
            ("rate_limit.set", Some(acme.id)),
            ("rate_limit.set", None),
            ("budget.read", Some(acme.id)),
            ("budget.reset", Some(acme.id)),
            ("rate_limit.read", Some(acme.id)),
            ("budget.read", Some(acme.id)),
            ("budget.set", Some(beta.id)),
            ("budget.reset", Some(beta.id)),
        ]
    );
    assert!(
        events.iter().any(|e| e.actor == bob_key_id
            && e.action == domain::AuditAction::RateLimitSet
            && e.outcome == Outcome::Success
            && e.entity_id == Some(beta.id)),
        "bob's change inside beta is audited"
    );
}

#[tokio::test]
async fn bad_input_is_refused_naming_what_is_wrong() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let key = format!("/admin/v1/limits/key/{}", t.key_id);
    let budget = format!("/admin/v1/budgets/key/{}", t.key_id);
    let cases: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::PUT,
            "/admin/v1/limits/robot/r2d2".into(),
            Some(json!({"requests_per_minute": 5})),
            "unknown scope kind `robot`",
        ),
        (
            Method::GET,
            "/admin/v1/limits/key/not-a-key".into(),
            None,
            "is not a valid API key id",
        ),
        (
            Method::GET,
            "/admin/v1/budgets/entity/Not_A_Slug".into(),
            None,
            "`entity` must be 1 to 63 characters",
        ),
        (
            Method::PUT,
            key.clone(),
            Some(json!({"requests_per_minute": 0})),
            "zero",
        ),
        (
            Method::PUT,
            key.clone(),
            Some(json!({"tokens_per_minute": 10_000_000_000_000_u64})),
            "above 1000000000000 per minute",
        ),
        (
            Method::PUT,
            key.clone(),
            Some(json!({"requests_per_minute": 5_000_000_000_u64})),
            "above 4294967295 per minute",
        ),
        (
            Method::PUT,
            key.clone(),
            Some(json!({})),
            "give `requests_per_minute`",
        ),
        (
            Method::PUT,
            key.clone(),
            Some(json!({"rpm": 5})),
            "unknown field `rpm`",
        ),
        (
            Method::PUT,
            key.clone(),
            Some(json!({"requests_per_minute": -1})),
            "invalid value",
        ),
        (
            Method::PUT,
            budget.clone(),
            Some(json!({"period": "week", "unit": "tokens", "hard_limit": 5})),
            "unknown budget period `week`",
        ),
        (
            Method::PUT,
            budget.clone(),
            Some(json!({"period": "day", "unit": "euros", "hard_limit": 5})),
            "unknown budget unit `euros`",
        ),
        (
            Method::PUT,
            budget.clone(),
            Some(json!({"period": "day", "unit": "tokens", "hard_limit": 0})),
            "hard limit of zero",
        ),
        (
            Method::PUT,
            budget.clone(),
            Some(json!({"period": "day", "unit": "tokens", "hard_limit": u64::MAX})),
            "not supported",
        ),
        (
            Method::PUT,
            budget.clone(),
            Some(
                json!({"period": "day", "unit": "tokens", "hard_limit": 5, "soft_threshold_percent": 150}),
            ),
            "between 1 and 100, not 150",
        ),
        (Method::DELETE, budget.clone(), None, "say which budget"),
        (
            Method::DELETE,
            format!("{budget}?period=day&unit=coins"),
            None,
            "unknown budget unit `coins`",
        ),
    ];
    for (method, path, body, expected) in cases {
        let (status, answer) = call(&t, method.clone(), &path, ADMIN_KEY, body.clone()).await;
        assert_eq!(status, 400, "{method} {path} {body:?}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{method} {path}: `{message}` lacks `{expected}`"
        );
    }

    let (status, answer) = call(
        &t,
        Method::GET,
        "/admin/v1/limits/entity/nowhere",
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"]["message"], "no entity with slug `nowhere`");
    let (status, _) = call(
        &t,
        Method::POST,
        &format!("{budget}/reset"),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(status, 404, "a scope without budgets has nothing to reset");
    assert!(t.server.store.list_rate_limits().await.unwrap().is_empty());
    assert!(t.server.store.list_budgets().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_cli_sets_and_reads_a_budget() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let url = t.server.base_url();
    let run = |args: Vec<String>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_fabrique"))
                .args(["admin", "--url", &url, "--key", ADMIN_KEY])
                .args(args)
                .output()
                .unwrap()
        })
    };
    let args = |text: &str| text.split(' ').map(str::to_owned).collect::<Vec<_>>();

    let set = run(args(
        "budgets set --entity acme --period month --unit money_micros --hard-limit 2500000 --soft-threshold-percent 80",
    ))
    .await
    .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let got = run(args("budgets get --entity acme")).await.unwrap();
    assert!(got.status.success());
    let got: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(got["kind"], "entity");
    assert_eq!(got["entity"], "acme");
    let budget = &got["budgets"][0];
    assert_eq!(
        (
            budget["period"].clone(),
            budget["unit"].clone(),
            budget["hard_limit"].clone()
        ),
        (json!("month"), json!("money_micros"), json!(2_500_000))
    );
    assert_eq!(budget["soft_threshold_percent"], 80);

    let listed = run(args("budgets list")).await.unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let missing = run(args("budgets reset --entity nowhere")).await.unwrap();
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "error: 404 not_found: no entity with slug `nowhere`"
    );
}

#[tokio::test]
async fn a_budget_past_its_soft_threshold_warns_every_request_and_raises_one_event() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let user = ada(&t).await;
    // 1 % of 1,000 tokens: the first request's estimate (its prompt and `max_tokens`) takes the
    // budget past the threshold, far from its hard limit.
    let (status, set) = call(
        &t,
        Method::PUT,
        &format!("/admin/v1/budgets/user/{user}"),
        ADMIN_KEY,
        Some(json!({"period": "day", "unit": "tokens", "hard_limit": 1_000, "soft_threshold_percent": 1})),
    )
    .await;
    assert_eq!(status, 200, "{set}");

    for _ in 0..3 {
        let (status, headers, body) = chat(&t).await;
        assert_eq!(status, 200, "{body}");
        let warning = headers
            .get("x-fabrique-budget-warning")
            .expect("every request past the threshold carries the warning")
            .to_str()
            .unwrap();
        assert!(warning.contains(&format!("user {user}")), "{warning}");
    }

    let (_, events) = t.finish_with_audit().await;
    let announced: Vec<_> = events
        .iter()
        .filter(|e| e.action == domain::AuditAction::BudgetSoftThresholdReached)
        .collect();
    assert_eq!(
        announced.len(),
        1,
        "announced once per period: {announced:?}"
    );
    assert_eq!(announced[0].target, format!("user:{user}"));
    let detail: Value = serde_json::from_str(&announced[0].detail).unwrap();
    assert_eq!(detail["period"], "day");
    assert_eq!(detail["unit"], "tokens");
    assert_eq!(detail["limit"], 1_000);
    assert!(detail["committed"].as_u64().unwrap() >= 10, "{detail}");
}

#[tokio::test]
async fn the_entitys_limits_and_budgets_stay_out_of_a_callers_headers() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let user = ada(&t).await;
    for (path, body) in [
        (
            "/admin/v1/limits/entity/acme".to_owned(),
            json!({"requests_per_minute": 1_000, "tokens_per_minute": 1_000_000}),
        ),
        (
            "/admin/v1/budgets/entity/acme".to_owned(),
            json!({"period": "day", "unit": "tokens", "hard_limit": 1_000, "soft_threshold_percent": 1}),
        ),
        (
            format!("/admin/v1/limits/user/{user}"),
            json!({"requests_per_minute": 500}),
        ),
    ] {
        let (status, set) = call(&t, Method::PUT, &path, ADMIN_KEY, Some(body)).await;
        assert_eq!(status, 200, "{path}: {set}");
    }
    // Past the entity budget's threshold at once; the entity's figures are not the caller's.
    for _ in 0..2 {
        let (status, headers, body) = chat(&t).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            headers["x-ratelimit-limit-requests"], "500",
            "the user's own"
        );
        for name in ["x-ratelimit-limit-tokens", "x-fabrique-budget-warning"] {
            assert!(headers.get(name).is_none(), "{name}: {headers:?}");
        }
    }
    let (_, events) = t.finish_with_audit().await;
    assert!(
        events
            .iter()
            .any(|e| e.action == domain::AuditAction::BudgetSoftThresholdReached),
        "the crossing is audited"
    );
}
