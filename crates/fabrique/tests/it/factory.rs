//! The AI Factory end to end, on SQLite and PostgreSQL: a use case drafted by a factory engineer,
//! evaluated through the real gateway against a scripted simulator (a failing and a passing
//! suite), refused promotion on the failing run and until its impact assessment is completed and
//! documented, approved twice (high risk: the entity's risk officer, then the group's), deployed,
//! invoked as `usecase/<slug>`, split 90/10 with a second version, its canary rolled back on
//! negative feedback, another entity's caller refused, and every transition in the audit trail.

use std::time::Duration;

use domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Database, TestServer, call, instant_sim, on_both_databases};

mod console;
mod documents;
mod group;
mod invocation;

const SLUG: &str = "invoice-reader";

/// The simulator answers `answer` to a request whose prompt holds `when`.
fn line(when: &str, answer: &str) -> sim::ScriptLine {
    sim::ScriptLine {
        when: when.into(),
        answer: answer.into(),
    }
}

fn scripted_sim() -> sim::SimConfig {
    sim::SimConfig {
        script: vec![
            // The judge's question quotes the case's, so its line comes first.
            line(
                "Rubric:",
                r#"{"score": 0.9, "reason": "the amount is right"}"#,
            ),
            line("invoice 17", r#"{"amount": 17.5, "currency": "EUR"}"#),
            line("invoice 42", r#"{"amount": 42, "currency": "EUR"}"#),
        ],
        ..instant_sim()
    }
}

fn config() -> String {
    crate::harness::one_endpoint(
        r#"
[[entities]]
slug = "acme"
name = "Acme"

[[entities]]
slug = "globex"
name = "Globex"
"#,
    )
}

/// The people of the factory: an engineer and a risk officer of acme, a group risk officer.
struct People {
    engineer: String,
    officer: String,
    group_officer: String,
}

async fn people(t: &TestServer) -> People {
    let (_, engineer) = t
        .create_role_key("acme", "eve", Role::FactoryEngineer, true)
        .await;
    let (_, officer) = t
        .create_role_key("acme", "otto", Role::RiskOfficer, true)
        .await;
    let (_, group_officer) = t
        .create_role_key("acme", "grace", Role::RiskOfficer, false)
        .await;
    People {
        engineer,
        officer,
        group_officer,
    }
}

fn version(template: &str) -> Value {
    json!({
        "template": template,
        "model": "mistral-small",
        "parameters": {"temperature": 0},
        "output_schema": {
            "type": "object",
            "required": ["amount", "currency"],
            "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}}
        }
    })
}

const GOOD_SUITE: &str = r#"{"id": "a", "variables": {"client": "Ada"}, "messages": [{"role": "user", "content": "invoice 17"}], "expect": [{"grader": "fields", "value": {"amount": 17.5, "currency": "EUR"}}, {"grader": "judge", "rubric": "The amount must be exact.", "threshold": 0.8, "model": "mistral-small"}]}
{"id": "b", "variables": {"client": "Bob"}, "messages": [{"role": "user", "content": "invoice 42"}], "expect": [{"grader": "numeric", "field": "amount", "value": 42, "tolerance": 0.01}, {"grader": "contains", "value": "EUR"}]}
"#;

const BAD_SUITE: &str = r#"{"id": "a", "variables": {"client": "Ada"}, "messages": [{"role": "user", "content": "invoice 17"}], "expect": [{"grader": "numeric", "field": "amount", "value": 99}]}
"#;

async fn put_suite(t: &TestServer, slug: &str, key: &str, name: &str, text: &str) {
    let response = t
        .http
        .put(t.url(&format!("/admin/v1/use-cases/{slug}/suites/{name}")))
        .bearer_auth(key)
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        201,
        "{:?}",
        response.text().await
    );
}

/// Runs `suite` on `version` and waits (bounded, on the run's state) for its report.
async fn evaluate(t: &TestServer, slug: &str, key: &str, version: u32, suite: &str) -> Value {
    let (status, run) = call(
        t,
        Method::POST,
        &format!("/admin/v1/use-cases/{slug}/evaluations"),
        key,
        Some(json!({"version": version, "suite": suite})),
    )
    .await;
    assert_eq!(status, 202, "{run}");
    let path = format!("/admin/v1/evaluations/{}", run["id"].as_str().unwrap());
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (_, report) = call(t, Method::GET, &path, key, None).await;
            if report["status"] != "running" {
                return report;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the run finishes")
}

async fn transition(
    t: &TestServer,
    slug: &str,
    key: &str,
    version: u32,
    body: Value,
) -> (u16, Value) {
    call(
        t,
        Method::POST,
        &format!("/admin/v1/use-cases/{slug}/versions/{version}/transitions"),
        key,
        Some(body),
    )
    .await
}

/// Approves `version` on `run`: the entity's officer, then (high risk) the group's.
async fn approve(t: &TestServer, p: &People, version: u32, run: &str) {
    let (status, first) = transition(
        t,
        SLUG,
        &p.officer,
        version,
        json!({"transition": "approve", "reason": "suite passes", "eval_run": run}),
    )
    .await;
    assert_eq!(
        (status, first["state"].as_str()),
        (200, Some("in_review")),
        "{first}"
    );
    let (status, second) = transition(
        t,
        SLUG,
        &p.group_officer,
        version,
        json!({"transition": "approve", "reason": "group review", "eval_run": run}),
    )
    .await;
    assert_eq!(
        (status, second["state"].as_str()),
        (200, Some("approved")),
        "{second}"
    );
}

/// A chat call of the use case with `key`: status, the version that answered, the body.
async fn invoke(t: &TestServer, key: &str, text: &str) -> (u16, Option<u32>, Value) {
    let body = json!({
        "model": format!("usecase/{SLUG}"),
        "fabrique": {"variables": {"client": "Ada"}},
        "messages": [{"role": "user", "content": text}],
    });
    let response = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let version = response
        .headers()
        .get("x-fabrique-use-case-version")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut body: Value = response.json().await.unwrap_or(Value::Null);
    body["request_id"] = json!(request_id);
    (status, version, body)
}

async fn use_case_from_draft_to_rollback(database: Database) {
    let Some(t) = TestServer::start_on(database, vec![scripted_sim()], &config()).await else {
        return;
    };
    let p = people(&t).await;

    // Drafted by the engineer; a risk officer may not create one.
    let definition = json!({
        "slug": SLUG, "name": "Invoice reader", "purpose": "Reads supplier invoices for accounts payable.",
        "owner_entity": "acme", "owners": ["eve"], "allowed_entities": ["acme"], "risk_class": "high",
        "thresholds": {"pass_rate": 1.0, "min_scores": {"judge": 0.8}},
        "canary": {"max_error_rate": 0.5, "max_negative_feedback_rate": 0.3, "min_samples": 3}
    });
    let (status, _) = call(
        &t,
        Method::POST,
        "/admin/v1/use-cases",
        &p.officer,
        Some(definition.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (status, created) = call(
        &t,
        Method::POST,
        "/admin/v1/use-cases",
        &p.engineer,
        Some(definition),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "draft");
    let (status, v1) = call(
        &t,
        Method::POST,
        &format!("/admin/v1/use-cases/{SLUG}/versions"),
        &p.engineer,
        Some(version("Extract the invoice for {{client}}.")),
    )
    .await;
    assert_eq!((status, v1["number"].as_u64()), (201, Some(1)), "{v1}");
    put_suite(&t, SLUG, &p.engineer, "good", GOOD_SUITE).await;
    put_suite(&t, SLUG, &p.engineer, "bad", BAD_SUITE).await;

    // Submitted: its content is frozen.
    let (status, _) = transition(
        &t,
        SLUG,
        &p.engineer,
        1,
        json!({"transition": "submit", "reason": ""}),
    )
    .await;
    assert_eq!(status, 400, "a transition needs a reason");
    let (status, _) = transition(
        &t,
        SLUG,
        &p.engineer,
        1,
        json!({"transition": "submit", "reason": "ready for review"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &t,
        Method::PUT,
        &format!("/admin/v1/use-cases/{SLUG}/versions/1"),
        &p.engineer,
        Some(version("changed")),
    )
    .await;
    assert_eq!(status, 409);

    // Evaluated: the failing suite refuses promotion, the passing one allows it.
    let failing = evaluate(&t, SLUG, &p.engineer, 1, "bad").await;
    assert_eq!(failing["status"], "finished", "{failing}");
    assert_eq!(failing["gate"]["passed"], false, "{failing}");
    let (status, refused) = transition(
        &t,
        SLUG,
        &p.officer,
        1,
        json!({"transition": "approve", "reason": "looks fine", "eval_run": failing["id"]}),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pass rate"),
        "{refused}"
    );
    let passing = evaluate(&t, SLUG, &p.engineer, 1, "good").await;
    assert_eq!(passing["summary"]["pass_rate"], 1.0, "{passing}");
    assert_eq!(passing["gate"]["passed"], true, "{passing}");
    let (_, results) = call(
        &t,
        Method::GET,
        &format!(
            "/admin/v1/evaluations/{}/results",
            passing["id"].as_str().unwrap()
        ),
        &p.engineer,
        None,
    )
    .await;
    assert_eq!(
        results["data"][0]["grades"].as_array().unwrap().len(),
        2,
        "{results}"
    );
    let (status, _) = transition(
        &t,
        SLUG,
        &p.engineer,
        1,
        json!({"transition": "approve", "reason": "mine", "eval_run": passing["id"]}),
    )
    .await;
    assert_eq!(status, 403, "an engineer does not approve");
    // High risk: approved only on a completed impact assessment with a document attached.
    let approval = json!({"transition": "approve", "reason": "ok", "eval_run": passing["id"]});
    let (status, refused) = transition(&t, SLUG, &p.officer, 1, approval.clone()).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("impact assessment is `completed`"),
        "{refused}"
    );
    let path = format!("/admin/v1/use-cases/{SLUG}");
    let completed = Some(json!({"impact_assessment": "completed"}));
    let (status, _) = call(&t, Method::PATCH, &path, &p.engineer, completed).await;
    assert_eq!(status, 200);
    let (status, refused) = transition(&t, SLUG, &p.officer, 1, approval).await;
    assert!(
        status == 409 && refused.to_string().contains("0 document"),
        "{refused}"
    );
    let response = t
        .http
        .post(t.url(&format!("{path}/documents?filename=dpia.pdf")))
        .bearer_auth(&p.engineer)
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.7 impact assessment".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    approve(&t, &p, 1, passing["id"].as_str().unwrap()).await;

    // Not deployed yet: callers get 404, as for a model that does not exist.
    let (status, ..) = invoke(&t, &t.key, "invoice 17").await;
    assert_eq!(status, 404);
    let (status, deployed) = transition(
        &t,
        SLUG,
        &p.engineer,
        1,
        json!({"transition": "deploy", "reason": "go live", "weight": 90}),
    )
    .await;
    assert_eq!(
        (status, deployed["state"].as_str()),
        (200, Some("deployed")),
        "{deployed}"
    );

    // Invoked by a caller of acme; another entity's caller is refused.
    let (status, answered_by, body) = invoke(&t, &t.key, "invoice 17").await;
    assert_eq!((status, answered_by), (200, Some(1)), "{body}");
    let content: Value =
        serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["amount"], 17.5);
    let (_, globex) = t.create_user_key("globex", "gus").await;
    let (status, ..) = invoke(&t, &globex, "invoice 17").await;
    assert_eq!(status, 404);
    let labelled = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(&globex)
        .header("x-fabrique-use-case", SLUG)
        .json(&crate::harness::chat_body("mistral-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        labelled.status().as_u16(),
        403,
        "nor may it charge its usage to the use case"
    );

    // A second version, approved the same way, deployed as a 10 % canary.
    let (_, v2) = call(
        &t,
        Method::POST,
        &format!("/admin/v1/use-cases/{SLUG}/versions"),
        &p.engineer,
        Some(version("Extract the invoice of {{client}}, carefully.")),
    )
    .await;
    assert_eq!(v2["number"], 2);
    let (_, diff) = call(
        &t,
        Method::GET,
        &format!("/admin/v1/use-cases/{SLUG}/versions/2/diff"),
        &p.engineer,
        None,
    )
    .await;
    assert!(
        diff["diff"]["template"]
            .as_str()
            .unwrap()
            .contains("+Extract the invoice of"),
        "{diff}"
    );
    transition(
        &t,
        SLUG,
        &p.engineer,
        2,
        json!({"transition": "submit", "reason": "wording"}),
    )
    .await;
    let passing = evaluate(&t, SLUG, &p.engineer, 2, "good").await;
    assert_eq!(passing["regressions"]["cases"], json!([]), "{passing}");
    approve(&t, &p, 2, passing["id"].as_str().unwrap()).await;
    // The use case lists each version's approvals, oldest first.
    let path = format!("/admin/v1/use-cases/{SLUG}");
    let (_, use_case) = call(&t, Method::GET, &path, &p.engineer, None).await;
    let approvals = use_case["approvals"].as_object().unwrap();
    assert_eq!(
        approvals.keys().collect::<Vec<_>>(),
        ["1", "2"],
        "{use_case}"
    );
    for given in approvals.values() {
        let reasons: Vec<_> = given
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["reason"])
            .collect();
        assert_eq!(reasons, ["suite passes", "group review"], "{given}");
    }
    let (status, _) = transition(
        &t,
        SLUG,
        &p.engineer,
        2,
        json!({"transition": "deploy", "reason": "canary", "weight": 10}),
    )
    .await;
    assert_eq!(status, 200);

    // Split 90/10, sticky per caller: 100 application keys, each twice.
    let mut served = [0_u32; 3];
    let mut canary_key = None;
    for i in 0..100 {
        let (status, key) = t
            .admin_post(
                "/admin/v1/keys",
                json!({"entity": "acme", "service_account": "erp", "name": format!("k{i}")}),
            )
            .await;
        assert_eq!(status, 201);
        let key = key["key"].as_str().unwrap().to_owned();
        let (_, first, _) = invoke(&t, &key, "invoice 42").await;
        let (_, again, _) = invoke(&t, &key, "invoice 42").await;
        assert_eq!(first, again, "sticky");
        let first = first.unwrap();
        served[first as usize] += 1;
        if first == 2 {
            canary_key = Some(key);
        }
    }
    assert!(served[1] > served[2] && served[2] > 0, "{served:?}");

    // The canary's callers dislike its answers: it is rolled back, audited, and they get v1.
    let canary_key = canary_key.unwrap();
    for _ in 0..3 {
        let (_, version, body) = invoke(&t, &canary_key, "invoice 42").await;
        assert_eq!(version, Some(2));
        let (status, _, _) = t.post_with_key("/v1/feedback", &json!({"request_id": body["request_id"], "rating": "down", "comment": "wrong supplier"}), &canary_key).await;
        assert_eq!(status, 202);
    }
    // The check runs every 15 s in the background too; asked now, it sees the feedback once the
    // writers have stored it. Either way version 2 ends up out of service.
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let check = format!("/admin/v1/use-cases/{SLUG}/rollout/check");
            call(&t, Method::POST, &check, &p.engineer, None).await;
            let path = format!("/admin/v1/use-cases/{SLUG}");
            let (_, use_case) = call(&t, Method::GET, &path, &p.engineer, None).await;
            if use_case["versions"][1]["state"] == "approved" {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the canary is rolled back");
    let (_, version, _) = invoke(&t, &canary_key, "invoice 42").await;
    assert_eq!(version, Some(1));
    let (_, stats) = call(
        &t,
        Method::GET,
        &format!("/admin/v1/use-cases/{SLUG}/stats"),
        &p.engineer,
        None,
    )
    .await;
    assert_eq!(stats["data"][1]["thumbs_down"], 3, "{stats}");

    // The AI Act register, as CSV.
    let csv = t
        .http
        .get(t.url("/admin/v1/use-cases/export?format=csv"))
        .bearer_auth(&p.group_officer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("slug,name,purpose"), "{csv}");
    assert!(csv.contains("invoice-reader,Invoice reader"), "{csv}");
    assert!(
        csv.contains("impact_assessment,documents,status") && csv.contains(",completed,dpia.pdf,"),
        "{csv}"
    );

    // Every transition is in the audit trail, with its reason.
    let (records, events) = t.finish_with_audit().await;
    assert!(
        records
            .iter()
            .any(|r| r.use_case.as_deref() == Some(SLUG) && r.use_case_version == Some(2))
    );
    let named = |action: &str, outcome: domain::Outcome| {
        events
            .iter()
            .filter(|e| e.action.as_str() == action && e.outcome == outcome)
            .count()
    };
    let done = |action: &str| named(action, domain::Outcome::Success);
    assert_eq!(done("use_case.create"), 1);
    assert_eq!(
        named("use_case.create", domain::Outcome::Denied),
        1,
        "the risk officer's"
    );
    assert_eq!(
        named("use_case.approve", domain::Outcome::Denied),
        1,
        "the engineer's"
    );
    assert_eq!(done("use_case.version.create"), 2);
    assert_eq!(done("use_case.submit"), 2);
    assert_eq!(done("use_case.approve"), 4);
    assert_eq!(done("use_case.deploy"), 2);
    assert_eq!(done("eval.run"), 3);
    let rollback = events
        .iter()
        .find(|e| e.action.as_str() == "use_case.rollback")
        .unwrap();
    assert_eq!(rollback.actor, "system");
    assert_eq!(rollback.target, format!("{SLUG}@2"));
    assert!(
        rollback.detail.contains("negative feedback"),
        "{}",
        rollback.detail
    );
    let elsewhere: Vec<_> = events
        .iter()
        .filter(|e| {
            e.action.as_str().starts_with("use_case.") && e.outcome == domain::Outcome::Success
        })
        .filter(|e| !(e.target.starts_with(SLUG) || e.target == "register"))
        .collect();
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    // Each transition carries its reason.
    assert!(
        events
            .iter()
            .filter(|e| e.action.as_str() == "use_case.submit")
            .all(|e| e.detail.contains("\"reason\"")),
        "{events:?}"
    );
}

on_both_databases!(use_case_from_draft_to_rollback);

/// A use case's owners are users of its owning entity, through the API and the CLI alike: a name
/// the directory does not know, or a user of another entity, is a 400 naming the owner.
#[tokio::test]
async fn owners_are_users_of_the_owning_entity() {
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let p = people(&t).await;
    t.create_user_key("globex", "gina").await;
    let definition = |owners: Value| {
        json!({
            "slug": SLUG, "name": "Invoice reader", "purpose": "Reads supplier invoices.",
            "owner_entity": "acme", "owners": owners, "risk_class": "minimal",
        })
    };
    let path = "/admin/v1/use-cases";
    for (owner, why) in [("nobody", "unknown"), ("gina", "of another entity")] {
        let body = Some(definition(json!(["eve", owner])));
        let (status, refused) = call(&t, Method::POST, path, &p.engineer, body).await;
        assert_eq!(status, 400, "{why}: {refused}");
        assert_eq!(
            refused["error"]["message"],
            format!("owner `{owner}` is not a user of entity `acme`"),
            "{why}"
        );
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), definition(json!(["ghost"])).to_string()).unwrap();
    let (url, key) = (t.url(""), p.engineer.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_fabrique"))
            .args(["usecase", "--url", &url, "--key", &key, "create"])
            .arg(file.path())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("owner `ghost` is not a user of entity `acme`"),
        "{stderr}"
    );

    let body = Some(definition(json!(["eve", "otto"])));
    let (status, created) = call(&t, Method::POST, path, &p.engineer, body).await;
    assert_eq!(status, 201, "{created}");
    let (status, refused) = call(
        &t,
        Method::PATCH,
        &format!("{path}/{SLUG}"),
        &p.engineer,
        Some(json!({"owners": ["gina"]})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    t.finish().await;
}
