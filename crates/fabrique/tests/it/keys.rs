//! Keys on the request path: revocation and the suspension of the key's entity take effect on the
//! very next request; model scopes, expiry, rotation with a grace period, last use and the key's
//! priority class.

use domain::{ApiKey, KeyId, KeySecret, now_millis};
use serde_json::{Value, json};

use crate::harness::*;

on_both_databases! {
    a_suspended_entitys_keys_stop_at_once_and_work_again_once_it_is_reactivated,
}

fn config() -> String {
    two_endpoints(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a", "gpu-b"]

[[models]]
name = "codestral"
kind = "chat"
endpoints = ["gpu-a", "gpu-b"]
"#,
    )
}

/// A key of the service account `app` of `acme` with the settings of `extra`: (id, secret).
async fn app_key(t: &TestServer, extra: Value) -> (String, String) {
    let mut body = json!({"entity": "acme", "service_account": "app", "name": "pipeline"});
    for (field, value) in extra.as_object().expect("settings") {
        body[field] = value.clone();
    }
    let (status, created) = t.admin_post("/admin/v1/keys", body).await;
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().expect("id").to_owned(),
        created["key"].as_str().expect("secret").to_owned(),
    )
}

async fn chat_with(t: &TestServer, key: &str, model: &str, priority: Option<&str>) -> (u16, Value) {
    let mut request = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat_body(model));
    if let Some(priority) = priority {
        request = request.header("x-fabrique-priority", priority);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The listing entry of key `id`.
async fn listed(t: &TestServer, id: &str) -> Value {
    let keys = t.get_json("/admin/v1/keys", ADMIN_KEY).await;
    keys["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|k| k["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("key {id} listed: {keys}"))
}

async fn rotate(t: &TestServer, id: &str, body: Value) -> (u16, Value) {
    t.admin_post(&format!("/admin/v1/keys/{id}/rotate"), body)
        .await
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

async fn a_suspended_entitys_keys_stop_at_once_and_work_again_once_it_is_reactivated(
    database: Database,
) {
    let Some(t) =
        TestServer::start_on(database, vec![instant_sim(), instant_sim()], &config()).await
    else {
        return;
    };
    let (_, service) = app_key(&t, json!({})).await;
    let keys = [t.key.clone(), service];
    for key in &keys {
        assert_eq!(chat_with(&t, key, "mistral-small", None).await.0, 200);
    }
    let set_status = async |slug: &str, status: &str| t.set_entity_status(slug, status).await;

    let (status, entity) = set_status("acme", "suspended").await;
    assert_eq!(status, 200, "{entity}");
    assert_eq!(entity["status"], "suspended");
    // The user's key and the service account's key both stop on the very next request.
    for key in &keys {
        let (status, body) = chat_with(&t, key, "mistral-small", None).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "invalid_api_key");
    }
    let (status, body) = t
        .admin_post(
            "/admin/v1/keys",
            json!({"entity": "acme", "service_account": "app"}),
        )
        .await;
    assert_eq!(status, 400, "no new key for a suspended entity: {body}");

    let (status, body) = set_status("acme", "asleep").await;
    assert_eq!((status, &body["error"]["param"]), (400, &json!("status")));
    assert_eq!(set_status("nowhere", "suspended").await.0, 404);

    let (status, entity) = set_status("acme", "active").await;
    assert_eq!(status, 200, "{entity}");
    for key in &keys {
        assert_eq!(chat_with(&t, key, "mistral-small", None).await.0, 200);
    }
    // Setting the status it already has changes nothing and audits nothing.
    assert_eq!(set_status("acme", "active").await.0, 200);

    let (_, events) = t.finish_with_audit().await;
    let changes: Vec<_> = events
        .iter()
        .filter(|e| {
            e.action.family() == domain::AuditFamily::Entity
                && e.action != domain::AuditAction::EntityCreate
        })
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(changes, ["entity.suspend", "entity.reactivate"]);
}

#[tokio::test]
async fn keys_survive_a_restart_and_the_bootstrap_key_is_not_duplicated() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let key = t.key.clone();
    let data_dir = t.server.gateway.config().server.data_dir.clone();
    let mut config = (*t.server.gateway.config()).clone();
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

#[tokio::test]
async fn a_scoped_key_uses_only_its_models_and_lists_only_them() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let (_, key) = app_key(&t, json!({"models": ["mistral-small"]})).await;
    assert_eq!(chat_with(&t, &key, "mistral-small", None).await.0, 200);
    let (status, body) = chat_with(&t, &key, "codestral", None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "model_not_allowed");
    assert_eq!(body["error"]["param"], "model");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("codestral"), "{message}");
    assert!(
        !message.contains("mistral-small"),
        "other models are not named: {message}"
    );
    assert_eq!(t.model_ids(&key).await, vec!["mistral-small"]);
    let response = t
        .http
        .get(t.url("/v1/models/codestral"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // The unscoped key of the same entity sees both.
    assert_eq!(t.model_ids(&t.key).await.len(), 2);

    for (settings, field) in [
        (json!({"models": ["gpt-4"]}), "models"),
        (json!({"models": []}), "models"),
        (json!({"priority": "urgent"}), "priority"),
        (json!({"expires_in_days": 0}), "expires_in_days"),
        (json!({"expires_at": "2001-01-01T00:00:00Z"}), "expires_at"),
        (json!({"expires_at": "tomorrow"}), "expires_at"),
        (
            json!({"expires_at": "2099-01-01", "expires_in_days": 3}),
            "expires_in_days",
        ),
    ] {
        let mut body = json!({"entity": "acme", "service_account": "app"});
        for (name, value) in settings.as_object().unwrap() {
            body[name] = value.clone();
        }
        let (status, error) = t.admin_post("/admin/v1/keys", body).await;
        assert_eq!(status, 400, "{settings}: {error}");
        assert_eq!(error["error"]["param"], field, "{settings}: {error}");
    }
}

#[tokio::test]
async fn an_expired_key_is_refused_as_expired_not_as_unknown() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let (id, _) = app_key(&t, json!({"expires_in_days": 90})).await;
    let listing = listed(&t, &id).await;
    let expires_at = listing["expires_at"].as_i64().unwrap();
    let day = 86_400_000;
    assert!(
        (expires_at - now_millis() - 90 * day).abs() < day,
        "{listing}"
    );
    assert_eq!(listing["expired"], false);

    // A key stored with an expiry already past, as a restart finds it.
    let user_key: KeyId = t.key_id.parse().unwrap();
    let template = t.server.store.key(user_key).await.unwrap().unwrap();
    let secret = KeySecret::generate();
    let expired = ApiKey {
        id: KeyId::generate(),
        hash: secret.hash(),
        display_prefix: secret.display_prefix(),
        expires_at: Some(now_millis() - 1),
        ..template
    };
    let audit = domain::AuditEvent {
        at: now_millis(),
        actor: "test".into(),
        action: domain::AuditAction::KeyCreate,
        entity_id: None,
        target: String::new(),
        outcome: domain::Outcome::Success,
        detail: "{}".into(),
    };
    t.server.store.create_key(&expired, &audit).await.unwrap();
    let t = t.restart().await;
    let (status, body) = chat_with(&t, secret.expose(), "mistral-small", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "api_key_expired");
    let (status, body) = chat_with(&t, "fabk_never_issued", "mistral-small", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert_eq!(listed(&t, &expired.id.to_string()).await["expired"], true);
}

#[tokio::test]
async fn a_rotated_key_keeps_working_through_its_grace_and_its_successor_inherits_its_settings() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let (old_id, old) = app_key(
        &t,
        json!({"models": ["mistral-small"], "priority": "batch", "classification": "confidential"}),
    )
    .await;
    let (status, rotated) = rotate(&t, &old_id, json!({"grace_seconds": 3600})).await;
    assert_eq!(status, 201, "{rotated}");
    let new_id = rotated["id"].as_str().unwrap().to_owned();
    let new = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(rotated["rotated_from"], old_id.as_str());
    for field in [
        "models",
        "priority",
        "classification",
        "name",
        "owner",
        "entity",
    ] {
        assert_eq!(rotated[field], listed(&t, &old_id).await[field], "{field}");
    }
    assert_eq!(chat_with(&t, &new, "mistral-small", None).await.0, 200);
    assert_eq!(
        chat_with(&t, &old, "mistral-small", None).await.0,
        200,
        "within the grace"
    );
    assert_eq!(
        chat_with(&t, &new, "codestral", None).await.0,
        403,
        "the scope went along"
    );

    let previous = listed(&t, &old_id).await;
    assert_eq!(previous["replaced_by"], new_id.as_str());
    let grace_end = previous["expires_at"].as_i64().unwrap();
    assert_eq!(grace_end, rotated["previous_expires_at"].as_i64().unwrap());
    assert!(
        (grace_end - now_millis() - 3_600_000).abs() < 60_000,
        "{previous}"
    );

    let (status, error) = rotate(&t, &old_id, json!({})).await;
    assert_eq!(status, 409, "a key has one successor: {error}");
    let (status, error) = rotate(&t, &new_id, json!({"grace_seconds": 31 * 86_400})).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["param"], "grace_seconds");
    let (status, _) = rotate(&t, "key_unknown", json!({})).await;
    assert_eq!(status, 404);

    let (_, events) = t.finish_with_audit().await;
    let rotations: Vec<_> = events
        .iter()
        .filter(|e| e.action == domain::AuditAction::KeyRotate)
        .collect();
    assert_eq!(
        rotations.len(),
        1,
        "one event, for the rotation that happened"
    );
    assert_eq!(rotations[0].target, new_id);
}

