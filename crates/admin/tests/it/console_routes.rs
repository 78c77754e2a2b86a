//! The routes the console's pages lean on — what a caller may do (`/permissions`), idle seats
//! reclaimed now, the audit chain verified, the GPU pools and the teams listed — asked by every role: who may,
//! who may not, and that each answer is audited.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{ADMIN_KEY, Server};

/// The callers of the table: a role, and the entity it is held over (`None`: the group).
const CALLERS: [(&str, Option<&str>, Option<&str>); 5] = [
    ("group_admin", None, Some("group_admin")),
    ("group_auditor", None, Some("auditor")),
    ("acme_admin", Some("acme"), Some("entity_admin")),
    ("acme_auditor", Some("acme"), Some("auditor")),
    ("plain_user", None, None),
];

/// A key for a new user of `acme` named `name`, holding `role` over `entity` (or the group).
async fn key_for(server: &Server, name: &str, entity: Option<&str>, role: Option<&str>) -> String {
    let (status, user) = server
        .post(
            ADMIN_KEY,
            "/admin/v1/users",
            json!({"entity": "acme", "user_name": name, "email": format!("{name}@example.test")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    if let Some(role) = role {
        let grant = json!({"user": name, "role": role, "entity": entity});
        let (status, body) = server.post(ADMIN_KEY, "/admin/v1/role-grants", grant).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, key) = server
        .post(ADMIN_KEY, "/admin/v1/keys", json!({"user_id": user["id"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key["key"].as_str().unwrap().to_owned()
}

/// The actions `/permissions` lists for `key`, each with whether it holds group-wide.
async fn permissions(server: &Server, key: &str) -> Vec<(String, bool)> {
    let (status, body) = server.get(key, "/admin/v1/permissions").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["action"].as_str().unwrap().to_owned(), p["group"] == true))
        .collect()
}

#[tokio::test]
async fn each_role_may_use_the_consoles_routes_as_the_policies_say() {
    let server = Server::start().await;
    for slug in ["acme", "globex"] {
        let entity = json!({"slug": slug, "name": slug});
        server.post(ADMIN_KEY, "/admin/v1/entities", entity).await;
    }
    // Who may (200) and who may not (403), per route, in the order of `CALLERS`.
    let table: [(&str, &str, [u16; 5]); 4] = [
        ("GET", "/admin/v1/teams", [200, 200, 200, 200, 403]),
        ("POST", "/admin/v1/seats/reclaim", [200, 403, 403, 403, 403]),
        ("POST", "/admin/v1/audit/verify", [200, 200, 403, 403, 403]),
        ("GET", "/admin/v1/pools", [200, 403, 403, 403, 403]),
    ];
    for (name, entity, role) in CALLERS {
        let key = key_for(&server, name, entity, role).await;
        let reach = permissions(&server, &key).await;
        let may = |action: &str| reach.iter().find(|(a, _)| a == action).map(|(_, g)| *g);
        for (method, path, expected) in &table {
            let column = CALLERS.iter().position(|c| c.0 == name).unwrap();
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let (status, body) = server.request(method, Some(&key), path, None).await;
            assert_eq!(status.as_u16(), expected[column], "{name} {path}: {body}");
        }
        match name {
            "group_admin" => {
                assert_eq!(may("pool_share.set"), Some(true));
                assert_eq!(may("seat.reclaim"), Some(true));
                assert_eq!(
                    may("role.grant"),
                    Some(true),
                    "decided with a role to hand out"
                );
                assert_eq!(may("role.revoke"), Some(true));
            }
            "group_auditor" => {
                assert_eq!(may("audit.read"), Some(true));
                assert_eq!(may("pool_share.set"), None, "auditors change nothing");
            }
            "acme_admin" => {
                assert_eq!(may("user.list"), Some(false), "in acme only");
                assert_eq!(may("role.grant"), Some(false), "in acme only");
                assert_eq!(may("pool_share.list"), None);
                assert_eq!(may("seat.reclaim"), None);
            }
            "acme_auditor" => {
                assert_eq!(may("audit.read"), Some(false), "in acme only");
                assert_eq!(may("key.create"), None);
            }
            _ => assert_eq!(reach, vec![], "a plain user administers nothing"),
        }
    }

    // The reclaim and the verification are audited under their caller, the refusals as denied.
    let (_, audit) = server.get(ADMIN_KEY, "/admin/v1/audit?limit=200").await;
    let events = audit["data"].as_array().unwrap();
    let count = |action: &str, outcome: &str| {
        events
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == outcome)
            .count()
    };
    assert_eq!(count("seat.reclaim", "success"), 1);
    assert_eq!(count("seat.reclaim", "denied"), 4);
    assert_eq!(count("audit.read", "success"), 2, "two verifications");
}

#[tokio::test]
async fn the_chain_verified_through_the_api_holds_and_says_what_it_checked() {
    let server = Server::start().await;
    server
        .post(
            ADMIN_KEY,
            "/admin/v1/entities",
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
    let (status, report) = server
        .request(
            reqwest::Method::POST,
            Some(ADMIN_KEY),
            "/admin/v1/audit/verify",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["problems"], json!([]));
    assert!(report["events"].as_u64().unwrap() >= 2, "{report}");
    assert_eq!(
        report["last_seq"], report["events"],
        "every event was read, numbered from 1"
    );
}

#[tokio::test]
async fn the_pools_show_each_endpoints_circuit_and_load_from_the_gateways_state() {
    let server = Server::start().await;
    let (status, pools) = server.get(ADMIN_KEY, "/admin/v1/pools").await;
    assert_eq!(status, StatusCode::OK, "{pools}");
    // No scheduler in this set-up: the pool is known from its endpoints only.
    let pool = &pools["data"][0];
    assert_eq!(pool["pool"], "default", "{pools}");
    assert_eq!(pool["scheduled"], false);
    assert_eq!(pool["queued"], serde_json::Value::Null);
    assert_eq!(
        pool["endpoints"],
        json!([{"name": "gpu", "state": "closed", "outstanding": 0, "capacity": 8, "weight": 1}])
    );
    // A failing health check is read at the next request, no lock held in between.
    server
        .endpoints
        .observe_health(domain::EndpointIdx::new(0), false);
    server
        .endpoints
        .observe_health(domain::EndpointIdx::new(0), false);
    let (_, pools) = server.get(ADMIN_KEY, "/admin/v1/pools").await;
    assert_eq!(pools["data"][0]["endpoints"][0]["state"], "open", "{pools}");
}
