//! Keys on the request path: revocation takes effect on the very next request.

use crate::harness::*;

fn config() -> String {
    two_endpoints(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a", "gpu-b"]
"#,
    )
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    assert_eq!(t.chat("mistral-small").await.0, 200);
    let response = t
        .http
        .delete(t.url(&format!("/admin/v1/keys/{}", t.key_id)))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn keys_survive_a_restart_and_the_bootstrap_key_is_not_duplicated() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let key = t.key.clone();
    let data_dir = t.server.gateway.config.server.data_dir.clone();
    let mut config = (*t.server.gateway.config).clone();
    let sims = t.sims;
    t.server.shutdown().await;

    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.data_dir = data_dir;
    let server = fabrique::start(config, Some(ADMIN_KEY.to_owned()))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .bearer_auth(&key)
        .json(&chat_body("mistral-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let keys: serde_json::Value = http
        .get(format!("{}/admin/v1/keys", server.base_url()))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        keys["data"].as_array().unwrap().len(),
        2,
        "the user's key and one bootstrap key: {keys}"
    );
    server.shutdown().await;
    drop(sims);
}
