//! The chat in a real Chromium: `tests/browser/chat.mjs` (playwright-core, axe-core) against a
//! real server whose identity provider signed the person in, with an echoing model and a slow
//! one. Sign-in, a streamed answer, a model's script and `javascript:` link shown inert, the
//! personal-data notice, stop mid-stream (charged here, from the usage records), a document
//! attached, a search over kept conversations and a reopened answer rated, an assistant (a
//! deployed use case) asked with its variable, a library asked and its sources shown, sign-out,
//! accessibility; screenshots under
//! `$CARGO_TARGET_DIR/ci/screenshots`.
//!
//! It needs a browser and Node modules, which `cargo test` alone does not have: `.ci/run`
//! installs them and sets `FABRIQUE_BROWSER_MODULES` (a `node_modules` with playwright-core and
//! axe-core) and `CHROMIUM`. Without them the test says so and passes.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::*;
use crate::oidc::{browser_session, start_on};
use crate::web::{assert_stopped_and_charged, deploy_letters, echoing, hr_library};

/// An echoing model for answers the test controls, a slow one to stop; IBANs pseudonymized;
/// conversations kept, so they can be searched.
fn config() -> String {
    two_endpoints(&format!(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a"]

[[models]]
name = "mistral-slow"
kind = "chat"
endpoints = ["gpu-b"]

[policy.actions]
IBAN = "pseudonymize"

[retention]
master_key_env = "{MASTER_KEY_ENV}"
mode = "full"
days = 30
"#
    ))
}

/// Whether `.ci/run` gave this run a browser and the Node modules; says so when not.
fn browser_present() -> bool {
    let present = std::env::var_os("FABRIQUE_BROWSER_MODULES").is_some()
        && std::env::var_os("CHROMIUM").is_some();
    if !present {
        eprintln!(
            "skipped: the browser test runs under .ci/run, which installs Chromium and sets \
             FABRIQUE_BROWSER_MODULES and CHROMIUM"
        );
    }
    present
}

/// Runs `tests/browser/<script>` in Node with `env`, the browser's and the screenshots'; fails
/// the test when a check of the script fails.
async fn run_script(script: &str, env: &[(&str, String)]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let mut node = Command::new("node");
    node.arg(root.join("tests/browser").join(script))
        .envs(env.iter().map(|(name, value)| (*name, value)))
        .env("SCREENSHOTS", target.join("ci/screenshots"));
    let status = tokio::task::spawn_blocking(move || node.status())
        .await
        .unwrap()
        .expect("node runs");
    assert!(
        status.success(),
        "the browser checks of {script} failed: {status}"
    );
}

#[tokio::test]
async fn the_chat_works_in_a_real_browser() {
    if !browser_present() {
        return;
    }
    let slow = sim::SimConfig {
        tokens_per_second: 2.0,
        max_tokens_default: 1_000,
        ..instant_sim()
    };
    let (issuer, t) = start_on(vec![echoing(), slow], &config(), "").await;
    deploy_letters(&t).await;
    hr_library(&t).await;
    let session = browser_session(&issuer, &t, "ada").await;
    run_script(
        "chat.mjs",
        &[("FABRIQUE_URL", t.url("")), ("FABRIQUE_SESSION", session)],
    )
    .await;

    let records = t.finish().await;
    assert_stopped_and_charged(records.iter().find(|r| r.model == "mistral-slow"));
}

