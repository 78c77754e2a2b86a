//! One-time sign-in links, without an identity provider: an administrator mints one for a user,
//! the user's browser opens it once and is signed in to the web (and the inference API); a link
//! used twice, expired or unknown is refused, and another entity's administrator cannot mint one.

use domain::Role;
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

use crate::harness::*;

async fn server() -> TestServer {
    TestServer::start(
        vec![instant_sim()],
        &one_endpoint("[[entities]]\nslug = \"acme\"\nname = \"Acme\"\n"),
    )
    .await
}

/// Opens `path` as a browser that follows no redirect: status, `Location`, session cookie, body.
async fn open(t: &TestServer, path: &str) -> (u16, Option<String>, Option<String>, String) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = browser.get(t.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (status, location, cookie, response.text().await.unwrap())
}

async fn mint(t: &TestServer, key: &str, user: &str) -> (u16, Value) {
    call(
        t,
        Method::POST,
        &format!("/admin/v1/users/{user}/login-link"),
        key,
        None,
    )
    .await
}

#[tokio::test]
async fn a_link_signs_its_user_in_once() {
    let t = server().await;
    let (status, link) = mint(&t, ADMIN_KEY, "ada").await;
    assert_eq!(status, 201, "{link}");
    let path = link["path"].as_str().unwrap().to_owned();
    assert!(path.starts_with("/auth/link/fabl_"), "{link}");
    assert!(link["url"].as_str().unwrap().ends_with(&path), "{link}");

    let (status, location, cookie, body) = open(&t, &path).await;
    assert_eq!((status, location.as_deref()), (303, Some("/")), "{body}");
    let cookie = cookie.expect("a session cookie");
    let me: Value = t
        .http
        .get(t.url("/auth/me"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user_name"], "ada", "{me}");
    let chat = t
        .http
        .post(t.url("/v1/chat/completions"))
        .header(COOKIE, &cookie)
        .json(&chat_body("mistral-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status().as_u16(), 200);

    // Used twice: refused, and the first session stays the only one.
    let (status, _, cookie, body) = open(&t, &path).await;
    assert_eq!((status, cookie), (410, None), "{body}");
    assert!(body.contains("login_link_used"), "{body}");
    let (_, sessions) = call(&t, Method::GET, "/admin/v1/sessions", ADMIN_KEY, None).await;
    assert_eq!(sessions["data"].as_array().unwrap().len(), 1, "{sessions}");
    assert_eq!(sessions["data"][0]["method"], "link");

    let (status, _, _, body) = open(&t, "/auth/link/fabl_made-up").await;
    assert_eq!(status, 404, "{body}");

    let (_, audit) = call(
        &t,
        Method::GET,
        "/admin/v1/audit?action=auth",
        ADMIN_KEY,
        None,
    )
    .await;
    let actions: Vec<_> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == ("auth.sign_in", "denied"))
            .count(),
        2,
        "{actions:?}"
    );
    assert!(actions.contains(&("auth.sign_in", "success")));
    assert!(actions.contains(&("auth.login_link.create", "success")));
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    let t = server().await;
    let ada = t.server.directory.user("ada").unwrap();
    let token = "fabl_expired";
    let audit = domain::AuditEvent::system(domain::AuditAction::AuthLoginLinkCreate, "{}".into());
    t.server
        .store
        .create_login_link(
            &domain::KeyHash::of(token),
            ada.id,
            ada.entity_id,
            domain::now_millis() - 1,
            &audit,
        )
        .await
        .unwrap();
    let (status, _, cookie, body) = open(&t, &format!("/auth/link/{token}")).await;
    assert_eq!((status, cookie), (410, None), "{body}");
    assert!(body.contains("login_link_expired"), "{body}");
}

#[tokio::test]
async fn only_the_users_own_entity_administrators_mint_links_and_never_above_themselves() {
    let t = server().await;
    let (_, acme_admin) = t
        .create_role_key("acme", "ea", Role::EntityAdmin, true)
        .await;
    let (_, globex_admin) = t
        .create_role_key("globex", "xea", Role::EntityAdmin, true)
        .await;
    let (status, link) = mint(&t, &acme_admin, "ada").await;
    assert_eq!(status, 201, "{link}");
    // Another entity's administrator is told the user does not exist, as for any other object.
    let (status, body) = mint(&t, &globex_admin, "ada").await;
    assert_eq!(status, 404, "{body}");
    // A user key is refused outright.
    let (status, body) = mint(&t, &t.key.clone(), "ada").await;
    assert_eq!(status, 403, "{body}");
    // A group administrator of acme cannot be impersonated by acme's administrator.
    t.create_role_key("acme", "boss", Role::GroupAdmin, false)
        .await;
    let (status, body) = mint(&t, &acme_admin, "boss").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = mint(&t, ADMIN_KEY, "boss").await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn the_cli_mints_a_link() {
    let t = server().await;
    let url = t.url("");
    // The server answers on this test's runtime: the command waits on another thread.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_fabrique"))
            .args(["admin", "--url", &url, "--key", ADMIN_KEY])
            .args(["users", "login-link", "ada"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("/auth/link/fabl_"), "{stdout}");
}

#[tokio::test]
async fn serve_without_an_identity_provider_prints_the_administrators_link() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fabrique.toml");
    std::fs::write(&config, "").unwrap();
    let serve = crate::process::Serve::start(&config, &dir.path().join("data"));
    let link = serve
        .links
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a sign-in link on standard error");
    assert!(
        link.starts_with(&format!("{}/auth/link/fabl_", serve.base)),
        "{link}"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = browser.get(&link).send().await.unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let me: Value = browser
        .get(format!("{}/auth/me", serve.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user_name"], "admin", "{me}");
    assert_eq!(me["roles"][0]["role"], "group_admin", "{me}");
}
