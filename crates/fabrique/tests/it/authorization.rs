//! Who may call which admin route, as the default Cedar policy set decides: every route of the
//! admin router × every kind of caller, in one table, against one server. Objects named in paths
//! and filters belong to entity `acme`; `globex` is the other entity.

use std::process::Command;

use domain::{Operation, Role};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ADMIN_KEY, TestServer, instant_sim, one_endpoint};
use crate::process::Serve;

/// The kinds of caller, in the order of the table's columns.
const CALLERS: [&str; 8] = [
    "group_admin",
    "entity_admin",
    "other_entity_admin",
    "group_auditor",
    "auditor",
    "other_auditor",
    "factory_engineer",
    "user",
];

/// What one cell expects: allowed (2xx, or 409 for a duplicate), 403, or the 404 that hides
/// another entity's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    A,
    F,
    H,
}
use Answer::{A, F, H};

/// One row: a route as the router declares it, the request made (`{key}`, `{user}`, `{scim}`
/// and `{n}` filled in), what to set up before each call, and the answer per caller.
struct Row {
    method: &'static str,
    route: &'static str,
    request: &'static str,
    body: Option<&'static str>,
    setup: Option<(&'static str, &'static str, &'static str)>,
    answers: [Answer; 8],
}

const RANGE: &str = "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&entity=acme";
const BUDGET: &str = r#"{"period": "month", "unit": "tokens", "hard_limit": 1000}"#;
const VERSION: &str = r#"{"template": "Answer {n}.", "model": "mistral-small"}"#;
const SUITE: &str = r#"{"messages": [{"role": "user", "content": "q"}], "expect": [{"grader": "contains", "value": "q"}]}"#;
const SET_BUDGET: (&str, &str, &str) = ("PUT", "/admin/v1/budgets/key/{key}", BUDGET);
const SET_LIMIT: (&str, &str, &str) = (
    "PUT",
    "/admin/v1/limits/key/{key}",
    r#"{"requests_per_minute": 100}"#,
);

const GRANT_USER: (&str, &str, &str) = (
    "POST",
    "/admin/v1/role-grants",
    r#"{"user": "{user}", "role": "user", "entity": "acme"}"#,
);

#[rustfmt::skip]
fn table() -> Vec<Row> {
    let row = |method, route, request, body, setup, answers| Row { method, route, request, body, setup, answers };
    vec![
        //                                                                                   GA EA xEA GAu Au xAu FE U
        row("GET", "/admin/v1/entities", "/admin/v1/entities", None, None, [A, F, F, A, F, F, F, F]),
        row("POST", "/admin/v1/entities", "/admin/v1/entities", Some(r#"{"slug": "initech", "name": "Initech"}"#), None, [A, F, F, F, F, F, F, F]),
        row("PUT", "/admin/v1/entities/{entity}/status", "/admin/v1/entities/acme/status", Some(r#"{"status": "active"}"#), None, [A, F, F, F, F, F, F, F]),
        row("GET", "/admin/v1/users", "/admin/v1/users?entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("POST", "/admin/v1/users", "/admin/v1/users", Some(r#"{"entity": "acme", "user_name": "new-{n}", "email": "new-{n}@example.test"}"#), None, [A, A, H, F, F, F, F, F]),
        row("GET", "/admin/v1/teams", "/admin/v1/teams?entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("GET", "/admin/v1/permissions", "/admin/v1/permissions", None, None, [A, A, A, A, A, A, A, A]),
        row("GET", "/admin/v1/policies/effective", "/admin/v1/policies/effective?entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("POST", "/admin/v1/policies/dry-run", "/admin/v1/policies/dry-run", Some(r#"{"text": "jean@example.fr", "entity": "acme"}"#), None, [A, A, H, A, A, H, F, F]),
        row("GET", "/admin/v1/keys", "/admin/v1/keys?entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("POST", "/admin/v1/keys", "/admin/v1/keys", Some(r#"{"user_id": "{user}"}"#), None, [A, A, H, F, F, F, F, F]),
        row("DELETE", "/admin/v1/keys/{id}", "/admin/v1/keys/{key}", None, None, [A, A, H, F, F, F, F, F]),
        row("POST", "/admin/v1/keys/{id}/rotate", "/admin/v1/keys/{key}/rotate", Some(r#"{"grace_seconds": 0}"#), None, [A, A, H, F, F, F, F, F]),
        row("GET", "/admin/v1/scim-tokens", "/admin/v1/scim-tokens", None, None, [A, F, F, F, F, F, F, F]),
        row("POST", "/admin/v1/scim-tokens", "/admin/v1/scim-tokens", Some("{}"), None, [A, F, F, F, F, F, F, F]),
        row("DELETE", "/admin/v1/scim-tokens/{id}", "/admin/v1/scim-tokens/{scim}", None, None, [A, F, F, F, F, F, F, F]),
        row("GET", "/admin/v1/seats/pool", "/admin/v1/seats/pool", None, None, [A, F, F, A, F, F, F, F]),
        row("PUT", "/admin/v1/seats/pool", "/admin/v1/seats/pool", Some(r#"{"size": null}"#), None, [A, F, F, F, F, F, F, F]),
        row("PUT", "/admin/v1/seats/entities/{entity}", "/admin/v1/seats/entities/acme", Some(r#"{"reserved": 0}"#), None, [A, F, F, F, F, F, F, F]),
        row("GET", "/admin/v1/seats/report", "/admin/v1/seats/report?entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("POST", "/admin/v1/seats/reclaim", "/admin/v1/seats/reclaim", None, None, [A, F, F, F, F, F, F, F]),
        row("GET", "/admin/v1/limits", "/admin/v1/limits?entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("GET", "/admin/v1/limits/{kind}/{id}", "/admin/v1/limits/key/{key}", None, None, [A, A, H, A, A, H, F, F]),
        row("PUT", "/admin/v1/limits/{kind}/{id}", "/admin/v1/limits/key/{key}", Some(r#"{"requests_per_minute": 100}"#), None, [A, A, H, F, F, H, F, F]),
        row("DELETE", "/admin/v1/limits/{kind}/{id}", "/admin/v1/limits/key/{key}", None, Some(SET_LIMIT), [A, A, H, F, F, H, F, F]),
        row("GET", "/admin/v1/budgets", "/admin/v1/budgets?entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("GET", "/admin/v1/budgets/{kind}/{id}", "/admin/v1/budgets/key/{key}", None, None, [A, A, H, A, A, H, F, F]),
        row("PUT", "/admin/v1/budgets/{kind}/{id}", "/admin/v1/budgets/key/{key}", Some(BUDGET), None, [A, A, H, F, F, H, F, F]),
        row("DELETE", "/admin/v1/budgets/{kind}/{id}", "/admin/v1/budgets/key/{key}?period=month&unit=tokens", None, Some(SET_BUDGET), [A, A, H, F, F, H, F, F]),
        row("POST", "/admin/v1/budgets/{kind}/{id}/reset", "/admin/v1/budgets/key/{key}/reset", None, Some(SET_BUDGET), [A, A, H, F, F, H, F, F]),
        row("GET", "/admin/v1/pools/{pool}/shares", "/admin/v1/pools/default/shares", None, None, [A, F, F, F, F, F, F, F]),
        row("PUT", "/admin/v1/pools/{pool}/shares/{entity}", "/admin/v1/pools/default/shares/acme", Some(r#"{"weight": 1}"#), None, [A, F, F, F, F, F, F, F]),
        row("GET", "/admin/v1/pools", "/admin/v1/pools", None, None, [A, F, F, F, F, F, F, F]),
        row("GET", "/admin/v1/audit", "/admin/v1/audit?entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("GET", "/admin/v1/audit/checkpoints", "/admin/v1/audit/checkpoints", None, None, [A, F, F, A, F, F, F, F]),
        row("POST", "/admin/v1/audit/verify", "/admin/v1/audit/verify", None, None, [A, F, F, A, F, F, F, F]),
        row("GET", "/admin/v1/usage", "/admin/v1/usage?{range}&group_by=use_case", None, None, [A, A, H, A, A, H, A, F]),
        row("GET", "/admin/v1/usage/active-users", "/admin/v1/usage/active-users?{range}", None, None, [A, A, H, A, A, H, A, F]),
        row("GET", "/admin/v1/usage/latency", "/admin/v1/usage/latency?{range}", None, None, [A, A, H, A, A, H, A, F]),
        row("GET", "/admin/v1/reports/chargeback", "/admin/v1/reports/chargeback?month=2026-01&entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("POST", "/admin/v1/users/{id}/erase", "/admin/v1/users/{user}/erase", None, None, [A, A, H, F, F, F, F, F]),
        row("DELETE", "/admin/v1/users/{id}/sessions", "/admin/v1/users/{user}/sessions", None, None, [A, A, H, F, F, F, F, F]),
        row("POST", "/admin/v1/users/{id}/login-link", "/admin/v1/users/{user}/login-link", None, None, [A, A, H, F, F, F, F, F]),
        row("GET", "/admin/v1/role-grants", "/admin/v1/role-grants?entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("POST", "/admin/v1/role-grants", "/admin/v1/role-grants", Some(r#"{"user": "{user}", "role": "user", "entity": "acme"}"#), None, [A, A, H, F, F, H, F, F]),
        row("DELETE", "/admin/v1/role-grants", "/admin/v1/role-grants?user={user}&role=user&entity=acme", None, Some(GRANT_USER), [A, A, H, F, F, H, F, F]),
        row("GET", "/admin/v1/sessions", "/admin/v1/sessions?entity=acme", None, None, [A, A, H, A, A, H, F, F]),
        row("DELETE", "/admin/v1/sessions/{id}", "/admin/v1/sessions/ses_gone-{n}", None, None, [H, H, H, F, F, F, F, F]),
        row("GET", "/admin/v1/content", "/admin/v1/content?user={user}&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", None, None, [A, F, F, A, A, H, F, F]),
        row("POST", "/admin/v1/retention/purge", "/admin/v1/retention/purge", None, None, [A, F, F, F, F, F, F, F]),
        row("GET", "/admin/v1/legal-holds", "/admin/v1/legal-holds?entity=acme", None, None, [A, F, F, A, A, H, F, F]),
        row("POST", "/admin/v1/legal-holds", "/admin/v1/legal-holds", Some(r#"{"user": "{user}", "reason": "r", "case_reference": "c-{n}"}"#), None, [A, F, F, F, F, F, F, F]),
        row("DELETE", "/admin/v1/legal-holds/{id}", "/admin/v1/legal-holds/hold_gone-{n}", None, None, [H, F, F, F, F, F, F, F]),
        row("GET", "/v1/libraries", "/v1/libraries", None, None, [A, A, A, A, A, A, A, A]),
        row("POST", "/v1/libraries", "/v1/libraries", Some(r#"{"name": "L{n}", "entity": "acme"}"#), None, [A, A, H, F, F, F, F, F]),
        row("GET", "/v1/libraries/{id}", "/v1/libraries/{lib}", None, None, [A, A, H, A, A, H, A, A]),
        row("DELETE", "/v1/libraries/{id}", "/v1/libraries/lib_gone-{n}", None, None, [H, H, H, H, H, H, H, H]),
        row("GET", "/v1/libraries/{id}/documents", "/v1/libraries/{lib}/documents", None, None, [A, A, H, A, A, H, A, A]),
        row("POST", "/v1/libraries/{id}/documents", "/v1/libraries/{lib}/documents?name=note-{n}.md", Some("Note {n}"), None, [A, A, H, F, F, H, F, F]),
        row("DELETE", "/v1/libraries/{id}/documents/{document}", "/v1/libraries/{lib}/documents/doc_gone-{n}", None, None, [H, H, H, F, F, H, F, F]),
        row("POST", "/v1/libraries/{id}/search", "/v1/libraries/{lib}/search", Some(r#"{"query": "note"}"#), None, [A, A, H, A, A, H, A, A]),
        row("GET", "/admin/v1/use-cases", "/admin/v1/use-cases", None, None, [A, F, F, A, A, A, A, F]),
        row("POST", "/admin/v1/use-cases", "/admin/v1/use-cases", Some(r#"{"slug": "uc-{n}", "name": "U", "purpose": "p", "owner_entity": "acme", "risk_class": "minimal"}"#), None, [A, F, F, F, F, F, A, F]),
        row("GET", "/admin/v1/use-cases/export", "/admin/v1/use-cases/export", None, None, [A, F, F, A, A, A, F, F]),
        row("GET", "/admin/v1/use-cases/{slug}", "/admin/v1/use-cases/memo", None, None, [A, F, F, A, A, H, A, F]),
        row("PATCH", "/admin/v1/use-cases/{slug}", "/admin/v1/use-cases/memo", Some(r#"{"purpose": "Drafts memos, {n}."}"#), None, [A, F, F, F, F, F, A, F]),
        row("POST", "/admin/v1/use-cases/{slug}/versions", "/admin/v1/use-cases/memo/versions", Some(VERSION), None, [A, F, F, F, F, F, A, F]),
        row("PUT", "/admin/v1/use-cases/{slug}/versions/{number}", "/admin/v1/use-cases/memo/versions/1", Some(VERSION), None, [A, F, F, F, F, F, A, F]),
        row("GET", "/admin/v1/use-cases/{slug}/versions/{number}/diff", "/admin/v1/use-cases/memo/versions/2/diff", None, None, [A, F, F, A, A, H, A, F]),
        row("POST", "/admin/v1/use-cases/{slug}/versions/{number}/transitions", "/admin/v1/use-cases/memo/versions/2/transitions", Some(r#"{"transition": "submit", "reason": "ready"}"#), None, [A, F, F, F, F, F, A, F]),
        row("PUT", "/admin/v1/use-cases/{slug}/rollout", "/admin/v1/use-cases/memo/rollout", Some(r#"{"reason": "none deployed", "versions": []}"#), None, [A, F, F, F, F, F, A, F]),
        row("GET", "/admin/v1/use-cases/{slug}/stats", "/admin/v1/use-cases/memo/stats", None, None, [A, F, F, A, A, H, A, F]),
        row("GET", "/admin/v1/use-cases/{slug}/transitions", "/admin/v1/use-cases/memo/transitions", None, None, [A, F, F, A, A, H, A, F]),
        row("GET", "/admin/v1/use-cases/{slug}/evaluations", "/admin/v1/use-cases/memo/evaluations", None, None, [A, F, F, A, A, H, A, F]),
        row("POST", "/admin/v1/use-cases/{slug}/rollout/check", "/admin/v1/use-cases/memo/rollout/check", None, None, [A, F, F, F, F, F, A, F]),
        row("GET", "/admin/v1/use-cases/{slug}/suites/{name}", "/admin/v1/use-cases/memo/suites/s", None, None, [A, F, F, A, A, H, A, F]),
        row("PUT", "/admin/v1/use-cases/{slug}/suites/{name}", "/admin/v1/use-cases/memo/suites/s", Some(SUITE), None, [A, F, F, F, F, F, A, F]),
        row("POST", "/admin/v1/use-cases/{slug}/evaluations", "/admin/v1/use-cases/memo/evaluations", Some(r#"{"version": 1, "suite": "s"}"#), None, [A, F, F, F, F, F, A, F]),
        row("GET", "/admin/v1/use-cases/{slug}/documents", "/admin/v1/use-cases/memo/documents", None, None, [A, F, F, A, A, H, A, F]),
        row("POST", "/admin/v1/use-cases/{slug}/documents", "/admin/v1/use-cases/memo/documents?filename=note-{n}.md", Some("Note {n}"), None, [A, F, F, F, F, F, A, F]),
        row("GET", "/admin/v1/use-cases/{slug}/documents/{id}", "/admin/v1/use-cases/memo/documents/{doc}", None, None, [A, F, F, A, A, H, A, F]),
        row("DELETE", "/admin/v1/use-cases/{slug}/documents/{id}", "/admin/v1/use-cases/memo/documents/ucd_gone-{n}", None, None, [H, F, F, F, F, F, H, F]),
        row("GET", "/admin/v1/evaluations/{id}", "/admin/v1/evaluations/{run}", None, None, [A, F, F, A, A, H, A, F]),
        row("GET", "/admin/v1/evaluations/{id}/results", "/admin/v1/evaluations/{run}/results", None, None, [A, F, F, A, A, H, A, F]),
    ]
}

/// The routes of a router, `(method, path)`, read from the source of the crate root that builds
/// it in `pub fn router`: each `.route(path, get(…).post(…))` call. Catch-alls (`any(…)`) are not
/// routes of their own.
pub(crate) fn router_routes(source: &str) -> Vec<(String, String)> {
    let router = &source[source.find("pub fn router").expect("the router")..];
    let router = &router[..router.find("\n}\n").unwrap_or(router.len())];
    let mut routes = Vec::new();
    for call in router.split(".route(").skip(1) {
        let path = match call.trim_start().strip_prefix("Operation::") {
            // `.route(Operation::Chat.public_path(), …)`: the operation's path.
            Some(rest) => {
                let variant = rest.split('.').next().expect("Operation::X.public_path()");
                let operations = [
                    Operation::Chat,
                    Operation::Embeddings,
                    Operation::Fim,
                    Operation::Rerank,
                ];
                let operation = operations.iter().find(|o| format!("{o:?}") == variant);
                operation.expect("an operation").public_path().to_owned()
            }
            None => call.split('"').nth(1).expect("a quoted path").to_owned(),
        };
        let handlers = &call[..call.find(".route(").unwrap_or(call.len())];
        let bytes = handlers.as_bytes();
        // `get(` as a call, not the end of a handler's name such as `limits::get`.
        let starts_a_call = |i: usize| {
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || b"_:".contains(&bytes[i - 1]))
        };
        for method in ["get", "post", "put", "patch", "delete"] {
            let called = handlers
                .match_indices(&format!("{method}("))
                .any(|(i, _)| starts_a_call(i));
            if called {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn the_table_covers_every_admin_route_once() {
    let routes = router_routes(include_str!("../../../admin/src/lib.rs"));
    assert!(routes.len() >= 30, "the router reads as {routes:?}");
    let table: Vec<(String, String)> = table()
        .iter()
        .map(|row| (row.method.to_owned(), row.route.to_owned()))
        .collect();
    for route in &routes {
        let rows = table.iter().filter(|r| *r == route).count();
        assert_eq!(rows, 1, "route {route:?} has {rows} rows in the table");
    }
    for row in &table {
        assert!(routes.contains(row), "{row:?} is not a route of the router");
    }
}

async fn call(
    t: &TestServer,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = t.http.request(method, t.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A server with scheduling on (for the pool share routes) and entities `acme` and `globex`.
async fn server() -> TestServer {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint("[scheduling]\n")).await;
    let (status, body) = t
        .admin_post(
            "/admin/v1/entities",
            json!({"slug": "globex", "name": "Globex"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    t
}

/// The AI Factory's objects the paths name: use case `memo` of `acme`, its draft versions 1 and 2,
/// its suite `s`, a document, and an evaluation run (returned with the document's id).
async fn factory_objects(t: &TestServer) -> (String, String) {
    let definition = json!({"slug": "memo", "name": "Memo", "purpose": "Drafts memos.", "owner_entity": "acme", "risk_class": "limited"});
    let (status, body) = t.admin_post("/admin/v1/use-cases", definition).await;
    assert_eq!(status, 201, "{body}");
    for _ in 0..2 {
        let version = serde_json::from_str::<Value>(VERSION).unwrap();
        let (status, body) = t
            .admin_post("/admin/v1/use-cases/memo/versions", version)
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = call(
        t,
        "PUT",
        "/admin/v1/use-cases/memo/suites/s",
        ADMIN_KEY,
        Some(SUITE),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, document) = call(
        t,
        "POST",
        "/admin/v1/use-cases/memo/documents?filename=dpia.md",
        ADMIN_KEY,
        Some("The assessment."),
    )
    .await;
    assert_eq!(status, 201, "{document}");
    let run = json!({"version": 1, "suite": "s"});
    let (status, body) = t
        .admin_post("/admin/v1/use-cases/memo/evaluations", run)
        .await;
    assert_eq!(status, 202, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        document["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn each_role_reaches_exactly_the_admin_routes_its_policies_grant() {
    let t = server().await;
    let mut keys = vec![ADMIN_KEY.to_owned()];
    let mut key_ids = vec![String::new()];
    for (name, entity, role, scope) in [
        ("ea", "acme", Role::EntityAdmin, Some("acme")),
        ("xea", "globex", Role::EntityAdmin, Some("globex")),
        ("gau", "acme", Role::Auditor, None),
        ("au", "acme", Role::Auditor, Some("acme")),
        ("xau", "globex", Role::Auditor, Some("globex")),
        ("fe", "acme", Role::FactoryEngineer, Some("acme")),
        ("u", "acme", Role::User, Some("acme")),
    ] {
        let (_, key_id, key) = t
            .create_user_with_roles(entity, name, &[(role, scope)])
            .await;
        keys.push(key);
        key_ids.push(key_id);
    }
    // The objects the paths name, all of `acme`.
    let (target_user, target_key, _) = t.create_user_with_roles("acme", "target", &[]).await;
    let (status, scim) = t.admin_post("/admin/v1/scim-tokens", json!({})).await;
    assert_eq!(status, 201, "{scim}");
    let scim = scim["id"].as_str().unwrap().to_owned();
    let (run, document) = factory_objects(&t).await;
    let library = json!({"name": "Acme", "entity": "acme", "readers": ["entity:acme"]});
    let (status, library) = t.admin_post("/v1/libraries", library).await;
    assert_eq!(status, 201, "{library}");
    let library = library["id"].as_str().unwrap().to_owned();
    let fill = |text: &str, n: usize| {
        text.replace("{key}", &target_key)
            .replace("{lib}", &library)
            .replace("{run}", &run)
            .replace("{doc}", &document)
            .replace("{user}", &target_user)
            .replace("{scim}", &scim)
            .replace("{range}", RANGE)
            .replace("{n}", &n.to_string())
    };

    let mut wrong = Vec::new();
    let mut n = 0;
    for row in table() {
        for (column, expected) in row.answers.iter().enumerate() {
            n += 1;
            if let Some((method, path, body)) = row.setup {
                let body = fill(body, n);
                let (status, answer) =
                    call(&t, method, &fill(path, n), ADMIN_KEY, Some(&body)).await;
                assert!(
                    (200..=201).contains(&status),
                    "setting up {} {}: {answer}",
                    row.method,
                    row.route
                );
            }
            let path = fill(row.request, n);
            let body = row.body.map(|b| fill(b, n));
            let (status, answer) =
                call(&t, row.method, &path, &keys[column], body.as_deref()).await;
            let got = match status {
                200..=299 | 409 => A,
                403 => F,
                404 => H,
                _ => panic!(
                    "{} {path} as {}: unexpected {status}: {answer}",
                    row.method, CALLERS[column]
                ),
            };
            if got != *expected {
                wrong.push(format!(
                    "{} {} as {}: expected {expected:?}, got {status} {answer}",
                    row.method, path, CALLERS[column]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // The attempts hidden as 404 are audited as refusals all the same.
    let (_, audit) = call(&t, "GET", "/admin/v1/audit?limit=10000", ADMIN_KEY, None).await;
    let denied_revoke = audit["data"].as_array().unwrap().iter().any(|e| {
        e["actor"] == key_ids[2].as_str() && e["action"] == "key.revoke" && e["outcome"] == "denied"
    });
    assert!(
        denied_revoke,
        "the other entity's administrator's revocation is audited as denied"
    );
}

#[tokio::test]
async fn entity_administrators_hand_out_no_more_than_their_entity() {
    let t = server().await;
    let (_, _, admin) = t
        .create_user_with_roles("acme", "ea", &[(Role::EntityAdmin, Some("acme"))])
        .await;
    let (boss, boss_key, _) = t
        .create_user_with_roles("acme", "boss", &[(Role::GroupAdmin, None)])
        .await;
    let (spy, _, _) = t
        .create_user_with_roles("acme", "spy", &[(Role::Auditor, Some("globex"))])
        .await;
    let (peer, _, _) = t
        .create_user_with_roles("acme", "peer", &[(Role::EntityAdmin, Some("acme"))])
        .await;

    for (owner, expected) in [(&boss, 403), (&spy, 403), (&peer, 201)] {
        let body = format!(r#"{{"user_id": "{owner}"}}"#);
        let (status, answer) = call(&t, "POST", "/admin/v1/keys", &admin, Some(&body)).await;
        assert_eq!(status, expected, "a key for {owner}: {answer}");
        if status == 403 {
            assert_eq!(answer["error"]["code"], "permission_denied");
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("roles beyond yours"),
                "{answer}"
            );
        }
    }
    let (status, answer) = call(
        &t,
        "DELETE",
        &format!("/admin/v1/keys/{boss_key}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    // Users are created without roles: a body asking for some is refused.
    let (status, answer) = call(
        &t,
        "POST",
        "/admin/v1/users",
        &admin,
        Some(r#"{"entity": "acme", "user_name": "x", "email": "x@example.test", "roles": ["group_admin"]}"#),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    // The group administrator may.
    let (status, answer) = t
        .admin_post("/admin/v1/keys", json!({"user_id": boss}))
        .await;
    assert_eq!(status, 201, "{answer}");
}

/// An entity administrator cannot widen their own power through role grants: not a group role,
/// not a role over another entity, not a role they do not hold (an auditor reads stored content,
/// which they may not); nor take back their entity's auditor. What they may grant holds at once.
#[tokio::test]
async fn nobody_widens_their_own_power_by_granting_roles() {
    let t = server().await;
    let (_, _, admin) = t
        .create_user_with_roles("acme", "ea", &[(Role::EntityAdmin, Some("acme"))])
        .await;
    let (_, _, peer_key) = t.create_user_with_roles("acme", "peer", &[]).await;
    t.create_user_with_roles("acme", "dpo", &[(Role::Auditor, Some("acme"))])
        .await;
    let grant = |user: &str, role: &str, entity: Option<&str>| {
        json!({"user": user, "role": role, "entity": entity}).to_string()
    };
    for (role, entity, expected) in [
        ("group_admin", None, 403),
        ("auditor", None, 403),
        ("auditor", Some("acme"), 403),
        ("factory_engineer", Some("acme"), 403),
        ("risk_officer", Some("acme"), 403),
        ("entity_admin", Some("globex"), 404),
    ] {
        let body = grant("ea", role, entity);
        let (status, answer) = call(&t, "POST", "/admin/v1/role-grants", &admin, Some(&body)).await;
        assert_eq!(
            status, expected,
            "granting oneself {role} over {entity:?}: {answer}"
        );
    }
    let (status, answer) = call(&t, "GET", "/admin/v1/role-grants?user=ea", &admin, None).await;
    assert_eq!(status, 200, "{answer}");
    let held: Vec<&str> = answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["role"].as_str().unwrap())
        .collect();
    assert_eq!(held, ["entity_admin"], "nothing was added: {answer}");
    // Their entity's auditor stays.
    let (status, answer) = call(
        &t,
        "DELETE",
        "/admin/v1/role-grants?user=dpo&role=auditor&entity=acme",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("beyond yours"),
        "{answer}"
    );

    // Within their entity and their own role: granted, and in force at the holder's next request.
    let (status, _) = call(&t, "GET", "/admin/v1/users?entity=acme", &peer_key, None).await;
    assert_eq!(status, 403);
    let body = grant("peer", "entity_admin", Some("acme"));
    let (status, answer) = call(&t, "POST", "/admin/v1/role-grants", &admin, Some(&body)).await;
    assert_eq!(status, 201, "{answer}");
    let (status, _) = call(&t, "GET", "/admin/v1/users?entity=acme", &peer_key, None).await;
    assert_eq!(status, 200);

    // The refusals are audited (another entity's, hidden as missing, under `role.list`).
    let (_, audit) = call(
        &t,
        "GET",
        "/admin/v1/audit?action=role.grant&outcome=denied&limit=100",
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 5, "{audit}");
}

/// User names are one namespace for the whole group (they are the sign-in identities), so a name
/// held in another entity is refused; the refusal is word for word the one for a name held in the
/// caller's own entity, and names no entity, id or person: it does not confirm where, or that, the
/// name is held (review L-5).
#[tokio::test]
async fn a_name_held_in_another_entity_is_refused_as_any_taken_name_is() {
    let t = server().await;
    let (_, _, admin) = t
        .create_user_with_roles("acme", "ea", &[(Role::EntityAdmin, Some("acme"))])
        .await;
    for (entity, name) in [("globex", "gina"), ("acme", "alice")] {
        let body =
            json!({"entity": entity, "user_name": name, "email": format!("{name}@example.test")});
        let (status, held) = t.admin_post("/admin/v1/users", body).await;
        assert_eq!(status, 201, "{held}");
    }
    let attempt = |name: &str| {
        json!({"entity": "acme", "user_name": name, "email": "probe@example.test"}).to_string()
    };
    let (status, elsewhere) = call(
        &t,
        "POST",
        "/admin/v1/users",
        &admin,
        Some(&attempt("gina")),
    )
    .await;
    let (same_status, here) = call(
        &t,
        "POST",
        "/admin/v1/users",
        &admin,
        Some(&attempt("alice")),
    )
    .await;
    assert_eq!((status, same_status), (409, 409), "{elsewhere} {here}");
    let message = elsewhere["error"]["message"].as_str().unwrap();
    assert_eq!(
        message.replace("gina", "alice"),
        here["error"]["message"].as_str().unwrap(),
        "the same answer wherever the name is held"
    );
    assert!(
        !message.contains("globex") && !message.contains("exists"),
        "{message}"
    );

    let (_, token) = crate::scim::scim_token(&t, Some("acme")).await;
    let user =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "gina"});
    let (status, error) = crate::scim::scim(&t, &token, Method::POST, "/Users", Some(user)).await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (409, json!("uniqueness"))
    );
    assert_eq!(error["detail"].as_str().unwrap(), message);
}

#[tokio::test]
async fn listings_without_a_filter_show_an_entity_administrator_their_entity_only() {
    let t = server().await;
    let (_, _, admin) = t
        .create_user_with_roles("acme", "ea", &[(Role::EntityAdmin, Some("acme"))])
        .await;
    t.create_user_with_roles("globex", "gina", &[]).await;
    for path in ["/admin/v1/users", "/admin/v1/keys", "/admin/v1/audit"] {
        let (status, listing) = call(&t, "GET", path, &admin, None).await;
        assert_eq!(status, 200, "{path}: {listing}");
        let rows = listing["data"].as_array().unwrap();
        assert!(!rows.is_empty(), "{path}: {listing}");
        let acme = t.entity("acme").await.id;
        for row in rows {
            assert_eq!(row["entity_id"], acme.to_string(), "{path}: {row}");
        }
    }
    let (_, everything) = call(&t, "GET", "/admin/v1/users", ADMIN_KEY, None).await;
    assert!(
        everything["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user_name"] == "gina"),
        "{everything}"
    );
}

/// A configuration with the embedded simulator and the policies of `policies.cedar` beside it.
fn configured(dir: &std::path::Path, policies: &str) -> std::path::PathBuf {
    let path = dir.join("policies.cedar");
    std::fs::write(&path, policies).unwrap();
    let config = dir.join("fabrique.toml");
    std::fs::write(
        &config,
        format!(
            "[simulator]\nembedded = true\n\n[authorization]\npolicies = \"{}\"\n",
            path.display()
        ),
    )
    .unwrap();
    config
}

#[tokio::test]
async fn the_operator_s_policy_set_replaces_the_default_one() {
    let dir = tempfile::tempdir().unwrap();
    let policies = format!(
        "{}\n@id(\"no_new_entities\")\nforbid (principal, action == Fabrique::Action::\"entity.create\", resource);\n",
        admin::DEFAULT_POLICIES
    );
    let config = configured(dir.path(), &policies);
    let server = Serve::start(&config, &dir.path().join("data"));
    let http = reqwest::Client::new();
    let post = http
        .post(format!("{}/admin/v1/entities", server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"slug": "initech", "name": "Initech"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 403, "the operator forbade it");
    let list = http
        .get(format!("{}/admin/v1/entities", server.base))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        list.status().as_u16(),
        200,
        "the rest of the default set holds"
    );
}

#[test]
fn an_invalid_policy_set_stops_the_start_with_each_error_located() {
    let dir = tempfile::tempdir().unwrap();
    let config = configured(
        dir.path(),
        "permit (principal, action, resource)\nwhen { principal.clearance == \"secret\" };\n",
    );
    let output = Command::new(env!("CARGO_BIN_EXE_fabrique"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("FABRIQUE_ADMIN_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid authorization policies"),
        "{stderr}"
    );
    assert!(
        stderr.contains("policies.cedar: line 2, column"),
        "{stderr}"
    );
    assert!(stderr.contains("clearance"), "{stderr}");
}
