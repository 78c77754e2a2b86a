//! The chat in a real Chromium: `tests/browser/chat.mjs` (playwright-core, axe-core) against a
//! real server whose identity provider signed the person in, with an echoing model and a slow
//! one. Sign-in, a streamed answer, a model's script and `javascript:` link shown inert, the
//! personal-data notice, stop mid-stream (charged here, from the usage records), a document
//! attached, a search over kept conversations and a reopened answer rated, an assistant (a
//! deployed use case) asked with its variable, sign-out, accessibility; screenshots under
//! `$CARGO_TARGET_DIR/ci/screenshots`.
//!
//! It needs a browser and Node modules, which `cargo test` alone does not have: `.ci/run`
//! installs them and sets `FABRIQUE_BROWSER_MODULES` (a `node_modules` with playwright-core and
//! axe-core) and `CHROMIUM`. Without them the test says so and passes.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::*;
use crate::oidc::{browser_session, start_on};
use crate::web::{assert_stopped_and_charged, deploy_letters, echoing};

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

#[tokio::test]
async fn the_chat_works_in_a_real_browser() {
    let (Ok(modules), Ok(chromium)) = (
        std::env::var("FABRIQUE_BROWSER_MODULES"),
        std::env::var("CHROMIUM"),
    ) else {
        eprintln!(
            "skipped: the browser test runs under .ci/run, which installs Chromium and sets \
             FABRIQUE_BROWSER_MODULES and CHROMIUM"
        );
        return;
    };
    let slow = sim::SimConfig {
        tokens_per_second: 2.0,
        max_tokens_default: 1_000,
        ..instant_sim()
    };
    let (issuer, t) = start_on(vec![echoing(), slow], &config(), "").await;
    deploy_letters(&t).await;
    let session = browser_session(&issuer, &t, "ada").await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let mut node = Command::new("node");
    node.arg(root.join("tests/browser/chat.mjs"))
        .env("FABRIQUE_URL", t.url(""))
        .env("FABRIQUE_SESSION", &session)
        .env("FABRIQUE_BROWSER_MODULES", modules)
        .env("CHROMIUM", chromium)
        .env("SCREENSHOTS", target.join("ci/screenshots"));
    let status = tokio::task::spawn_blocking(move || node.status())
        .await
        .unwrap()
        .expect("node runs");
    assert!(status.success(), "the browser checks failed: {status}");

    let records = t.finish().await;
    assert_stopped_and_charged(records.iter().find(|r| r.model == "mistral-slow"));
}
