//! The console's pages over real HTTP, a browser played by reqwest: signed in through a one-time
//! link, the page's token taken from its form. The overview and the policies page audit each of
//! their reads, a page's together.
//! The policies page shows an entity administrator
//! her entity's policy in force, runs a dry run posted with the token (refused without it), and
//! answers another entity's policy as unknown. The pools page shows a group administrator each
//! endpoint's health as the gateway sees it. The stored-content page lets an entity's auditor
//! read a user's exchanges through a posted form, the read audited in her name, and refuses
//! anyone else.

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::json;

use crate::harness::*;

const POLICIES: &str = r#"
[[entities]]
slug = "acme"
name = "Acme"

[entities.policy]
blocked_terms = ["Projet Orion"]

[entities.policy.actions]
IBAN = "pseudonymize"
NIR = "block"

[[entities]]
slug = "globex"
name = "Globex"
"#;

/// A browser that follows no redirect and keeps no cookie of its own.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` pairs a response sets.
fn cookies_set(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect()
}

/// The value of the page's first `csrf` field.
fn token_of(page: &str) -> String {
    let start = page
        .find(r#"name="csrf" value=""#)
        .expect("a form with a token")
        + 19;
    page[start..].split('"').next().unwrap().to_owned()
}

/// A person signed in through a one-time link: their cookies (session and browser).
async fn signed_in(t: &TestServer, user: &str) -> String {
    let (status, link) = t
        .admin_post(&format!("/admin/v1/users/{user}/login-link"), json!({}))
        .await;
    assert_eq!(status, 201, "{link}");
    let opened = browser()
        .get(t.url(link["path"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let mut cookies = cookies_set(&opened);
    let page = browser()
        .get(t.url("/console"))
        .header(COOKIE, cookies.join("; "))
        .send()
        .await
        .unwrap();
    cookies.extend(cookies_set(&page));
    cookies.join("; ")
}

async fn get(t: &TestServer, cookies: &str, path: &str) -> (u16, String) {
    let response = browser()
        .get(t.url(path))
        .header(COOKIE, cookies)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn dry_run(t: &TestServer, cookies: &str, form: &[(&str, &str)]) -> (u16, String) {
    post(t, cookies, "/console/policies/dry-run", form).await
}

async fn post(t: &TestServer, cookies: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let response = browser()
        .post(t.url(path))
        .header(COOKIE, cookies)
        .header("origin", t.url(""))
        .header("accept-language", "en")
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_policies_page_shows_the_policy_in_force_and_runs_a_dry_run() {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint(POLICIES)).await;
    t.create_user_with_roles("acme", "eve", &[]).await;
    let role = json!({"user": "eve", "role": "entity_admin", "entity": "acme"});
    let (status, body) = t.admin_post("/admin/v1/role-grants", role).await;
    assert_eq!(status, 201, "{body}");
    let cookies = signed_in(&t, "eve").await;

    let (status, page) = get(&t, &cookies, "/console/policies").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(r#"href="/console/policies" aria-current="page""#),
        "{page}"
    );
    assert!(
        page.contains("the entity&#39;s policy") || page.contains("the entity's policy"),
        "{page}"
    );
    assert!(page.contains("Projet Orion"), "{page}");
    assert!(
        !page.contains("<script>") && !page.contains(" style="),
        "no inline code"
    );
    let token = token_of(&page);

    let sample = "Payez sur FR76 3000 6000 0112 3456 7890 189";
    let form = [
        ("csrf", token.as_str()),
        ("entity", ""),
        ("use_case", ""),
        ("text", sample),
    ];
    let (status, result) = dry_run(&t, &cookies, &form).await;
    assert_eq!(status, 200, "{result}");
    assert!(
        result
            .contains(r#"<mark class="pii pseudonymize">FR76 3000 6000 0112 3456 7890 189</mark>"#),
        "{result}"
    );
    assert!(result.contains("Payez sur [IBAN_1]"), "{result}");
    assert!(result.contains("The request would go through."), "{result}");

    let blocked = [
        ("csrf", token.as_str()),
        ("entity", "acme"),
        ("use_case", ""),
        ("text", "le Projet Orion"),
    ];
    let (_, result) = dry_run(&t, &cookies, &blocked).await;
    assert!(result.contains("The request would be refused:"), "{result}");
    assert!(result.contains("blocked_term"), "{result}");

    // Without the token, nothing runs.
    let forged = [
        ("csrf", "forged"),
        ("entity", ""),
        ("use_case", ""),
        ("text", sample),
    ];
    let (status, _) = dry_run(&t, &cookies, &forged).await;
    assert_eq!(status, 403);
    // Another entity's policy is unknown to her.
    let (status, page) = get(&t, &cookies, "/console/policies?entity=globex").await;
    assert_eq!(status, 404, "{page}");
    t.finish().await;
}

/// The overview reads usage by entity, the month's chargeback, and latency with errors by model
/// through the admin API, the policies page the policy in force: each read is audited as the API
/// audits it (her name, her entity, its action), handed to the audit channel with the page's
/// others, so a page's events follow one another in the chain.
#[tokio::test]
async fn the_console_pages_audit_each_of_their_reads_together() {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint(POLICIES)).await;
    let (eve, _, _) = t.create_user_with_roles("acme", "eve", &[]).await;
    let role = json!({"user": "eve", "role": "entity_admin", "entity": "acme"});
    let (status, body) = t.admin_post("/admin/v1/role-grants", role).await;
    assert_eq!(status, 201, "{body}");
    let acme = t.entity("acme").await.id;
    // Signing in opens the overview once.
    let cookies = signed_in(&t, "eve").await;
    for path in ["/console", "/console/policies"] {
        let (status, page) = get(&t, &cookies, path).await;
        assert_eq!(status, 200, "{page}");
    }
    // The channel's writer appends them off the pages' path; stopping the server flushes it.
    let store = t.server.store.clone();
    t.finish().await;
    let events = store.list_audit(1000).await.unwrap();
    // A refusal (her role may not reach a part) is audited on its own, as `denied`; signing in
    // is audited too.
    use domain::AuditAction::{ChargebackRead, PolicyRead, UsageRead};
    let read: Vec<_> = events
        .into_iter()
        .rev()
        .filter(|(_, e)| e.actor == eve && e.outcome == domain::Outcome::Success)
        .filter(|(_, e)| matches!(e.action, UsageRead | ChargebackRead | PolicyRead))
        .collect();
    let actions: Vec<_> = read.iter().map(|(_, e)| e.action.as_str()).collect();
    let overview = ["usage.read", "chargeback.read", "usage.read"];
    assert_eq!(
        actions,
        [&overview[..], &overview[..], &["policy.read"]].concat(),
        "twice the overview's usage by entity, chargeback, latency and errors by model (one \
         read), then the policy in force"
    );
    for (_, event) in &read {
        assert_eq!(event.entity_id, Some(acme), "{event:?}");
    }
    for view in read[..6].chunks(3) {
        let numbers: Vec<u64> = view.iter().map(|(seq, _)| *seq).collect();
        let first = numbers[0];
        assert_eq!(
            numbers,
            (first..first + 3).collect::<Vec<_>>(),
            "one after another"
        );
    }
}

#[tokio::test]
async fn the_pools_page_shows_each_endpoints_health_to_a_group_administrator() {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint(POLICIES)).await;
    t.create_user_with_roles("acme", "gaston", &[]).await;
    let role = json!({"user": "gaston", "role": "group_admin"});
    let (status, body) = t.admin_post("/admin/v1/role-grants", role).await;
    assert_eq!(status, 201, "{body}");
    let cookies = signed_in(&t, "gaston").await;
    let (status, page) = get(&t, &cookies, "/console/pools").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(r#"<table class="endpoints" aria-label="Endpoints — default">"#),
        "{page}"
    );
    assert!(
        page.contains(
            r#"<th scope="row">gpu</th><td><span class="circuit closed">available</span></td>"#
        ),
        "{page}"
    );
    t.finish().await;
}

#[tokio::test]
async fn an_auditor_reads_a_users_content_through_an_audited_form() {
    const ASKED: &str = "Le code du coffre de la salle Vauban est 4242";
    // Acme keeps its content (`full`), as in the retention tests.
    let config = crate::retention::config();
    let t = TestServer::start(vec![crate::retention::echo_sim()], &config).await;
    let chat = json!({"model": "mistral-small", "messages": [{"role": "user", "content": ASKED}]});
    let (status, _, answer) = t.post("/v1/chat/completions", &chat).await;
    assert_eq!(status, 200, "{answer}");
    // A restart writes the queued content, with no waiting on a timer.
    let t = t.restart().await;
    let (audrey, _, _) = t.create_user_with_roles("acme", "audrey", &[]).await;
    let role = json!({"user": "audrey", "role": "auditor", "entity": "acme"});
    let (status, body) = t.admin_post("/admin/v1/role-grants", role).await;
    assert_eq!(status, 201, "{body}");
    t.create_user_with_roles("acme", "bruno", &[]).await;
    let cookies = signed_in(&t, "audrey").await;

    let (status, page) = get(&t, &cookies, "/console/content").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("every read is written to the audit trail"),
        "{page}"
    );
    assert!(!page.contains(ASKED), "nothing is read by opening the page");
    let zone = reports::Zone::new("UTC").unwrap();
    let now = domain::now_millis();
    let (from, to) = (zone.format(now - 86_400_000), zone.format(now + 86_400_000));
    let token = token_of(&page);
    let form = |csrf: &'static str| {
        [
            ("user", "ada"),
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("csrf", csrf),
        ]
    };
    let (status, _) = post(&t, &cookies, "/console/content", &form("forged")).await;
    assert_eq!(status, 403, "a forged read reads nothing");
    let token: &'static str = token.leak();
    let (status, read) = post(&t, &cookies, "/console/content", &form(token)).await;
    assert_eq!(status, 200, "{read}");
    assert!(read.contains(&format!("user: {ASKED}")), "{read}");
    let events = t.server.store.list_audit(1000).await.unwrap();
    let reads: Vec<_> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e.action == domain::AuditAction::ContentRead)
        .collect();
    assert_eq!(reads.len(), 1, "one read, one event");
    assert_eq!(reads[0].actor, audrey, "in her name");
    // Without the auditor's role, the form reads nothing.
    let cookies = signed_in(&t, "bruno").await;
    let (_, page) = get(&t, &cookies, "/console/content").await;
    let token: &'static str = token_of(&page).leak();
    let (status, refused) = post(&t, &cookies, "/console/content", &form(token)).await;
    assert_eq!(status, 403, "{refused}");
    assert!(!refused.contains(ASKED));
    t.finish().await;
}
