//! Usage attribution and reports end to end: SCIM teams become admission scopes and chargeback
//! teams, the use-case header labels records, and the admin API's usage queries and monthly
//! chargeback (JSON, CSV, CLI) add up exactly to the stored records.

use admission::{Budget, BudgetUnit, Period, Scope};
use domain::{AuditEvent, Outcome, Role, TeamId, UsageRecord, UsageTotals, now_millis};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::{scim, scim_token};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const USE_CASE: &str = "x-fabrique-use-case";

fn config() -> String {
    two_endpoints(
        r#"
[admission]
time_zone = "Europe/Paris"

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a"]
input_price_per_million = 2.0
output_price_per_million = 6.0
"#,
    )
}

async fn user_id(t: &TestServer, name: &str) -> domain::UserId {
    t.server.store.user_by_name(name).await.unwrap().unwrap().id
}

/// Creates a team of `members` through SCIM with `token`; returns its id.
async fn team(t: &TestServer, token: &str, name: &str, members: &[domain::UserId]) -> TeamId {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let body = json!({"schemas": [GROUP], "displayName": name, "members": members});
    let (status, group) = scim(t, token, Method::POST, "/Groups", Some(body)).await;
    assert_eq!(status, 201, "{group}");
    group["id"].as_str().unwrap().parse().unwrap()
}

async fn chat(t: &TestServer, key: &str, use_case: Option<&str>) -> (u16, Value) {
    let mut request = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat_body("mistral-small"));
    if let Some(use_case) = use_case {
        request = request.header(USE_CASE, use_case);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(t: &TestServer, path: &str, query: &[(&str, &str)], key: &str) -> (u16, String) {
    let response = t
        .http
        .get(t.url(path))
        .query(query)
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get_json(t: &TestServer, path: &str, query: &[(&str, &str)], key: &str) -> Value {
    let (status, text) = get(t, path, query, key).await;
    assert_eq!(status, 200, "{path} {query:?}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn budget_of_one_token() -> Budget {
    Budget {
        period: Period::Day,
        unit: BudgetUnit::Tokens,
        hard_limit: 1,
        soft_threshold_percent: None,
    }
}

#[tokio::test]
async fn a_team_budget_refuses_naming_the_team_until_the_user_leaves_it() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let ada = user_id(&t, "ada").await;
    let (_, token) = scim_token(&t, Some("acme")).await;
    let risk = team(&t, &token, "Risk", &[ada]).await;
    t.server
        .gateway
        .admission
        .set_budget(Scope::Team(risk), budget_of_one_token())
        .unwrap();

    let (status, error) = chat(&t, &t.key, None).await;
    assert_eq!(status, 429, "{error}");
    assert_eq!(error["error"]["code"], "budget_exceeded");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("team {risk}")), "{message}");
    assert_eq!(t.sims[0].0.stats().chat_requests, 0, "nothing was sent");

    // Ada leaves the team: the next request no longer names it.
    let body = json!({"schemas": [GROUP], "displayName": "Risk", "members": []});
    let (status, group) = scim(
        &t,
        &token,
        Method::PUT,
        &format!("/Groups/{risk}"),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{group}");
    let (status, answer) = chat(&t, &t.key, None).await;
    assert_eq!(status, 200, "{answer}");

    let records = t.finish().await;
    assert_eq!(
        records
            .iter()
            .map(|r| (r.status, r.team_id))
            .collect::<Vec<_>>(),
        vec![(429, Some(risk)), (200, None)]
    );
}

#[tokio::test]
async fn teams_and_team_budgets_are_read_from_the_store_at_start() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let ada = user_id(&t, "ada").await;
    let (_, token) = scim_token(&t, Some("acme")).await;
    let risk = team(&t, &token, "Risk", &[ada]).await;
    let (status, _) = chat(&t, &t.key, None).await;
    assert_eq!(status, 200);
    let audit = AuditEvent {
        at: now_millis(),
        actor: "test".into(),
        action: domain::AuditAction::BudgetSet,
        entity_id: None,
        target: risk.to_string(),
        outcome: Outcome::Success,
        detail: "{}".into(),
    };
    t.server
        .store
        .set_budget(
            &store::StoredBudget {
                scope_kind: "team".into(),
                scope_id: risk.to_string(),
                period: "day".into(),
                unit: "tokens".into(),
                hard_limit: 1,
                soft_threshold_percent: None,
                reset_at: None,
            },
            &audit,
        )
        .await
        .unwrap();

    let t = t.restart().await;
    let (status, error) = chat(&t, &t.key, None).await;
    assert_eq!(status, 429, "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("team {risk}")), "{message}");
    let remaining = t.server.gateway.admission.budget(
        &Scope::Team(risk),
        Period::Day,
        BudgetUnit::Tokens,
        now_millis(),
    );
    assert!(
        remaining.as_ref().is_some_and(|b| b.spent > 1),
        "the team's spending before the restart is counted: {remaining:?}"
    );
}

/// Integer sums of records, the way the reports must add them.
fn sum<'a>(records: impl IntoIterator<Item = &'a UsageRecord>) -> UsageTotals {
    let mut totals = UsageTotals::default();
    for r in records {
        totals.add(&UsageTotals::from(r));
    }
    totals
}