/// `gaston`, a group administrator, and his one-time sign-in link; `acme` given a share of the
/// GPU pool, so the pools page has a row whose weight he can change.
async fn group_administrator_with_a_pool_share(t: &TestServer) -> String {
    t.create_user_with_roles("acme", "gaston", &[]).await;
    let role = serde_json::json!({"user": "gaston", "role": "group_admin"});
    let (status, body) = t.admin_post("/admin/v1/role-grants", role).await;
    assert_eq!(status, 201, "{body}");
    let pools: serde_json::Value = t
        .http
        .get(t.url("/admin/v1/pools"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pool = pools["data"][0]["pool"].as_str().expect("a scheduled pool");
    let share = t
        .http
        .put(t.url(&format!("/admin/v1/pools/{pool}/shares/acme")))
        .bearer_auth(ADMIN_KEY)
        .json(&serde_json::json!({"weight": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(share.status(), 200);
    let (status, link) = t
        .admin_post("/admin/v1/users/gaston/login-link", serde_json::json!({}))
        .await;
    assert_eq!(status, 201, "{link}");
    t.url(link["path"].as_str().unwrap())
}

/// A high-risk use case of `acme`, owned by `eve`, with two draft versions to compare.
async fn use_case_with_two_versions(t: &TestServer) {
    let use_case = serde_json::json!({
        "slug": "invoice-reader", "name": "Lecteur de factures", "purpose": "Lit les factures.",
        "owner_entity": "acme", "owners": ["eve"], "risk_class": "high",
    });
    let (status, body) = t.admin_post("/admin/v1/use-cases", use_case).await;
    assert_eq!(status, 201, "{body}");
    for template in [
        "Extract the invoice for {{client}}.",
        "Read the invoice of {{client}}.",
    ] {
        let version = serde_json::json!({"template": template, "model": "mistral-small"});
        let (status, body) = t
            .admin_post("/admin/v1/use-cases/invoice-reader/versions", version)
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// The administrators' console in a real Chromium: `tests/browser/console.mjs` signs in an
/// entity administrator of `acme` through a one-time link and checks that they see their entity's
/// users and never `globex`'s, creates a key (its secret shown once) and revokes it, sees the
/// usage chart drawn, her entity's data policy tried on sample text, and neither the GPU pools
/// in her navigation nor their page; a group administrator changes an entity's weight and
/// verifies the audit chain, compares two versions of a use case and submits one for review from
/// its page; every page passes
/// axe-core; screenshots of each page under
/// `$CARGO_TARGET_DIR/ci/screenshots/console-*.png`.
#[tokio::test]
async fn the_console_works_in_a_real_browser() {
    if !browser_present() {
        return;
    }
    let policy = "[policy.actions]\nIBAN = \"pseudonymize\"\n";
    let t = TestServer::start(vec![instant_sim()], &one_endpoint(policy)).await;
    let (status, body) = t
        .admin_post(
            "/admin/v1/entities",
            serde_json::json!({"slug": "globex", "name": "Globex"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (admin_id, _, _) = t.create_user_with_roles("acme", "eve", &[]).await;
    // Granted through the API, which puts the role in force for her sessions at once.
    let role = serde_json::json!({"user": "eve", "role": "entity_admin", "entity": "acme"});
    let (status, body) = t.admin_post("/admin/v1/role-grants", role).await;
    assert_eq!(status, 201, "{body}");
    t.create_user_with_roles("acme", "heloise", &[]).await;
    t.create_user_with_roles("globex", "gina", &[]).await;
    // Usage of the last days, so the chart has lines to draw.
    let acme = t.entity("acme").await;
    let now = domain::now_millis();
    let records: Vec<domain::UsageRecord> = (0..6)
        .map(|day| domain::UsageRecord {
            request_id: format!("console-{day}"),
            client_request_id: None,
            started_at: now - day * 86_400_000,
            entity_id: Some(acme.id),
            user_id: admin_id.parse().ok(),
            service_account_id: None,
            key_id: None,
            team_id: None,
            use_case: None,
            use_case_version: None,
            operation: domain::Operation::Chat,
            model: "mistral-small".into(),
            endpoint: Some("gpu-a".into()),
            stream: false,
            prompt_tokens: 100 * (day as u64 + 1),
            completion_tokens: 20,
            cost_micros: 1_000,
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
    t.server.store.insert_usage(&records).await.unwrap();
    let (status, link) = t
        .admin_post("/admin/v1/users/eve/login-link", serde_json::json!({}))
        .await;
    assert_eq!(status, 201, "{link}");

    let link = t.url(link["path"].as_str().unwrap());
    let group_admin_link = group_administrator_with_a_pool_share(&t).await;
    use_case_with_two_versions(&t).await;
    run_script(
        "console.mjs",
        &[
            ("FABRIQUE_URL", t.url("")),
            ("FABRIQUE_LINK", link),
            ("FABRIQUE_GROUP_ADMIN_LINK", group_admin_link),
        ],
    )
    .await;
    t.finish().await;
}
