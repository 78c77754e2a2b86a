//! SCIM provisioning end to end: a real server, real HTTP, SQLite; the directory's changes reach the
//! inference path at once.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn config(extra: &str) -> String {
    two_endpoints(&format!(
        r#"
[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu-a", "gpu-b"]

{extra}
"#
    ))
}

async fn start(extra: &str) -> TestServer {
    TestServer::start(vec![instant_sim(), instant_sim()], &config(extra)).await
}

/// Creates a SCIM token (for `entity`, or group-wide) and returns (id, secret).
pub(crate) async fn scim_token(t: &TestServer, entity: Option<&str>) -> (String, String) {
    let body = match entity {
        Some(slug) => {
            let _ = t
                .admin_post("/admin/v1/entities", json!({"slug": slug, "name": slug}))
                .await;
            json!({"entity": slug, "name": "directory"})
        }
        None => json!({}),
    };
    let (status, token) = t.admin_post("/admin/v1/scim-tokens", body).await;
    assert_eq!(status, 201, "{token}");
    (
        token["id"].as_str().unwrap().to_owned(),
        token["token"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn scim(
    t: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = t
        .http
        .request(method, t.url(&format!("/scim/v2{path}")))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status != 204 {
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "application/scim+json", "{path}");
    }
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

fn user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        // The harness's own user is `ada`: directory users get a prefix.
        "userName": format!("dir.{name}"),
        "externalId": format!("ext-{name}"),
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": format!("{name}@work.example"), "type": "work", "primary": true}],
        "active": true,
        ENTERPRISE: {"department": "R&D", "employeeNumber": "42"}
    })
}

