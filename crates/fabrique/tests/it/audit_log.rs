//! `GET /admin/v1/audit`: auditors query the trail by entity, actor, action, outcome and time, page
//! by page, and an entity's auditors see their entity's events only.

use domain::Role;
use serde_json::{Value, json};

use crate::harness::{ADMIN_KEY, TestServer, instant_sim, one_endpoint};

fn actions(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn entity_id(t: &TestServer, slug: &str) -> String {
    let entity = t.entity(slug).await;
    entity.id.to_string()
}

#[tokio::test]
async fn events_are_filtered_by_entity_actor_action_outcome_and_time() {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint("")).await;
    let (auditor_key_id, auditor) = t
        .create_role_key("acme", "audrey", Role::Auditor, true)
        .await;
    t.create_user_key("beta", "bob").await;
    let beta = entity_id(&t, "beta").await;

    // Beta's user events only.
    let (status, page) = t
        .get_with_key("/admin/v1/audit?entity=beta&action=user", ADMIN_KEY)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(actions(&page), ["user.create"]);
    assert_eq!(page["data"][0]["entity_id"], beta);

    // A family of actions, and one action.
    let (_, keys) = t
        .get_with_key("/admin/v1/audit?action=key", ADMIN_KEY)
        .await;
    assert!(
        actions(&keys).iter().all(|a| a.starts_with("key.")),
        "{keys}"
    );
    assert_eq!(
        actions(&keys).len(),
        4,
        "the bootstrap key, ada's, audrey's, bob's: {keys}"
    );
    let (_, created) = t
        .get_with_key("/admin/v1/audit?type=entity.create", ADMIN_KEY)
        .await;
    assert_eq!(actions(&created), ["entity.create", "entity.create"]);

    // The auditor reads acme's trail; reading beta's is refused as if it did not exist, and the
    // refusal is itself on the trail, under the auditor's name and outcome `denied`.
    let (status, own) = t.get_with_key("/admin/v1/audit?limit=1000", &auditor).await;
    assert_eq!(status, 200, "{own}");
    let acme = entity_id(&t, "acme").await;
    assert!(!own["data"].as_array().unwrap().is_empty());
    assert!(
        own["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["entity_id"] == acme.as_str()),
        "{own}"
    );
    let (status, foreign) = t
        .get_with_key("/admin/v1/audit?entity=beta", &auditor)
        .await;
    assert_eq!(status, 404, "{foreign}");
    let (_, denied) = t
        .get_with_key(
            &format!("/admin/v1/audit?actor={auditor_key_id}&outcome=denied"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(actions(&denied), ["audit.read"], "{denied}");
    assert_eq!(denied["data"][0]["entity_id"], beta);

    // Time: nothing before 2000, everything since.
    let (_, old) = t
        .get_with_key("/admin/v1/audit?to=2000-01-01", ADMIN_KEY)
        .await;
    assert_eq!(old["data"], json!([]));
    let (_, all) = t
        .get_with_key("/admin/v1/audit?from=2000-01-01&limit=1000", ADMIN_KEY)
        .await;
    let (_, unfiltered) = t
        .get_with_key("/admin/v1/audit?limit=1000", ADMIN_KEY)
        .await;
    assert_eq!(all["data"], unfiltered["data"]);

    // Pages of two, newest first, until `next_before` runs out: every event once.
    let mut seen = Vec::new();
    let mut path = "/admin/v1/audit?limit=2".to_owned();
    loop {
        let (status, page) = t.get_with_key(&path, ADMIN_KEY).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap()),
        );
        match page["next_before"].as_u64() {
            Some(before) => path = format!("/admin/v1/audit?limit=2&before={before}"),
            None => break,
        }
    }
    let everything: Vec<u64> = unfiltered["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seen, everything);
    t.finish().await;
}

#[tokio::test]
async fn malformed_filters_are_named() {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint("")).await;
    for (query, field) in [
        ("action=key%25", "action"),
        ("action=kye.create", "action"),
        ("action=keys", "action"),
        ("actor=a%20b", "actor"),
        ("outcome=maybe", "outcome"),
        ("from=yesterday", "from"),
        ("limit=0", "limit"),
        ("entity=Not%20A%20Slug", "entity"),
        ("before=9223372036854775808", "before"),
    ] {
        let (status, body) = t
            .get_with_key(&format!("/admin/v1/audit?{query}"), ADMIN_KEY)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["param"], field, "{query}: {body}");
    }
    let (status, body) = t
        .get_with_key(
            "/admin/v1/audit/checkpoints?from=9223372036854775808",
            ADMIN_KEY,
        )
        .await;
    assert_eq!(
        (status, &body["error"]["param"]),
        (400, &json!("from")),
        "{body}"
    );
    let (status, body) = t
        .get_with_key("/admin/v1/audit?entity=nowhere", ADMIN_KEY)
        .await;
    assert_eq!(status, 404, "{body}");
    t.finish().await;
}