#[tokio::test]
async fn a_key_rotated_without_grace_stops_at_once() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let (old_id, old) = app_key(&t, json!({})).await;
    assert_eq!(chat_with(&t, &old, "mistral-small", None).await.0, 200);
    let (status, rotated) = rotate(&t, &old_id, json!({"grace_seconds": 0})).await;
    assert_eq!(status, 201, "{rotated}");
    let (status, body) = chat_with(&t, &old, "mistral-small", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "api_key_expired");
    let admin_call = t.get_json("/admin/v1/keys", &old).await;
    assert_eq!(
        admin_call["error"]["code"], "api_key_expired",
        "{admin_call}"
    );
    let new = rotated["key"].as_str().unwrap();
    assert_eq!(chat_with(&t, new, "mistral-small", None).await.0, 200);
    let (status, _) = rotate(&t, &old_id, json!({})).await;
    assert_eq!(status, 409, "an expired key is not rotated");
}

#[tokio::test]
async fn the_last_use_of_a_key_is_listed_and_stored() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let (id, key) = app_key(&t, json!({})).await;
    assert_eq!(listed(&t, &id).await["last_used_at"], Value::Null);
    let before = now_millis();
    assert_eq!(chat_with(&t, &key, "mistral-small", None).await.0, 200);
    let used = listed(&t, &id).await["last_used_at"]
        .as_i64()
        .expect("noted");
    assert_eq!(used % 60_000, 0, "minute precision");
    assert!(
        used >= before - before % 60_000 && used <= now_millis(),
        "{used}"
    );

    // Shutting down stores it; the restarted server reads it back.
    let t = t.restart().await;
    let stored = t
        .server
        .store
        .key(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.last_used_at, Some(used));
    assert_eq!(listed(&t, &id).await["last_used_at"], used);
}

#[tokio::test]
async fn a_keys_priority_class_reaches_the_scheduler_and_bounds_the_header() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config()).await;
    let (_, key) = app_key(&t, json!({"priority": "batch"})).await;
    assert_eq!(chat_with(&t, &key, "mistral-small", None).await.0, 200);
    assert_eq!(
        chat_with(&t, &key, "mistral-small", Some("batch")).await.0,
        200
    );
    let batch_waits = t.schedule_waits_line("batch").await;
    assert!(batch_waits.ends_with(" 2"), "{batch_waits}");
    let (status, body) = chat_with(&t, &key, "mistral-small", Some("interactive")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "priority_not_allowed");
    assert_eq!(body["error"]["param"], "x-fabrique-priority");
}
