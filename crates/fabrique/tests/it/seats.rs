//! Seats end to end (the license stage and `/admin/v1/seats`), on SQLite and PostgreSQL: a user without a
//! seat is refused with 403 `seat_required` and the reason before anything reaches a backend;
//! deprovisioning, an entity's suspension and the reclaim job free seats for others; the pool and reservations are set,
//! refused and reported as the rules say, and entity administrators see their own entity only.

use domain::{Role, UserId, now_millis};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::{scim, scim_token};

const DAY: i64 = 24 * 60 * 60 * 1000;

on_both_databases! {
    an_exhausted_pool_refuses_with_the_reason_and_nothing_reaches_the_backend,
    an_entity_cannot_take_seats_reserved_for_another,
    deprovisioning_frees_a_seat_for_someone_else,
    suspending_an_entity_frees_its_seats_for_the_other_entities,
    the_reclaim_job_frees_idle_seats_and_a_user_gets_one_back_on_use,
    the_pool_is_never_lowered_below_what_is_assigned,
    the_report_counts_per_entity_and_entity_administrators_see_only_theirs,
}

fn config(seats: &str) -> String {
    one_endpoint(&format!("[seats]\n{seats}"))
}

/// A server whose harness user `ada` (entity `acme`) was created first.
async fn start(database: Database, seats: &str) -> Option<TestServer> {
    TestServer::start_on(database, vec![instant_sim()], &config(seats)).await
}