#[tokio::test]
async fn a_suspended_users_key_is_refused_at_once_and_works_again_on_reactivation() {
    let t = start("").await;
    let (token_id, token) = scim_token(&t, Some("acme")).await;
    let (status, created) = scim(&t, &token, Method::POST, "/Users", Some(user("grace"))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["name"]["givenName"], "Ada",
        "unmodelled attributes are kept"
    );
    assert_eq!(created[ENTERPRISE]["department"], "R&D");
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(
        created["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );

    let (status, key) = t.admin_post("/admin/v1/keys", json!({"user_id": id})).await;
    assert_eq!(status, 201, "{key}");
    let secret = key["key"].as_str().unwrap().to_owned();
    let chat = |key: String| {
        let t = &t;
        async move {
            t.post_with_key("/v1/chat/completions", &chat_body("mistral-small"), &key)
                .await
                .0
        }
    };
    assert_eq!(chat(secret.clone()).await, 200);

    let (status, suspended) = scim(
        &t,
        &token,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(patch(
            json!([{"op": "Replace", "value": {"active": false}}]),
        )),
    )
    .await;
    assert_eq!(status, 200, "{suspended}");
    assert_eq!(suspended["active"], false);
    assert_eq!(
        chat(secret.clone()).await,
        401,
        "the suspended user's key is refused at once"
    );

    let (status, _) = scim(
        &t,
        &token,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(patch(
            json!([{"op": "replace", "path": "active", "value": true}]),
        )),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        chat(secret.clone()).await,
        200,
        "reactivation restores suspended keys"
    );

    let (status, _) = scim(&t, &token, Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(chat(secret).await, 401, "deletion revokes the keys");
    let (status, gone) = scim(&t, &token, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!((status, gone["status"].clone()), (404, json!("404")));
    let (status, again) = scim(&t, &token, Method::POST, "/Users", Some(user("grace"))).await;
    assert_eq!(
        status, 201,
        "a deleted user's userName is free again: {again}"
    );

    let audit = t.get_json("/admin/v1/audit?limit=50", ADMIN_KEY).await;
    let actions: Vec<(String, String)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == format!("scim:{token_id}"))
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for action in ["user.provision", "user.update", "user.deprovision"] {
        assert!(
            actions
                .iter()
                .any(|(a, target)| a == action && target == &id),
            "{action}: {actions:?}"
        );
    }
}

/// The review's fail-open: a suspension commits, then the request fails before the user's keys
/// are stopped (the directory sees an error and retries). The retry finds the user already
/// suspended in the store, and must still stop the keys.
#[tokio::test]
async fn a_retried_suspension_stops_keys_the_first_attempt_left_live() {
    let t = start("").await;
    let (_, token) = scim_token(&t, Some("acme")).await;
    let (status, created) = scim(&t, &token, Method::POST, "/Users", Some(user("grace"))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, key) = t.admin_post("/admin/v1/keys", json!({"user_id": id})).await;
    assert_eq!(status, 201, "{key}");
    let secret = key["key"].as_str().unwrap().to_owned();
    let body = chat_body("mistral-small");
    let chat = || t.post_with_key("/v1/chat/completions", &body, &secret);

    // The first attempt's commit, and nothing after it.
    let stored = t
        .server
        .store
        .provisioned_user(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let fields = store::UserFields {
        user_name: stored.user.user_name.clone(),
        email: stored.user.email.clone(),
        display_name: stored.user.display_name.clone(),
        external_id: stored.user.external_id.clone(),
        status: domain::Status::Suspended,
        attributes: stored.attributes.clone(),
    };
    let audit = domain::AuditEvent {
        at: domain::now_millis(),
        actor: "test".into(),
        action: domain::AuditAction::UserUpdate,
        entity_id: Some(stored.user.entity_id),
        target: String::new(),
        outcome: domain::Outcome::Success,
        detail: "{}".into(),
    };
    t.server
        .store
        .replace_provisioned_user(stored.user.id, stored.version, &fields, &audit)
        .await
        .unwrap();
    assert_eq!(chat().await.0, 200, "the key was left live");

    let (status, retried) = scim(
        &t,
        &token,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(patch(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
    )
    .await;
    assert_eq!((status, retried["active"].clone()), (200, json!(false)));
    assert_eq!(chat().await.0, 401, "the retry stops the key");
}

#[tokio::test]
async fn filters_paging_projection_and_errors() {
    let t = start("").await;
    let (_, token) = scim_token(&t, Some("acme")).await;
    for name in ["ada", "bob", "carol", "dave"] {
        let (status, body) = scim(&t, &token, Method::POST, "/Users", Some(user(name))).await;
        assert_eq!(status, 201, "{body}");
    }
    let query = |filter: &str| format!("/Users?filter={}", urlencode(filter));
    let (_, found) = scim(
        &t,
        &token,
        Method::GET,
        &query(r#"userName eq "DIR.BOB""#),
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["userName"], "dir.bob");
    let (_, found) = scim(
        &t,
        &token,
        Method::GET,
        &query(r#"emails[type eq "work"].value sw "c" or userName eq "dir.dave""#),
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 2, "{found}");
    let (_, found) = scim(
        &t,
        &token,
        Method::GET,
        &query(r#"not (userName eq "dir.ada") and name.givenName eq "ada""#),
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 3, "{found}");
    let (_, found) = scim(
        &t,
        &token,
        Method::GET,
        &query(&format!(r#"{ENTERPRISE}:employeeNumber eq "42""#)),
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 4);

    let (_, page) = scim(
        &t,
        &token,
        Method::GET,
        "/Users?startIndex=2&count=2&sortBy=userName&sortOrder=descending&attributes=userName",
        None,
    )
    .await;
    assert_eq!(
        (
            page["totalResults"].clone(),
            page["itemsPerPage"].clone(),
            page["startIndex"].clone()
        ),
        (json!(5), json!(2), json!(2)),
        "four directory users and the harness's own"
    );
    assert_eq!(
        page["Resources"][0],
        json!({"schemas": page["Resources"][0]["schemas"], "id": page["Resources"][0]["id"], "userName": "dir.carol"})
    );
    let (_, searched) = scim(
        &t,
        &token,
        Method::POST,
        "/Users/.search",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName sw \"dir.a\"", "excludedAttributes": ["emails"]
        })),
    )
    .await;
    assert_eq!(searched["totalResults"], 1);
    assert!(searched["Resources"][0].get("emails").is_none());

    let (status, error) = scim(&t, &token, Method::GET, &query(r#"userName eq"#), None).await;
    assert_eq!(
        (status, error["scimType"].clone(), error["status"].clone()),
        (400, json!("invalidFilter"), json!("400"))
    );
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("at character 11"),
        "{error}"
    );
    let (status, error) = scim(&t, &token, Method::POST, "/Users", Some(user("ADA"))).await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (409, json!("uniqueness")),
        "userName is unique case-insensitively"
    );
    let (status, error) = scim(&t, "fabs_wrong", Method::GET, "/Users", None).await;
    assert_eq!(
        (status, error["schemas"][0].clone()),
        (401, json!("urn:ietf:params:scim:api:messages:2.0:Error"))
    );
    let (status, error) = scim(
        &t,
        &token,
        Method::PATCH,
        "/Users/usr_01a2262b841c71e5ad746b1ec8c5574b",
        Some(patch(json!([{"op": "remove"}]))),
    )
    .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("noTarget")),
        "{error}"
    );
    let (status, _) = scim(
        &t,
        &token,
        Method::GET,
        "/Users/usr_01a2262b841c71e5ad746b1ec8c5574b",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_token_bound_to_an_entity_sees_only_that_entity() {
    let t = start("").await;
    let (_, acme) = scim_token(&t, Some("acme")).await;
    let (_, globex) = scim_token(&t, Some("globex")).await;
    let (_, created) = scim(&t, &acme, Method::POST, "/Users", Some(user("ada"))).await;
    let id = created["id"].as_str().unwrap();
    for method in [Method::GET, Method::DELETE] {
        let (status, _) = scim(&t, &globex, method, &format!("/Users/{id}"), None).await;
        assert_eq!(status, 404);
    }
    let (status, _) = scim(
        &t,
        &globex,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(user("ada")),
    )
    .await;
    assert_eq!(status, 404);
    let (_, list) = scim(&t, &globex, Method::GET, "/Users", None).await;
    assert_eq!(list["totalResults"], 0);
    let (status, error) = scim(
        &t,
        &globex,
        Method::POST,
        "/Groups",
        Some(json!({"displayName": "g", "members": [{"value": id}]})),
    )
    .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("invalidValue")),
        "{error}"
    );
    let (_, list) = scim(&t, &acme, Method::GET, "/Users", None).await;
    assert_eq!(
        list["totalResults"], 2,
        "the directory's user and the harness's own"
    );
}

#[tokio::test]
async fn groups_are_teams_with_members_changed_by_patch() {
    let t = start("").await;
    let (_, token) = scim_token(&t, Some("acme")).await;
    let mut ids = Vec::new();
    for name in ["ada", "bob"] {
        let (_, created) = scim(&t, &token, Method::POST, "/Users", Some(user(name))).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let (status, group) = scim(
        &t,
        &token,
        Method::POST,
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Quants", "externalId": "g-1", "members": [{"value": ids[0]}]
        })),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    let (status, group) = scim(
        &t,
        &token,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(patch(json!([
            {"op": "add", "path": "members", "value": [{"value": ids[1]}]},
            {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}
        ]))),
    )
    .await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(
        group["members"],
        json!([{"value": ids[1], "$ref": format!("{}/scim/v2/Users/{}", t.server.base_url(), ids[1]), "type": "User"}])
    );
    let (_, bob) = scim(&t, &token, Method::GET, &format!("/Users/{}", ids[1]), None).await;
    assert_eq!(bob["groups"][0]["value"], gid.as_str());
    let (_, found) = scim(
        &t,
        &token,
        Method::GET,
        "/Groups?filter=displayName%20eq%20%22quants%22",
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 1);
    let (status, _) = scim(
        &t,
        &token,
        Method::PUT,
        &format!("/Groups/{gid}"),
        Some(json!({"displayName": "Quants 2"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = scim(&t, &token, Method::DELETE, &format!("/Groups/{gid}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = scim(&t, &token, Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_entity_comes_from_the_organization_through_the_configured_map() {
    let t = start(&format!(
        "[scim]\nentity_from = \"{ENTERPRISE}:organization\"\n\n[scim.entity_map]\n\"Banque Régionale\" = \"banque-regionale\"\n"
    ))
    .await;
    let _ = t
        .admin_post(
            "/admin/v1/entities",
            json!({"slug": "banque-regionale", "name": "Banque Régionale"}),
        )
        .await;
    let (_, token) = scim_token(&t, None).await;
    let mut body = user("ada");
    body[ENTERPRISE]["organization"] = json!("Banque Régionale");
    let (status, created) = scim(&t, &token, Method::POST, "/Users", Some(body.clone())).await;
    assert_eq!(status, 201, "{created}");
    let users = t
        .get_json("/admin/v1/users?entity=banque-regionale", ADMIN_KEY)
        .await;
    assert_eq!(users["data"][0]["user_name"], "dir.ada");

    body["userName"] = json!("dir.bob");
    body[ENTERPRISE]["organization"] = json!("Filiale Inconnue");
    let (status, error) = scim(&t, &token, Method::POST, "/Users", Some(body)).await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("invalidValue"))
    );
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("Filiale Inconnue"),
        "{error}"
    );
}

#[tokio::test]
async fn discovery_describes_users_groups_and_the_enterprise_extension() {
    let t = start("").await;
    let (_, token) = scim_token(&t, Some("acme")).await;
    let (_, config) = scim(&t, &token, Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(config["patch"]["supported"], true);
    let (_, types) = scim(&t, &token, Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types["totalResults"], 2);
    let (status, schema) = scim(
        &t,
        &token,
        Method::GET,
        &format!("/Schemas/{ENTERPRISE}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "employeeNumber",
            "costCenter",
            "organization",
            "division",
            "department",
            "manager"
        ]
    );
    let (status, _) = scim(&t, &token, Method::DELETE, "/Schemas", None).await;
    assert_eq!(status, 405);
    let (status, _) = scim(&t, &token, Method::GET, "/Nothing", None).await;
    assert_eq!(status, 404);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The review's attack on the real binary, as a child process: one directory token sends filters
/// and paths nested 200,000 deep and more, and a multi-byte character where `urn:` is looked for. Each gets
/// a SCIM 400, and the server goes on answering (a stack overflow would abort it, failing this
/// test rather than the test binary).
#[tokio::test]
async fn nested_filters_and_paths_get_a_400_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fabrique.toml");
    std::fs::write(&config, "[simulator]\nembedded = true\n").unwrap();
    let server = crate::process::Serve::start(&config, &dir.path().join("data"));
    let http = reqwest::Client::new();
    let admin = |path: &str, body: Value| {
        http.post(format!("{}{path}", server.base))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
            .send()
    };
    admin(
        "/admin/v1/entities",
        json!({"slug": "acme", "name": "Acme"}),
    )
    .await
    .unwrap();
    let token: Value = admin(
        "/admin/v1/scim-tokens",
        json!({"entity": "acme", "name": "directory"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let token = token["token"].as_str().unwrap();
    let scim = |method: Method, path: &str, body: Option<String>| {
        let mut request = http
            .request(method, format!("{}/scim/v2{path}", server.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body);
        }
        async move {
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let body =
                serde_json::from_str::<Value>(&text).unwrap_or_else(|_| panic!("{status}: {text}"));
            (status, body)
        }
    };
    let n = 300_000;
    let nested = format!("{}userName eq \"x\"{}", "(".repeat(n), ")".repeat(n));
    let (status, error) = scim(
        Method::POST,
        "/Users/.search",
        Some(json!({"filter": nested}).to_string()),
    )
    .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("invalidFilter"))
    );
    // 200,000 deep, so that the body stays within the 2 MB a SCIM request may carry.
    let n = 200_000;
    let path = format!("{}value eq \"x\"{}", "emails[".repeat(n), "]".repeat(n));
    let body = patch(json!([{"op": "remove", "path": path}])).to_string();
    let (status, error) = scim(
        Method::PATCH,
        "/Users/usr_01a2262b841c71e5ad746b1ec8c5574b",
        Some(body),
    )
    .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("invalidPath"))
    );
    let (status, error) = scim(Method::GET, "/Users?filter=abc%C3%A9%20eq%20%22x%22", None).await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("invalidFilter"))
    );
    let (status, listed) = scim(Method::GET, "/Users", None).await;
    assert_eq!((status, listed["totalResults"].clone()), (200, json!(0)));
}