fn assert_totals(json: &Value, expected: &UsageTotals, what: &str) {
    assert_eq!(json["requests"], expected.requests, "{what}: {json}");
    assert_eq!(
        json["input_tokens"], expected.input_tokens,
        "{what}: {json}"
    );
    assert_eq!(
        json["output_tokens"], expected.output_tokens,
        "{what}: {json}"
    );
    assert_eq!(json["cost_micros"], expected.cost_micros, "{what}: {json}");
    assert_eq!(
        json["cost"],
        reports::money::currency_units(expected.cost_micros),
        "{what}: {json}"
    );
}

#[tokio::test]
async fn usage_is_attributed_queried_and_charged_back_exactly() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let (_, bob_key) = t.create_user_key("beta", "bob").await;
    let (ada, bob) = (user_id(&t, "ada").await, user_id(&t, "bob").await);
    let (_, acme_token) = scim_token(&t, Some("acme")).await;
    let (_, beta_token) = scim_token(&t, Some("beta")).await;
    let risk = team(&t, &acme_token, "Risk", &[ada]).await;
    let ops = team(&t, &beta_token, "Ops, \"night\"", &[bob]).await;

    for (key, use_case) in [
        (&t.key, Some("credit-scoring")),
        (&t.key, Some("kyc")),
        (&t.key, None),
        (&bob_key, Some("credit-scoring")),
    ] {
        let (status, answer) = chat(&t, key, use_case).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, error) = chat(&t, &t.key, Some("Credit Scoring!")).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["code"], "invalid_use_case");

    // Records whose costs a float sum would get wrong: ten times 0.1.
    let started_at = now_millis();
    let beta_id = t.server.store.user(bob).await.unwrap().unwrap().entity_id;
    let tenths: Vec<UsageRecord> = (0..10)
        .map(|i| UsageRecord {
            request_id: format!("imported-{i}"),
            client_request_id: None,
            started_at,
            entity_id: Some(beta_id),
            user_id: Some(bob),
            service_account_id: None,
            key_id: None,
            team_id: Some(ops),
            use_case: Some("kyc".into()),
            use_case_version: None,
            operation: domain::Operation::Chat,
            model: "mistral-small".into(),
            endpoint: Some("gpu-a".into()),
            stream: false,
            prompt_tokens: 1,
            completion_tokens: 1,
            cost_micros: 100_000,
            ttft_ms: Some(3),
            duration_ms: 7,
            status: 200,
            error_code: None,
            attempts: 1,
            classification: None,
            hosting: None,
            usage_estimated: false,
            cache_hit: false,
        })
        .collect();
    assert_ne!((0..10).map(|_| 0.1_f64).sum::<f64>(), 1.0);
    t.server.store.insert_usage(&tenths).await.unwrap();

    // An entity administrator of beta.
    let (_, _, eve_key) = t
        .create_user_with_roles("beta", "eve", &[(Role::EntityAdmin, Some("beta"))])
        .await;
    let beta = t.entity("beta").await;

    // Every record written, then read back as reports read them.
    let t = t.restart().await;
    let mut records = t.server.store.list_usage(10_000).await.unwrap();
    records.reverse();
    assert_eq!(records.len(), 4 + 1 + 10);
    let ada_records: Vec<_> = records.iter().filter(|r| r.user_id == Some(ada)).collect();
    assert_eq!(
        ada_records
            .iter()
            .map(|r| (r.team_id, r.use_case.as_deref(), r.error_code.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            (Some(risk), Some("credit-scoring"), None),
            (Some(risk), Some("kyc"), None),
            (Some(risk), None, None),
            (Some(risk), None, Some("invalid_use_case")),
        ]
    );
    let acme_id = ada_records[0].entity_id;
    let all = sum(&records);
    let acme_sum = sum(records.iter().filter(|r| r.entity_id == acme_id));
    let beta_sum = sum(records.iter().filter(|r| r.entity_id == Some(beta.id)));

    let zone = reports::Zone::new("Europe/Paris").unwrap();
    let month = zone.month_of(records[0].started_at).unwrap();
    let (from, to) = zone.month_bounds(month).unwrap();
    let (from, to) = (zone.format(from), zone.format(to));
    let month = month.to_string();
    let range = [("from", from.as_str()), ("to", to.as_str())];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut query = range.to_vec();
        query.extend_from_slice(extra);
        query
    };

    // Sums by entity, as the group administrator.
    let by_entity = get_json(
        &t,
        "/admin/v1/usage",
        &with(&[("group_by", "entity")]),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(by_entity["time_zone"], "Europe/Paris");
    assert_totals(&by_entity["totals"], &all, "all");
    let rows = by_entity["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{by_entity}");
    let row_of = |slug: &str| rows.iter().find(|r| r["entity"] == slug).unwrap().clone();
    assert_totals(&row_of("acme"), &acme_sum, "acme");
    assert_totals(&row_of("beta"), &beta_sum, "beta");
    assert_eq!(by_entity["truncated"], false);

    let by_team = get_json(
        &t,
        "/admin/v1/usage",
        &with(&[("group_by", "team,use_case"), ("entity", "acme")]),
        ADMIN_KEY,
    )
    .await;
    let scoring = by_team["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["use_case"] == "credit-scoring")
        .unwrap()
        .clone();
    assert_eq!(scoring["team"], "Risk");
    assert_eq!(scoring["team_id"], risk.to_string());
    assert_eq!(scoring["requests"], 1);

    let by_error = get_json(
        &t,
        "/admin/v1/usage",
        &with(&[("group_by", "error_code")]),
        ADMIN_KEY,
    )
    .await;
    let refused = by_error["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["error_code"] == "invalid_use_case")
        .unwrap()
        .clone();
    assert_eq!(
        (refused["requests"].as_u64(), refused["errors"].as_u64()),
        (Some(1), Some(1))
    );

    let daily = get_json(
        &t,
        "/admin/v1/usage",
        &with(&[("interval", "day")]),
        ADMIN_KEY,
    )
    .await;
    let buckets = daily["data"].as_array().unwrap();
    assert!(
        !buckets.is_empty() && buckets.iter().all(|b| b["bucket"].is_string()),
        "{daily}"
    );
    let daily_requests: u64 = buckets
        .iter()
        .map(|b| b["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(daily_requests, all.requests);

    let active = get_json(&t, "/admin/v1/usage/active-users", &range, ADMIN_KEY).await;
    assert_eq!(active["active_users"], 2, "{active}");

    let latency = get_json(
        &t,
        "/admin/v1/usage/latency",
        &with(&[("group_by", "model")]),
        ADMIN_KEY,
    )
    .await;
    let small = &latency["data"][0];
    assert_eq!(small["model"], "mistral-small");
    let successful = records.iter().filter(|r| r.error_code.is_none()).count();
    assert_eq!(small["requests"], successful, "{latency}");
    // Its errors are those usage sums count for the model.
    let by_model = get_json(
        &t,
        "/admin/v1/usage",
        &with(&[("group_by", "model")]),
        ADMIN_KEY,
    )
    .await;
    let summed = by_model["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == "mistral-small")
        .unwrap();
    assert_eq!(small["errors"], summed["errors"], "{latency} {by_model}");
    let p = &small["duration_ms"];
    assert!(p["p50"].as_u64() <= p["p90"].as_u64() && p["p90"].as_u64() <= p["p99"].as_u64());

    // The entity administrator sees beta only, whatever they ask.
    let theirs = get_json(
        &t,
        "/admin/v1/usage",
        &with(&[("group_by", "entity")]),
        &eve_key,
    )
    .await;
    assert_eq!(theirs["entity"], "beta");
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1);
    assert_totals(&theirs["totals"], &beta_sum, "beta for its administrator");
    let (status, text) = get(
        &t,
        "/admin/v1/usage",
        &with(&[("entity", "acme")]),
        &eve_key,
    )
    .await;
    assert_eq!(status, 404, "{text}");
    let (status, _) = get(
        &t,
        "/admin/v1/usage",
        &with(&[("entity", "nowhere")]),
        &eve_key,
    )
    .await;
    assert_eq!(status, 404, "another entity and no entity answer alike");
    let (status, text) = get(&t, "/admin/v1/usage", &range, &bob_key).await;
    assert_eq!(status, 403, "a plain user reads no usage: {text}");

    // The chargeback, JSON: every level adds up to the records.
    let month_query = [("month", month.as_str())];
    let report = get_json(&t, "/admin/v1/reports/chargeback", &month_query, ADMIN_KEY).await;
    assert_totals(&report["total"], &all, "chargeback total");
    assert_totals(&report["pool"], &all, "chargeback pool");
    assert_eq!(report["total"]["share_of_pool"], "1.000000");
    let entities = report["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 2);
    assert_eq!(entities[0]["entity"], "acme");
    assert_totals(&entities[0], &acme_sum, "acme charge");
    assert_totals(&entities[1], &beta_sum, "beta charge");
    assert_eq!(
        entities[1]["share_of_pool"],
        reports::money::share(beta_sum.cost_micros, all.cost_micros)
    );
    for entity in entities {
        let mut lines = UsageTotals::default();
        for line in entity["lines"].as_array().unwrap() {
            lines.add(&UsageTotals {
                requests: line["requests"].as_u64().unwrap(),
                input_tokens: line["input_tokens"].as_u64().unwrap(),
                output_tokens: line["output_tokens"].as_u64().unwrap(),
                cost_micros: line["cost_micros"].as_u64().unwrap(),
                errors: 0,
                cache_hits: line["cache_hits"].as_u64().unwrap(),
            });
        }
        assert_totals(entity, &UsageTotals { errors: 0, ..lines }, "lines");
    }
    let ops_kyc = entities[1]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["use_case"] == "kyc")
        .unwrap()
        .clone();
    assert_eq!(ops_kyc["team"], "Ops, \"night\"");
    assert_eq!(
        ops_kyc["cost_micros"], 1_000_000,
        "ten tenths make one, exactly"
    );
    assert_eq!(ops_kyc["cost"], "1.000000");

    // The chargeback, CSV: the line rows add up to the total row and to the records.
    let (status, csv) = get(
        &t,
        "/admin/v1/reports/chargeback",
        &[("month", month.as_str()), ("format", "csv")],
        ADMIN_KEY,
    )
    .await;
    assert_eq!(status, 200, "{csv}");
    let (lines_cost, total_cost) = csv_costs(&csv);
    assert_eq!(lines_cost, all.cost_micros);
    assert_eq!(total_cost, all.cost_micros);
    assert!(csv.contains("\"Ops, \"\"night\"\"\""), "{csv}");

    // The entity administrator's chargeback: beta only, its share still of the whole pool.
    let theirs = get_json(&t, "/admin/v1/reports/chargeback", &month_query, &eve_key).await;
    assert_eq!(theirs["entities"].as_array().unwrap().len(), 1);
    assert_totals(&theirs["total"], &beta_sum, "beta's chargeback");
    assert_eq!(
        theirs["total"]["share_of_pool"],
        entities[1]["share_of_pool"]
    );

    // The CLI prints the same report.
    let url = t.server.base_url();
    let cli_month = month.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_fabrique"))
            .args(["report", "chargeback", "--format", "csv", "--url", &url])
            .args(["--key", ADMIN_KEY, "--month", &cli_month])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), csv);
    let url = t.server.base_url();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_fabrique"))
            .args(["report", "chargeback", "--month", "2026-13", "--url", &url])
            .args(["--key", ADMIN_KEY])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("400") && stderr.contains("YYYY-MM"),
        "{stderr}"
    );

    // Seventy days on, the roll-up job has rolled the month up and deleted its raw records and
    // its days' hourly roll-ups (both kept 32 days): the chargeback and the usage sums are the
    // same to the micro-unit.
    let later = now_millis() + 70 * 86_400_000;
    let kept = fabrique::rollups::Kept {
        raw_usage_days: Some(32),
        hourly_rollup_days: Some(32),
    };
    fabrique::rollups::run(&t.server.store, &zone, kept, later).await;
    assert!(t.server.store.list_usage(10).await.unwrap().is_empty());
    let (status, csv_after) = get(
        &t,
        "/admin/v1/reports/chargeback",
        &[("month", month.as_str()), ("format", "csv")],
        ADMIN_KEY,
    )
    .await;
    assert_eq!((status, csv_after), (200, csv));
    let after = get_json(&t, "/admin/v1/reports/chargeback", &month_query, ADMIN_KEY).await;
    assert_eq!(after["entities"], report["entities"]);
    assert_eq!(after["total"], report["total"]);
    let by_entity_after = get_json(
        &t,
        "/admin/v1/usage",
        &with(&[("group_by", "entity")]),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(by_entity_after["data"], by_entity["data"]);

    // Reads are audited, with the entity they covered.
    let (_, events) = t.finish_with_audit().await;
    assert!(
        events
            .iter()
            .any(|e| e.action == domain::AuditAction::ChargebackRead
                && e.entity_id == Some(beta.id)
                && e.outcome == Outcome::Success)
    );
    assert!(
        events
            .iter()
            .any(|e| e.action == domain::AuditAction::UsageRead
                && e.outcome == Outcome::Denied
                && e.entity_id == acme_id)
    );
}

/// The sum of the `line` rows' `cost_micros` and the `total` row's, from the chargeback CSV.
fn csv_costs(csv: &str) -> (u64, u64) {
    let mut rows = csv.split("\r\n").filter(|r| !r.is_empty());
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let cost_at = header.iter().position(|h| *h == "cost_micros").unwrap();
    let (mut lines, mut total) = (0, 0);
    for row in rows {
        // Quoted names may hold commas; the figures are the last six fields.
        let fields: Vec<&str> = row.rsplitn(header.len() - cost_at, ',').collect();
        let cost: u64 = fields
            .last()
            .unwrap()
            .rsplit(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        match row.split(',').next().unwrap() {
            "line" => lines += cost,
            "total" => total = cost,
            _ => {}
        }
    }
    (lines, total)
}

#[tokio::test]
async fn bad_report_parameters_get_clear_errors() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        (
            "/admin/v1/usage",
            &[
                ("from", "2026-11-01"),
                ("to", "2026-12-01"),
                ("group_by", "colour"),
            ],
            "unknown dimension",
        ),
        (
            "/admin/v1/usage",
            &[("from", "2026-11-01"), ("to", "2026-11-01")],
            "before",
        ),
        (
            "/admin/v1/usage",
            &[("from", "yesterday"), ("to", "2026-11-01")],
            "RFC 3339",
        ),
        (
            "/admin/v1/usage",
            &[
                ("from", "2026-01-01"),
                ("to", "2026-12-01"),
                ("interval", "hour"),
            ],
            "buckets",
        ),
        (
            "/admin/v1/usage/latency",
            &[
                ("from", "2026-11-01"),
                ("to", "2026-12-01"),
                ("group_by", "user"),
            ],
            "model",
        ),
        (
            "/admin/v1/reports/chargeback",
            &[("month", "2026-11"), ("format", "xlsx")],
            "csv",
        ),
    ];
    for (path, query, expected) in cases {
        let (status, text) = get(&t, path, query, ADMIN_KEY).await;
        assert_eq!(status, 400, "{path} {query:?}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{path} {query:?}: {message}");
    }
    let (status, _) = get(
        &t,
        "/admin/v1/reports/chargeback",
        &[("month", "2026-11")],
        "nope",
    )
    .await;
    assert_eq!(status, 401);
}