async fn chat_as(t: &TestServer, key: &str) -> (u16, Value) {
    let (status, _, body) = t
        .post_with_key("/v1/chat/completions", &chat_body("mistral-small"), key)
        .await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn admin(
    t: &TestServer,
    method: Method,
    key: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = t.http.request(method, t.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn assert_seat_required(status: u16, body: &Value, reason: &str) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "seat_required", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(reason), "{message}");
}

/// The id of the user named `name`, as the admin API lists it.
async fn user_id(t: &TestServer, name: &str) -> UserId {
    let users = t.get_json("/admin/v1/users", ADMIN_KEY).await;
    users["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The figures of `entity` in a report.
fn row<'a>(report: &'a Value, entity: &str) -> &'a Value {
    report["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["entity"] == entity)
        .unwrap_or_else(|| panic!("no `{entity}` in {report}"))
}

async fn an_exhausted_pool_refuses_with_the_reason_and_nothing_reaches_the_backend(
    database: Database,
) {
    let Some(t) = start(database, "pool = 1").await else {
        return;
    };
    let (_, bob) = t.create_user_key("acme", "bob").await;
    let (status, body) = chat_as(&t, &bob).await;
    assert_seat_required(status, &body, "pool exhausted");
    assert_eq!(
        t.sims[0].0.stats().chat_requests,
        0,
        "refused before routing"
    );
    let (status, body) = chat_as(&t, &t.key.clone()).await;
    assert_eq!(status, 200, "ada holds the pool's one seat: {body}");
    let users = t.get_json("/admin/v1/users", ADMIN_KEY).await;
    let seat_of = |name: &str| {
        users["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["user_name"] == name)
            .map(|u| u["seat"].clone())
    };
    assert_eq!(seat_of("ada"), Some(json!(true)));
    assert_eq!(seat_of("bob"), Some(json!(false)));
    // The bootstrap administrator's key belongs to a service account: no seat needed.
    let (status, _, _) = t
        .post_with_key(
            "/v1/chat/completions",
            &chat_body("mistral-small"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(status, 200);
}

async fn an_entity_cannot_take_seats_reserved_for_another(database: Database) {
    let Some(t) = start(database, "pool = 3").await else {
        return;
    };
    let _ = t
        .admin_post(
            "/admin/v1/entities",
            json!({"slug": "globex", "name": "Globex"}),
        )
        .await;
    let (status, body) = admin(
        &t,
        Method::PUT,
        ADMIN_KEY,
        "/admin/v1/seats/entities/globex",
        Some(json!({"reserved": 2})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Ada (acme) holds one seat; the other two are globex's.
    let (_, carl) = t.create_user_key("acme", "carl").await;
    let (status, body) = chat_as(&t, &carl).await;
    assert_seat_required(status, &body, "entity allocation exhausted");
    let (_, gina) = t.create_user_key("globex", "gina").await;
    assert_eq!(chat_as(&t, &gina).await.0, 200);
    let (status, body) = admin(
        &t,
        Method::PUT,
        ADMIN_KEY,
        "/admin/v1/seats/entities/globex",
        Some(json!({"reserved": 4})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 3"),
        "{body}"
    );
}

async fn deprovisioning_frees_a_seat_for_someone_else(database: Database) {
    let Some(t) = start(database, "pool = 1").await else {
        return;
    };
    let (_, token) = scim_token(&t, Some("acme")).await;
    let user = |name: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "emails": [{"value": format!("{name}@example.test"), "primary": true}],
        })
    };
    let active = |active: bool| {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": active}}],
        })
    };
    let (status, bob) = scim(&t, &token, Method::POST, "/Users", Some(user("bob"))).await;
    assert_eq!(status, 201, "{bob}");
    let bob_id = bob["id"].as_str().unwrap().to_owned();
    let (_, key) = t
        .admin_post("/admin/v1/keys", json!({"user_id": bob_id}))
        .await;
    let bob_key = key["key"].as_str().unwrap().to_owned();
    let (status, body) = chat_as(&t, &bob_key).await;
    assert_seat_required(status, &body, "pool exhausted");

    // Suspending ada (created by the admin API, seen by SCIM) frees her seat for bob.
    let ada_id = user_id(&t, "ada").await;
    let path = format!("/Users/{ada_id}");
    let (status, body) = scim(&t, &token, Method::PATCH, &path, Some(active(false))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        chat_as(&t, &bob_key).await.0,
        200,
        "bob gets the freed seat"
    );

    // Ada comes back: the seat is bob's now. Deleting bob gives it back to her.
    let (status, _) = scim(&t, &token, Method::PATCH, &path, Some(active(true))).await;
    assert_eq!(status, 200);
    let (status, body) = chat_as(&t, &t.key.clone()).await;
    assert_seat_required(status, &body, "pool exhausted");
    let (status, _) = scim(
        &t,
        &token,
        Method::DELETE,
        &format!("/Users/{bob_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(chat_as(&t, &t.key.clone()).await.0, 200);

    let (_, events) = t.finish_with_audit().await;
    let seat_events: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.action.family() == domain::AuditFamily::Seat)
        .map(|e| (e.action.to_string(), e.detail.clone()))
        .collect();
    let causes: Vec<&str> = seat_events
        .iter()
        .map(|(action, detail)| {
            let cause = serde_json::from_str::<Value>(detail).unwrap()["cause"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match (action.as_str(), cause.as_str()) {
                ("seat.assign", "provisioning") => "assign at provisioning",
                ("seat.assign", "first_use") => "assign at first use",
                ("seat.release", "suspended") => "release on suspension",
                ("seat.release", "deprovisioned") => "release on deletion",
                _ => "other",
            }
        })
        .collect();
    assert_eq!(
        causes,
        [
            "assign at provisioning",
            "release on suspension",
            "assign at first use",
            "release on deletion",
            "assign at first use"
        ]
    );
}

async fn suspending_an_entity_frees_its_seats_for_the_other_entities(database: Database) {
    let Some(t) = start(database, "pool = 1").await else {
        return;
    };
    let (_, carol) = t.create_user_key("globex", "carol").await;
    assert_eq!(
        chat_as(&t, &t.key.clone()).await.0,
        200,
        "ada takes the seat"
    );
    let (status, body) = chat_as(&t, &carol).await;
    assert_seat_required(status, &body, "pool exhausted");

    let set_status = async |status: &str| {
        let (code, body) = admin(
            &t,
            Method::PUT,
            ADMIN_KEY,
            "/admin/v1/entities/acme/status",
            Some(json!({ "status": status })),
        )
        .await;
        assert_eq!(code, 200, "{body}");
    };
    set_status("suspended").await;
    let report = t.get_json("/admin/v1/seats/report", ADMIN_KEY).await;
    assert_eq!(row(&report, "acme")["assigned"], 0, "{report}");
    assert_eq!(chat_as(&t, &carol).await.0, 200, "carol gets acme's seat");

    // Back from suspension, ada gets a seat at first use only if one is free: none is.
    set_status("active").await;
    let (status, body) = chat_as(&t, &t.key.clone()).await;
    assert_seat_required(status, &body, "pool exhausted");

    let ada = user_id(&t, "ada").await.to_string();
    let (_, events) = t.finish_with_audit().await;
    let release = events
        .iter()
        .find(|e| e.action == domain::AuditAction::SeatRelease)
        .expect("the release is audited");
    assert_eq!(release.target, ada);
    assert!(release.detail.contains("entity_suspended"), "{release:?}");
    assert!(
        release.actor.starts_with("key_"),
        "the suspending admin: {release:?}"
    );
}

async fn the_reclaim_job_frees_idle_seats_and_a_user_gets_one_back_on_use(database: Database) {
    let Some(t) = start(database, "pool = 1\nreclaim_after_days = 30").await else {
        return;
    };
    let (_, bob) = t.create_user_key("acme", "bob").await;
    let ada = user_id(&t, "ada").await;
    assert!(t.server.seats.holds(ada));
    // Ada never used her seat; 29 days on she keeps it, 31 days on it is reclaimed.
    let now = now_millis();
    assert_eq!(t.server.seats.reclaim(now + 29 * DAY).await, 0);
    let report = t.get_json("/admin/v1/seats/report", ADMIN_KEY).await;
    assert_eq!(row(&report, "acme")["reclaimable"], 0);
    assert_eq!(t.server.seats.reclaim(now + 31 * DAY).await, 1);
    assert!(!t.server.seats.holds(ada));
    assert_eq!(
        chat_as(&t, &bob).await.0,
        200,
        "the reclaimed seat is free for bob"
    );
    let (status, body) = chat_as(&t, &t.key.clone()).await;
    assert_seat_required(status, &body, "pool exhausted");
    let (_, events) = t.finish_with_audit().await;
    let reclaim = events
        .iter()
        .find(|e| e.action == domain::AuditAction::SeatReclaim)
        .expect("the reclaim is audited");
    assert_eq!(reclaim.actor, "system");
    assert_eq!(reclaim.target, ada.to_string());
}

async fn the_pool_is_never_lowered_below_what_is_assigned(database: Database) {
    let Some(t) = start(database, "").await else {
        return;
    };
    t.create_user_key("acme", "bob").await;
    let (status, body) = admin(&t, Method::GET, ADMIN_KEY, "/admin/v1/seats/pool", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["size"], Value::Null, "unlimited by default: {body}");
    assert_eq!(body["assigned"], 2);
    let (status, body) = admin(
        &t,
        Method::PUT,
        ADMIN_KEY,
        "/admin/v1/seats/pool",
        Some(json!({"size": 1})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("2 seats are assigned"), "{message}");
    let (status, body) = admin(
        &t,
        Method::PUT,
        ADMIN_KEY,
        "/admin/v1/seats/pool",
        Some(json!({"size": 2})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["size"], 2);
    // Bad input is a 400 naming the problem, not a panic.
    let (status, body) = admin(
        &t,
        Method::PUT,
        ADMIN_KEY,
        "/admin/v1/seats/pool",
        Some(json!({"size": -3})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (_, events) = t.finish_with_audit().await;
    let pool_changes: Vec<Value> = events
        .iter()
        .filter(|e| e.action == domain::AuditAction::SeatPoolSet)
        .map(|e| serde_json::from_str(&e.detail).unwrap())
        .collect();
    assert_eq!(pool_changes, [json!({"previous": null, "size": 2})]);
}

async fn the_report_counts_per_entity_and_entity_administrators_see_only_theirs(
    database: Database,
) {
    let Some(t) = start(database, "pool = 10").await else {
        return;
    };
    for (slug, reserved) in [("acme", 3), ("globex", 2)] {
        let _ = t
            .admin_post("/admin/v1/entities", json!({"slug": slug, "name": slug}))
            .await;
        let path = format!("/admin/v1/seats/entities/{slug}");
        let (status, body) = admin(
            &t,
            Method::PUT,
            ADMIN_KEY,
            &path,
            Some(json!({"reserved": reserved})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(chat_as(&t, &t.key.clone()).await.0, 200, "ada is active");
    t.create_user_key("acme", "bob").await;
    t.create_user_key("globex", "gina").await;

    let report = t.get_json("/admin/v1/seats/report", ADMIN_KEY).await;
    assert_eq!(report["group"]["size"], 10);
    assert_eq!(report["group"]["assigned"], 3);
    assert_eq!(report["group"]["reserved"], 5);
    let acme = row(&report, "acme");
    assert_eq!(
        (
            &acme["pool"],
            &acme["reserved"],
            &acme["assigned"],
            &acme["active_7_days"],
            &acme["active_30_days"],
            &acme["reclaimable"]
        ),
        (
            &json!(10),
            &json!(3),
            &json!(2),
            &json!(1),
            &json!(1),
            &json!(0)
        )
    );
    let globex = row(&report, "globex");
    assert_eq!(
        (&globex["assigned"], &globex["active_30_days"]),
        (&json!(1), &json!(0))
    );

    // An administrator of acme: acme's figures, nothing of globex's, no pool changes.
    let bob_id = user_id(&t, "bob").await.to_string();
    t.grant_role(&bob_id, Role::EntityAdmin, Some("acme")).await;
    let (_, entity_admin) = t.create_key_for(&bob_id).await;
    let (status, mine) = admin(
        &t,
        Method::GET,
        &entity_admin,
        "/admin/v1/seats/report",
        None,
    )
    .await;
    assert_eq!(status, 200, "{mine}");
    let entities: Vec<&Value> = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["entity"])
        .collect();
    assert_eq!(entities, [&json!("acme")]);
    assert!(mine.get("group").is_none(), "no group totals: {mine}");
    assert_eq!(row(&mine, "acme")["assigned"], 2);
    // Another entity's report looks like a missing one; the group's figures are refused.
    for (method, path, body, expected) in [
        (
            Method::GET,
            "/admin/v1/seats/report?entity=globex",
            None,
            404,
        ),
        (Method::GET, "/admin/v1/seats/pool", None, 403),
        (
            Method::PUT,
            "/admin/v1/seats/pool",
            Some(json!({"size": 100})),
            403,
        ),
        (
            Method::PUT,
            "/admin/v1/seats/entities/acme",
            Some(json!({"reserved": 9})),
            403,
        ),
    ] {
        let (status, body) = admin(&t, method, &entity_admin, path, body).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    let (_, events) = t.finish_with_audit().await;
    assert!(
        events
            .iter()
            .any(|e| e.action == domain::AuditAction::SeatRead
                && e.outcome == domain::Outcome::Denied),
        "the refused read is audited"
    );
    let reservations = events
        .iter()
        .filter(|e| {
            e.action == domain::AuditAction::SeatReservationSet
                && e.outcome == domain::Outcome::Success
        })
        .count();
    assert_eq!(reservations, 2);
}

/// `fabrique admin seats …` against a live server: output is the API's JSON, a refusal one line.
#[tokio::test]
async fn the_cli_sets_the_pool_reserves_and_reports() {
    let t = start(Database::Sqlite, "").await.unwrap();
    let url = t.server.base_url();
    let cli = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fabrique"));
        command
            .args(["admin", "--url", &url, "--key", ADMIN_KEY, "seats"])
            .args(args);
        async move {
            tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap()
        }
    };
    let refused = cli(&["pool", "set", "0"]).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with(
            "error: 409 conflict: the pool cannot be set to 0 seats: 1 seats are assigned"
        ),
        "{stderr}"
    );
    let set = cli(&["pool", "set", "5"]).await;
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let reserved = cli(&["reserve", "--entity", "acme", "2"]).await;
    assert!(
        reserved.status.success(),
        "{}",
        String::from_utf8_lossy(&reserved.stderr)
    );
    let report = cli(&["report", "--entity", "acme"]).await;
    assert!(report.status.success());
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(row(&report, "acme")["pool"], 5);
    assert_eq!(row(&report, "acme")["reserved"], 2);
    assert_eq!(row(&report, "acme")["assigned"], 1);
    let unlimited = cli(&["pool", "set", "unlimited"]).await;
    assert!(unlimited.status.success());
    let bad = cli(&["pool", "set", "many"]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a number of seats"));
}
