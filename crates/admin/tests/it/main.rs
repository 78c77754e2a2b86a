//! The admin API over real HTTP: a server on a loopback port backed by a SQLite store in a
//! temporary directory, driven with reqwest and with the command-line client's own `execute`
//! (`admin-client`).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers and bodies fail by panicking"
)]

mod console_routes;
mod data_policy;
mod harness;

use std::sync::Arc;

use admin::{BootstrapError, BootstrapOutcome, BootstrapSettings, bootstrap_admin};
use admin_client::{AdminCli, AdminCommand, CliError, EntitiesCommand};
use identity::Directory;
use reqwest::StatusCode;
use serde_json::{Value, json};

use harness::{ADMIN_KEY, Server};

#[tokio::test]
async fn an_administrator_creates_an_entity_a_user_and_a_working_key() {
    let server = Server::start().await;
    let (status, entity) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entity}");
    assert_eq!(entity["slug"], "acme");
    assert!(entity["id"].as_str().unwrap().starts_with("ent_"));

    let (status, user) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/users",
            json!({"entity": "acme", "user_name": "ada", "email": "ada@example.com", "display_name": "Ada"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(
        (user["entity"].clone(), user["display_name"].clone()),
        (json!("acme"), json!("Ada"))
    );
    let user_id = user["id"].as_str().unwrap().to_owned();

    let (status, key) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/keys",
            json!({"user_id": user_id, "name": "laptop"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let secret = key["key"].as_str().unwrap();
    assert!(secret.starts_with("fabk_"));
    assert_eq!(key["entity"], "acme");
    assert_eq!(key["owner"], json!({"kind": "user", "id": user_id}));
    assert!(secret.starts_with(key["display_prefix"].as_str().unwrap()));

    // The new key works at once, without a reload.
    let principal = server.directory.authenticate(secret).unwrap();
    assert_eq!(
        principal.key_id.unwrap().to_string(),
        key["id"].as_str().unwrap()
    );
    assert_eq!(principal.entity_slug.as_deref(), Some("acme"));

    // Listings show keys but never secrets or hashes.
    let (status, listed) = server.get(ADMIN_KEY, "/admin/v1/keys?entity=acme").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["name"], "laptop");
    let text = listed.to_string();
    assert!(!text.contains(secret) && !text.contains("hash"), "{text}");

    let (_, users) = server.get(ADMIN_KEY, "/admin/v1/users?entity=acme").await;
    assert_eq!(users["data"][0]["user_name"], "ada");
    let (_, entities) = server.get(ADMIN_KEY, "/admin/v1/entities").await;
    assert_eq!(entities["data"][0]["slug"], "acme");
}

#[tokio::test]
async fn service_account_keys_and_revocation_take_effect_at_once() {
    let server = Server::start().await;
    server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    let (status, key) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/keys",
            json!({"entity": "acme", "service_account": "ci"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    assert_eq!(key["owner"]["kind"], "service_account");
    let (_, second) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/keys",
            json!({"entity": "acme", "service_account": "ci"}),
        )
        .await;
    assert_eq!(
        second["owner"], key["owner"],
        "the service account is reused"
    );

    let secret = key["key"].as_str().unwrap();
    let id = key["id"].as_str().unwrap();
    assert!(server.directory.authenticate(secret).is_some());
    let (status, body) = server
        .delete(ADMIN_KEY, &format!("/admin/v1/keys/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"id": id, "revoked": true}));
    assert!(
        server.directory.authenticate(secret).is_none(),
        "refused on the very next request"
    );
    let (status, _) = server
        .delete(ADMIN_KEY, &format!("/admin/v1/keys/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "revoking again is harmless");

    // And it stays revoked after a restart.
    let reloaded = Directory::load(&server.store).await.unwrap();
    assert!(reloaded.authenticate(secret).is_none());
    assert!(
        reloaded
            .authenticate(second["key"].as_str().unwrap())
            .is_some()
    );
}

#[tokio::test]
async fn unauthenticated_and_unauthorized_callers_are_refused() {
    let server = Server::start().await;
    let (status, body) = server
        .request(reqwest::Method::GET, None, "/admin/v1/entities", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "authentication_error", "invalid_api_key");
    let (status, body) = server.get("fabk_unknown", "/admin/v1/entities").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "authentication_error", "invalid_api_key");

    // A user's key authenticates but may not administer.
    server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    let (_, user) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/users",
            json!({"entity": "acme", "user_name": "bob", "email": "bob@example.com"}),
        )
        .await;
    let (_, key) = server
        .post(ADMIN_KEY, "/admin/v1/keys", json!({"user_id": user["id"]}))
        .await;
    let user_key = key["key"].as_str().unwrap();
    let (status, body) = server
        .post(
            user_key,
            "/admin/v1/entities",
            json!({"slug": "evil", "name": "Evil"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "permission_error", "permission_denied");
    let (status, _) = server.get(user_key, "/admin/v1/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.get(user_key, "/admin/v1/audit/checkpoints").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .delete(
            user_key,
            &format!("/admin/v1/keys/{}", key["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.get(user_key, "/admin/v1/users?entity=nope").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "unknown entities are not revealed to outsiders"
    );

    // The refusals are audited as denied, with the caller as actor.
    let (_, audit) = server.get(ADMIN_KEY, "/admin/v1/audit?limit=50").await;
    let denied: Vec<_> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .collect();
    assert_eq!(denied.len(), 5);
    assert!(denied.iter().all(|e| e["actor"] == key["id"]));
}

#[tokio::test]
async fn bad_requests_say_what_is_wrong() {
    let server = Server::start().await;
    let cases = [
        ("/admin/v1/entities", "{not json", "invalid request body"),
        (
            "/admin/v1/entities",
            r#"{"slug":"acme"}"#,
            "missing field `name`",
        ),
        (
            "/admin/v1/entities",
            r#"{"slug":"acme","name":"A","color":"red"}"#,
            "unknown field `color`",
        ),
        (
            "/admin/v1/entities",
            r#"{"slug":"Not A Slug","name":"A"}"#,
            "`slug` must be",
        ),
        ("/admin/v1/entities", "", "must be a JSON object"),
        ("/admin/v1/keys", r#"{}"#, "give either `user_id`"),
        (
            "/admin/v1/keys",
            r#"{"user_id":"ent_nope"}"#,
            "not a valid user id",
        ),
        (
            "/admin/v1/keys",
            r#"{"entity":"acme"}"#,
            "`service_account` is required",
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = server.post_raw(ADMIN_KEY, path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert_error(&answer, "invalid_request_error", "invalid_request");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    let (status, answer) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/users",
            json!({"entity": "acme", "user_name": "ada", "email": "not-an-email"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["param"], "email");
    let (status, answer) = server.get(ADMIN_KEY, "/admin/v1/audit?limit=zero").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
}

#[tokio::test]
async fn unknown_targets_are_404_and_duplicates_409() {
    let server = Server::start().await;
    let (status, body) = server
        .delete(
            ADMIN_KEY,
            "/admin/v1/keys/key_0190f0f0f0f07000800000000000000a",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, "not_found_error", "not_found");
    let (status, _) = server.delete(ADMIN_KEY, "/admin/v1/keys/garbage").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/users",
            json!({"entity": "nope", "user_name": "ada", "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"].as_str().unwrap().contains("nope"));
    let (status, _) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/keys",
            json!({"user_id": "usr_0190f0f0f0f07000800000000000000a"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    let (status, body) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "invalid_request_error", "conflict");
    assert!(body["error"]["message"].as_str().unwrap().contains("acme"));
    let user = json!({"entity": "acme", "user_name": "ada", "email": "ada@example.com"});
    assert_eq!(
        server
            .post(ADMIN_KEY, "/admin/v1/users", user.clone())
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        server.post(ADMIN_KEY, "/admin/v1/users", user).await.0,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn every_mutation_is_audited_with_the_caller_as_actor() {
    let server = Server::start().await;
    let (_, entity) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    let (_, user) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/users",
            json!({"entity": "acme", "user_name": "ada", "email": "ada@example.com"}),
        )
        .await;
    let (_, key) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/keys",
            json!({"entity": "acme", "service_account": "ci"}),
        )
        .await;
    server
        .delete(
            ADMIN_KEY,
            &format!("/admin/v1/keys/{}", key["id"].as_str().unwrap()),
        )
        .await;

    let (status, audit) = server.get(ADMIN_KEY, "/admin/v1/audit?limit=100").await;
    assert_eq!(status, StatusCode::OK);
    let events = audit["data"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            // The bootstrap, by the system.
            "service_account.create",
            "key.create",
            "role.grant",
            // The administrator's requests.
            "entity.create",
            "user.create",
            // The new user's seat (the pool is unlimited), by the same caller.
            "seat.assign",
            "service_account.create",
            "key.create",
            "key.revoke",
        ]
    );
    let admin_key_id = server.bootstrap_key_id.to_string();
    assert!(
        events[..6]
            .iter()
            .all(|e| e["actor"] == admin_key_id.as_str() && e["outcome"] == "success")
    );
    assert!(events[6..].iter().all(|e| e["actor"] == "system"));
    assert_eq!(events[5]["target"], entity["id"]);
    assert_eq!(events[4]["target"], user["id"]);
    assert_eq!(events[4]["entity_id"], entity["id"]);
    assert_eq!(events[3]["target"], user["id"]);
    assert_eq!(events[0]["target"], key["id"]);
    assert!(
        !audit.to_string().contains(key["key"].as_str().unwrap()),
        "no secret in the audit log"
    );
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
}

#[tokio::test]
async fn the_audit_trail_shows_its_links_and_signed_checkpoints() {
    let server = Server::start().await;
    server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    let (status, audit) = server.get(ADMIN_KEY, "/admin/v1/audit").await;
    assert_eq!(status, StatusCode::OK);
    let events = audit["data"].as_array().unwrap();
    assert_eq!(
        events.len(),
        4,
        "the bootstrap's three events, then the entity"
    );
    for pair in events.windows(2) {
        assert_eq!(
            pair[0]["prev_hash"], pair[1]["hash"],
            "newest first, linked"
        );
    }
    assert_eq!(events[3]["prev_hash"], "0".repeat(64));

    // Sign the head as the server's checkpoint task does.
    let head = server.store.audit_chain_head().await.unwrap();
    let signed = evidence::Checkpoint {
        seq: head.seq,
        head: head.hash.parse().unwrap(),
        at: 1_800_000_000_000,
        event_count: head.event_count,
        previous: evidence::GENESIS,
    }
    .sign(&harness::audit_signer());
    assert!(server.store.insert_audit_checkpoint(&signed).await.unwrap());

    let (status, body) = server
        .get(ADMIN_KEY, "/admin/v1/audit/checkpoints?from=1")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["public_key"],
        harness::audit_signer().public_key().to_string()
    );
    assert_eq!(body["head"]["seq"], 4);
    assert_eq!(body["head"]["hash"], events[0]["hash"]);
    let checkpoints = body["data"].as_array().unwrap();
    assert_eq!(checkpoints.len(), 1);
    assert_eq!(checkpoints[0]["seq"], 4);
    assert_eq!(checkpoints[0]["head"], events[0]["hash"]);
    assert_eq!(checkpoints[0]["signature"], signed.signature.as_str());
    assert_eq!(
        checkpoints[0]["previous"],
        "0".repeat(64),
        "the first names the genesis value"
    );

    let (status, _) = server
        .get(ADMIN_KEY, "/admin/v1/audit/checkpoints?limit=0")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bootstrap_keeps_the_same_secret_and_rotates_to_a_new_one() {
    let server = Server::start().await;
    let settings = BootstrapSettings::default();
    let again = bootstrap(&server, &server.directory, Some(ADMIN_KEY), settings).await;
    assert!(
        matches!(again, BootstrapOutcome::Kept { key_id, .. } if key_id == server.bootstrap_key_id)
    );

    // A restart: the directory is rebuilt from the store and the key still administers.
    let restarted = Arc::new(Directory::load(&server.store).await.unwrap());
    assert!(
        restarted.authenticate(ADMIN_KEY).is_none(),
        "the store holds no usable hash"
    );
    bootstrap(&server, &restarted, Some(ADMIN_KEY), settings).await;
    assert!(restarted.authenticate(ADMIN_KEY).unwrap().is_group_admin());
    let keys = server.store.list_keys(None).await.unwrap();
    assert_eq!(keys.len(), 1, "no second bootstrap key");

    // Another secret rotates: the old key is revoked, audited, and the new one administers.
    let new_secret = "fabk_another_admin_secret_0123456789abcdef";
    let rotated = bootstrap(&server, &server.directory, Some(new_secret), settings).await;
    assert!(
        matches!(rotated, BootstrapOutcome::Created { revoked: 1, .. }),
        "{rotated:?}"
    );
    assert!(server.directory.authenticate(ADMIN_KEY).is_none());
    assert!(
        server
            .directory
            .authenticate(new_secret)
            .unwrap()
            .is_group_admin()
    );
    let (_, audit) = server
        .get(new_secret, "/admin/v1/audit?action=key.revoke")
        .await;
    assert_eq!(audit["data"][0]["detail"]["reason"], "rotated", "{audit}");

    // Nothing of an operator's secret is stored or audited: no prefix, no fast hash.
    let (_, audit) = server
        .get(new_secret, "/admin/v1/audit?action=key.create")
        .await;
    let (_, listed) = server.get(new_secret, "/admin/v1/keys").await;
    for text in [audit.to_string(), listed.to_string()] {
        assert!(
            !text.contains(&new_secret[..12]) && !text.contains(&ADMIN_KEY[..12]),
            "{text}"
        );
    }
    let fresh = store::Store::connect("sqlite::memory:").await.unwrap();
    let outcome = bootstrap_admin(&fresh, &Directory::new(), None, settings)
        .await
        .unwrap();
    assert_eq!(outcome, BootstrapOutcome::NotRequested);
    assert!(!fresh.has_group_admin().await.unwrap());
}

#[tokio::test]
async fn a_short_secret_is_refused_unless_allowed_and_an_expired_one_is_refused() {
    let fresh = store::Store::connect("sqlite::memory:").await.unwrap();
    let directory = Directory::new();
    let weak = Some("dev-admin-key".to_owned());
    let settings = BootstrapSettings::default();
    let refused = bootstrap_admin(&fresh, &directory, weak.clone(), settings).await;
    assert!(
        matches!(refused, Err(BootstrapError::Weak(13))),
        "{refused:?}"
    );
    assert!(!fresh.has_group_admin().await.unwrap());
    let allowed = BootstrapSettings {
        allow_weak: true,
        ..settings
    };
    bootstrap_admin(&fresh, &directory, weak.clone(), allowed)
        .await
        .unwrap();
    let principal = directory.authenticate("dev-admin-key").unwrap();
    let expires_at = principal.expires_at.unwrap();
    let day = 24 * 3600 * 1000;
    assert!(
        (expires_at - domain::now_millis() - day).abs() < 60_000,
        "24 hours"
    );
    // A key that lived its time is refused at the next start, and a new secret replaces it.
    let expired = BootstrapSettings {
        ttl: std::time::Duration::ZERO,
        allow_weak: true,
    };
    let other = Some("another-dev-key".to_owned());
    bootstrap_admin(&fresh, &directory, other.clone(), expired)
        .await
        .unwrap();
    let refused = bootstrap_admin(&fresh, &directory, other, expired).await;
    assert!(
        matches!(refused, Err(BootstrapError::Expired)),
        "{refused:?}"
    );
}

async fn bootstrap(
    server: &Server,
    directory: &Directory,
    secret: Option<&str>,
    settings: BootstrapSettings,
) -> BootstrapOutcome {
    bootstrap_admin(
        &server.store,
        directory,
        secret.map(str::to_owned),
        settings,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_cli_talks_to_the_api() {
    let server = Server::start().await;
    let at = |url: &str, key: Option<&str>| admin_client::Server {
        url: url.to_owned(),
        key: key.map(str::to_owned),
    };
    let list = || AdminCommand::Entities {
        command: EntitiesCommand::List,
    };
    let cli = |command| AdminCli {
        server: at(&server.base_url, Some(ADMIN_KEY)),
        command,
    };
    let created = admin_client::execute(&cli(AdminCommand::Entities {
        command: EntitiesCommand::Create {
            slug: "acme".into(),
            name: "Acme".into(),
        },
    }))
    .await
    .unwrap();
    assert_eq!(created["slug"], "acme");
    admin_client::run_cli(cli(AdminCommand::Entities {
        command: EntitiesCommand::List,
    }))
    .await
    .unwrap();
    let listed = admin_client::execute(&cli(AdminCommand::Entities {
        command: EntitiesCommand::List,
    }))
    .await
    .unwrap();
    assert_eq!(listed["data"][0]["slug"], "acme");

    let err = admin_client::run_cli(cli(AdminCommand::Entities {
        command: EntitiesCommand::Create {
            slug: "acme".into(),
            name: "Acme".into(),
        },
    }))
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "409 conflict: entity slug `acme` already exists"
    );

    let no_key = AdminCli {
        server: at(&server.base_url, None),
        command: list(),
    };
    assert!(matches!(
        admin_client::run_cli(no_key).await,
        Err(CliError::MissingKey)
    ));
    let wrong_key = AdminCli {
        server: at(&server.base_url, Some("fabk_wrong")),
        command: list(),
    };
    let err = admin_client::run_cli(wrong_key).await.unwrap_err();
    assert!(err.to_string().starts_with("401 invalid_api_key"), "{err}");
    let unreachable = AdminCli {
        server: at("http://127.0.0.1:9", Some(ADMIN_KEY)),
        command: list(),
    };
    assert!(matches!(
        admin_client::run_cli(unreachable).await,
        Err(CliError::Connect { .. })
    ));
}

fn assert_error(body: &Value, kind: &str, code: &str) {
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn scim_tokens_are_shown_once_listed_without_secrets_and_revoked() {
    let server = Server::start().await;
    server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    let (status, token) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/scim-tokens",
            json!({"entity": "acme", "name": "Entra ID"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let secret = token["token"].as_str().unwrap();
    assert!(
        secret.starts_with("fabs_")
            && secret.starts_with(token["display_prefix"].as_str().unwrap())
    );
    assert_eq!(token["entity"], "acme");
    let (status, group_wide) = server
        .post_raw(ADMIN_KEY, "/admin/v1/scim-tokens", "")
        .await;
    assert_eq!(
        (status, group_wide["entity"].clone()),
        (StatusCode::CREATED, Value::Null)
    );

    let (_, listed) = server
        .get(ADMIN_KEY, "/admin/v1/scim-tokens?entity=acme")
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(secret) && !listed.to_string().contains("hash"));

    let id = token["id"].as_str().unwrap();
    let (status, revoked) = server
        .delete(ADMIN_KEY, &format!("/admin/v1/scim-tokens/{id}"))
        .await;
    assert_eq!(
        (status, revoked["revoked"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, _) = server
        .delete(ADMIN_KEY, "/admin/v1/scim-tokens/sct_nope")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = server.get(ADMIN_KEY, "/admin/v1/audit?limit=10").await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"scim_token.create") && actions.contains(&"scim_token.revoke"),
        "{actions:?}"
    );

    // Only group administrators may mint them.
    let (_, user) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/users",
            json!({"entity": "acme", "user_name": "ada", "email": "ada@example.com"}),
        )
        .await;
    let (_, key) = server
        .post(ADMIN_KEY, "/admin/v1/keys", json!({"user_id": user["id"]}))
        .await;
    let (status, _) = server
        .post(
            key["key"].as_str().unwrap(),
            "/admin/v1/scim-tokens",
            json!({"entity": "acme"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The listings of users, keys and SCIM tokens come in pages of at most `MAX_PAGE` rows, with the
/// offset of the next page while one follows; the CLI follows them to the end (review L-10).
#[tokio::test]
async fn listings_are_paged_and_the_cli_follows_the_pages() {
    let server = Server::start().await;
    let (status, entity) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entity}");
    let acme = server.store.entity_by_slug("acme").await.unwrap().unwrap();
    let users = admin::MAX_PAGE + 1;
    for n in 0..users {
        let new = store::NewUser {
            entity_id: acme.id,
            user_name: format!("user-{n:05}"),
            email: format!("user-{n:05}@example.test"),
            display_name: None,
            external_id: None,
        };
        let audit = domain::AuditEvent {
            at: domain::now_millis(),
            actor: "test".into(),
            action: domain::AuditAction::UserCreate,
            entity_id: Some(acme.id),
            target: String::new(),
            outcome: domain::Outcome::Success,
            detail: "{}".into(),
        };
        server.store.create_user(&new, &audit).await.unwrap();
    }
    let names = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["user_name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, first) = server
        .get(ADMIN_KEY, "/admin/v1/users?entity=acme&limit=2")
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(names(&first), ["user-00000", "user-00001"]);
    assert_eq!(first["next_offset"], 2);
    let last = format!("/admin/v1/users?entity=acme&offset={}&limit=2", users - 1);
    let (_, end) = server.get(ADMIN_KEY, &last).await;
    assert_eq!(names(&end), [format!("user-{:05}", users - 1)]);
    assert_eq!(end["next_offset"], Value::Null);
    let (_, default) = server.get(ADMIN_KEY, "/admin/v1/users?entity=acme").await;
    assert_eq!(
        (names(&default).len() as u64, default["next_offset"].clone()),
        (admin::MAX_PAGE, json!(admin::MAX_PAGE))
    );
    for path in [
        "/admin/v1/users?limit=0",
        "/admin/v1/keys?limit=1001",
        "/admin/v1/scim-tokens?limit=-1",
    ] {
        let (status, error) = server.get(ADMIN_KEY, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {error}");
    }
    let (_, keys) = server.get(ADMIN_KEY, "/admin/v1/keys?limit=1").await;
    assert_eq!(keys["data"].as_array().unwrap().len(), 1, "{keys}");

    let listed = admin_client::execute(&AdminCli {
        server: admin_client::Server {
            url: server.base_url.clone(),
            key: Some(ADMIN_KEY.to_owned()),
        },
        command: AdminCommand::Users {
            command: admin_client::UsersCommand::List {
                entity: Some("acme".into()),
                search: None,
            },
        },
    })
    .await
    .unwrap();
    assert_eq!(names(&listed).len() as u64, users, "every page, in order");
    assert_eq!(
        names(&listed)[users as usize - 1],
        format!("user-{:05}", users - 1)
    );
}

/// `fabrique admin roles grant|list|revoke` against the API: a grant holds from the holder's next
/// request, without a reload, and so does its revocation; both are audited.
#[tokio::test]
async fn roles_granted_and_taken_back_through_the_command_line_hold_at_once() {
    let server = Server::start().await;
    server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    let (_, ada) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/users",
            json!({"entity": "acme", "user_name": "ada", "email": "ada@example.test"}),
        )
        .await;
    let (_, key) = server
        .post(ADMIN_KEY, "/admin/v1/keys", json!({"user_id": ada["id"]}))
        .await;
    let ada_key = key["key"].as_str().unwrap().to_owned();
    let (status, _) = server.get(&ada_key, "/admin/v1/users?entity=acme").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no role yet");

    let cli = |command| AdminCli {
        server: admin_client::Server {
            url: server.base_url.clone(),
            key: Some(ADMIN_KEY.to_owned()),
        },
        command: AdminCommand::Roles { command },
    };
    let role = || admin_client::RoleArgs {
        user: "ada".into(),
        role: "entity_admin".into(),
        entity: Some("acme".into()),
    };
    let granted = admin_client::execute(&cli(admin_client::RolesCommand::Grant(role())))
        .await
        .unwrap();
    assert_eq!(
        (
            granted["user_name"].clone(),
            granted["role"].clone(),
            granted["entity"].clone()
        ),
        (json!("ada"), json!("entity_admin"), json!("acme"))
    );
    let (status, users) = server.get(&ada_key, "/admin/v1/users?entity=acme").await;
    assert_eq!(status, StatusCode::OK, "the grant holds at once: {users}");

    let listed = admin_client::execute(&cli(admin_client::RolesCommand::List {
        entity: Some("acme".into()),
        user: None,
    }))
    .await
    .unwrap();
    let grants = listed["data"].as_array().unwrap();
    assert_eq!(grants.len(), 1, "{listed}");
    assert_eq!(grants[0]["holder"]["name"], "ada");
    assert_eq!(grants[0]["holder"]["entity"], "acme");

    admin_client::execute(&cli(admin_client::RolesCommand::Revoke(role())))
        .await
        .unwrap();
    let (status, _) = server.get(&ada_key, "/admin/v1/users?entity=acme").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the revocation holds at once"
    );
    let again = admin_client::execute(&cli(admin_client::RolesCommand::Revoke(role())))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("does not hold"), "{again}");
    let unknown = admin_client::execute(&cli(admin_client::RolesCommand::Grant(
        admin_client::RoleArgs {
            role: "overlord".into(),
            ..role()
        },
    )))
    .await
    .unwrap_err();
    assert!(
        unknown.to_string().contains("unknown role `overlord`"),
        "{unknown}"
    );

    let (_, audit) = server.get(ADMIN_KEY, "/admin/v1/audit?action=role").await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"role.grant") && actions.contains(&"role.revoke"),
        "{actions:?}"
    );
}

/// The directory is searched by the start of a name or an e-mail address whatever the case and
/// accents, within the caller's entity, and paged by a cursor that never repeats or skips a user.
#[tokio::test]
async fn the_users_directory_is_searched_without_case_or_accents_and_paged_by_cursor() {
    let server = Server::start().await;
    for slug in ["acme", "globex"] {
        server
            .post(
                ADMIN_KEY,
                "/admin/v1/entities",
                json!({"slug": slug, "name": slug}),
            )
            .await;
    }
    for (entity, user_name, display_name, email) in [
        ("acme", "hdupont", "Héloïse Dupont", "h.dupont@acme.test"),
        ("acme", "zoe", "Zoé Martin", "ZOE.MARTIN@acme.test"),
        ("acme", "eloise", "Eloïse Petit", "eloise@acme.test"),
        (
            "globex",
            "heloise-g",
            "Héloïse Globex",
            "heloise@globex.test",
        ),
    ] {
        let (status, body) = server
            .post(
                ADMIN_KEY,
                "/admin/v1/users",
                json!({"entity": entity, "user_name": user_name, "display_name": display_name, "email": email}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let names = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["user_name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, expected) in [
        ("q=Heloise", vec!["hdupont", "heloise-g"]),
        ("q=HÉLO", vec!["hdupont", "heloise-g"]),
        ("q=zoe.m", vec!["zoe"]),
        ("q=%C3%A9lo", vec!["eloise"]),
        ("q=%20", vec!["eloise", "hdupont", "heloise-g", "zoe"]),
        ("entity=acme&q=heloise", vec!["hdupont"]),
    ] {
        let (status, page) = server
            .get(ADMIN_KEY, &format!("/admin/v1/users?{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(names(&page), expected, "{query}");
    }

    // An entity administrator searches their own entity only.
    let (_, ada) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/users",
            json!({"entity": "acme", "user_name": "ada", "email": "ada@acme.test"}),
        )
        .await;
    let audit = domain::AuditEvent {
        at: domain::now_millis(),
        actor: "test".into(),
        action: domain::AuditAction::RoleGrant,
        entity_id: None,
        target: String::new(),
        outcome: domain::Outcome::Success,
        detail: "{}".into(),
    };
    let acme = server.store.entity_by_slug("acme").await.unwrap().unwrap();
    let owner = domain::KeyOwner::User(ada["id"].as_str().unwrap().parse().unwrap());
    let grant = domain::RoleGrant {
        role: domain::Role::EntityAdmin,
        entity_id: Some(acme.id),
    };
    server.store.grant_role(owner, grant, &audit).await.unwrap();
    let (_, key) = server
        .post(ADMIN_KEY, "/admin/v1/keys", json!({"user_id": ada["id"]}))
        .await;
    let ada_key = key["key"].as_str().unwrap();
    let (status, page) = server.get(ada_key, "/admin/v1/users?q=heloise").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(names(&page), ["hdupont"]);
    let (status, _) = server
        .get(ada_key, "/admin/v1/users?entity=globex&q=heloise")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Page by page through the cursor: every user once, in order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(cursor) => format!("/admin/v1/users?limit=2&after={cursor}"),
            None => "/admin/v1/users?limit=2".to_owned(),
        };
        let (status, page) = server.get(ADMIN_KEY, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["ada", "eloise", "hdupont", "heloise-g", "zoe"]);
    let (status, error) = server
        .get(ADMIN_KEY, &format!("/admin/v1/users?q={}", "x".repeat(300)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
}
