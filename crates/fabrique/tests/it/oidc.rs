//! Sign-in end to end: a real `fabrique serve` configured with `[oidc]` against the tests' own
//! identity provider (`oidc::testing::TestIssuer`) on loopback. Access tokens on the inference API,
//! every refusal with its reason, key rotation, and the browser's authorization-code flow with
//! PKCE driven by hand with reqwest.

use ::oidc::testing::{API_AUDIENCE, TestIssuer, TestKey};
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::{scim, scim_token};

const CLIENT_ID: &str = "fabrique";
/// Where the provider sends the browser back. Never reached as such: the test, playing the browser,
/// takes the code and state from this redirect and brings them to the server's real callback.
const REDIRECT_URL: &str = "http://127.0.0.1:9/auth/callback";

/// The provider, then a server trusting it; the harness user `ada` (entity `acme`) exists.
pub(crate) async fn start() -> (TestIssuer, TestServer) {
    start_with("", "").await
}

/// [`start`], with more configuration: `before` ahead of `[oidc]`, `oidc` inside it.
async fn start_with(before: &str, oidc: &str) -> (TestIssuer, TestServer) {
    start_on(vec![instant_sim()], &one_endpoint(before), oidc).await
}

/// The provider, then a server trusting it on `backends`, configured with `config` (endpoints,
/// models, anything ahead of `[oidc]`; `{sim0}`… name the backends) and `oidc` inside `[oidc]`.
pub(crate) async fn start_on(
    backends: Vec<sim::SimConfig>,
    config: &str,
    oidc: &str,
) -> (TestIssuer, TestServer) {
    let started = start_on_database(Database::Sqlite, backends, config, oidc).await;
    started.expect("SQLite is always there")
}

/// [`start_on`], on `database`; `None`, after saying so, for PostgreSQL when
/// `FABRIQUE_TEST_POSTGRES_URL` is not set.
pub(crate) async fn start_on_database(
    database: Database,
    backends: Vec<sim::SimConfig>,
    config: &str,
    oidc: &str,
) -> Option<(TestIssuer, TestServer)> {
    let issuer = TestIssuer::start(CLIENT_ID).await;
    let config = format!(
        r#"
{config}

[[entities]]
slug = "acme"
name = "Acme"

[oidc]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
redirect_url = "{REDIRECT_URL}"
audiences = ["{API_AUDIENCE}"]
default_entity = "acme"
jit_provisioning = true
jwks_min_refetch_secs = 0
{oidc}
"#,
        issuer = issuer.issuer()
    );
    let server = TestServer::start_on(database, backends, &config).await?;
    Some((issuer, server))
}

/// Signs `user_name` in through the code flow, as a browser would; returns the session cookie as
/// a `Cookie` header value (`name=value`).
pub(crate) async fn browser_session(
    issuer: &TestIssuer,
    t: &TestServer,
    user_name: &str,
) -> String {
    sign_in(t, issuer, user_name).await
}

async fn chat_with_token(t: &TestServer, token: &str) -> (u16, Value) {
    let (status, _, body) = t
        .post_with_key("/v1/chat/completions", &chat_body("mistral-small"), token)
        .await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn assert_refused(status: u16, body: &Value, reason: &str) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "invalid_token", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("({reason})")), "{message}");
}

#[tokio::test]
async fn a_valid_access_token_is_accepted_on_the_inference_api() {
    let (issuer, t) = start().await;
    let (status, body) = chat_with_token(&t, &issuer.token("ada")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(t.sims[0].0.stats().chat_requests, 1);
    let records = t.finish().await;
    let ada = records.last().unwrap();
    assert!(ada.user_id.is_some() && ada.key_id.is_none(), "{ada:?}");
}

#[tokio::test]
async fn expired_wrongly_signed_wrong_audience_and_wrong_issuer_tokens_are_refused_with_the_reason()
{
    let (issuer, t) = start().await;
    let mut expired = issuer.claims("ada");
    expired["exp"] = json!(expired["iat"].as_u64().unwrap() - 3600);
    expired["nbf"] = json!(expired["iat"].as_u64().unwrap() - 7200);
    let (status, body) = chat_with_token(&t, &issuer.sign(&expired)).await;
    assert_refused(status, &body, "expired");

    // Signed by a key the issuer never published, under the published key's id.
    let forged = TestKey::rsa(&issuer.current_key().kid).sign(&issuer.claims("ada"));
    let (status, body) = chat_with_token(&t, &forged).await;
    assert_refused(status, &body, "bad_signature");

    let mut audience = issuer.claims("ada");
    audience["aud"] = json!("another-service");
    let (status, body) = chat_with_token(&t, &issuer.sign(&audience)).await;
    assert_refused(status, &body, "wrong_audience");

    let mut other_issuer = issuer.claims("ada");
    other_issuer["iss"] = json!("https://login.elsewhere.example");
    let (status, body) = chat_with_token(&t, &issuer.sign(&other_issuer)).await;
    assert_refused(status, &body, "wrong_issuer");

    assert_eq!(t.sims[0].0.stats().chat_requests, 0, "nothing was sent");
}

#[tokio::test]
async fn after_the_issuer_rotates_its_keys_new_tokens_are_accepted_and_retired_keys_refused() {
    let (issuer, t) = start().await;
    let old_token = issuer.token("ada");
    assert_eq!(chat_with_token(&t, &old_token).await.0, 200);
    let fetches = issuer.jwks_fetches();

    issuer.publish(TestKey::ec("ec-2"));
    issuer.unpublish("rsa-1");
    let (status, body) = chat_with_token(&t, &issuer.token("ada")).await;
    assert_eq!(status, 200, "signed by the new key: {body}");
    assert!(
        issuer.jwks_fetches() > fetches,
        "the unknown key id made Fabrique refetch"
    );

    // A token signed with a key the issuer no longer publishes is refused once keys are refetched.
    let retired = TestKey::rsa("rsa-1").sign(&issuer.claims("ada"));
    let (status, body) = chat_with_token(&t, &retired).await;
    assert_eq!(status, 401, "{body}");
}

/// A browser that follows no redirects: the tests read each one.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> reqwest::Url {
    let value = response.headers()[LOCATION].to_str().unwrap();
    reqwest::Url::parse(value).unwrap()
}

/// The `name=value` of the response's `Set-Cookie` named `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// Plays the browser through `/auth/login` and the provider, up to (not including) the callback:
/// the callback's path and query, and the cookies `/auth/login` set.
async fn start_sign_in(t: &TestServer, issuer: &TestIssuer) -> (String, Vec<String>) {
    let browser = browser();
    let login = browser.get(t.url("/auth/login")).send().await.unwrap();
    assert_eq!(login.status().as_u16(), 303);
    let cookies: Vec<String> = login
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let authorize = location(&login);
    assert!(
        authorize.as_str().starts_with(issuer.issuer()),
        "{authorize}"
    );
    let params: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["redirect_uri"], REDIRECT_URL);
    let approved = browser.get(authorize).send().await.unwrap();
    assert_eq!(approved.status().as_u16(), 303);
    let back = location(&approved);
    assert_eq!(back.path(), "/auth/callback");
    (format!("/auth/callback?{}", back.query().unwrap()), cookies)
}

/// Brings the callback to the server with `cookies`.
async fn callback(t: &TestServer, callback: &str, cookies: &[String]) -> reqwest::Response {
    let mut request = browser().get(t.url(callback));
    if !cookies.is_empty() {
        request = request.header(COOKIE, cookies.join("; "));
    }
    request.send().await.unwrap()
}

/// Signs `user_name` in through the provider; the session cookie (`name=value`).
async fn sign_in(t: &TestServer, issuer: &TestIssuer, user_name: &str) -> String {
    issuer.set_sign_in_claims(
        json!({"sub": format!("sub-{user_name}"), "preferred_username": user_name}),
    );
    let (path, cookies) = start_sign_in(t, issuer).await;
    let signed_in = callback(t, &path, &cookies).await;
    assert_eq!(
        signed_in.status().as_u16(),
        303,
        "{:?}",
        signed_in.text().await
    );
    set_cookie(&signed_in, ::oidc::COOKIE_NAME).expect("a session cookie")
}

/// `GET /auth/me` with the session cookie: its status and answer.
async fn me(t: &TestServer, cookie: &str) -> (u16, Value) {
    let response = browser()
        .get(t.url("/auth/me"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn the_code_flow_with_pkce_signs_in_and_the_session_cookie_says_who() {
    let (issuer, t) = start().await;
    issuer.set_sign_in_claims(json!({"sub": "sub-ada", "preferred_username": "ada"}));
    let (path, cookies) = start_sign_in(&t, &issuer).await;
    let signed_in = callback(&t, &path, &cookies).await;
    assert_eq!(signed_in.status().as_u16(), 303);
    assert_eq!(issuer.token_requests(), 1);
    let header = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(::oidc::COOKIE_NAME))
        .unwrap();
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Lax"),
        "{header}"
    );
    let cookie = set_cookie(&signed_in, ::oidc::COOKIE_NAME).unwrap();

    let (status, me) = me(&t, &cookie).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user_name"], "ada", "{me}");
    assert_eq!(me["entity"]["slug"], "acme");

    // The admin API takes explicit credentials only: there, the cookie alone is no caller.
    let admin = browser()
        .get(t.url("/admin/v1/audit"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status().as_u16(), 401);

    // The session works on the API too; the same callback cannot be replayed.
    let chat = browser()
        .post(t.url("/v1/chat/completions"))
        .header(COOKIE, &cookie)
        .json(&chat_body("mistral-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status().as_u16(), 200);
    // The callback cannot be replayed: without the flow's cookie (which the answer cleared) its
    // state is refused, and with it the provider refuses the used code.
    let replayed = callback(&t, &path, &[]).await;
    assert_eq!(replayed.status().as_u16(), 400);
    let replayed = callback(&t, &path, &cookies).await;
    assert_ne!(replayed.status().as_u16(), 303);
}

#[tokio::test]
async fn a_flood_of_anonymous_sign_in_starts_locks_nobody_out() {
    let (issuer, t) = start().await;
    let browser = browser();
    for _ in 0..10_000 {
        let login = browser.get(t.url("/auth/login")).send().await.unwrap();
        assert_eq!(login.status().as_u16(), 303);
    }
    let cookie = sign_in(&t, &issuer, "ada").await;
    assert_eq!(me(&t, &cookie).await.0, 200);
}

#[tokio::test]
async fn the_callback_accepts_a_state_only_from_the_browser_that_started_the_flow() {
    let (issuer, t) = start().await;
    issuer.set_sign_in_claims(json!({"sub": "sub-ada", "preferred_username": "ada"}));
    // The attacker starts a flow and signs in as himself at the provider; the victim's browser is
    // sent his callback link, without his flow cookie, or with a flow of her own.
    let (attackers_callback, attackers_cookies) = start_sign_in(&t, &issuer).await;
    let (_, victims_cookies) = start_sign_in(&t, &issuer).await;
    for cookies in [Vec::new(), victims_cookies] {
        let response = callback(&t, &attackers_callback, &cookies).await;
        assert_eq!(response.status().as_u16(), 400);
        assert!(set_cookie(&response, ::oidc::COOKIE_NAME).is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_state", "{body}");
    }
    assert_eq!(issuer.token_requests(), 0, "no code was exchanged");
    // The flow cookie is sealed: its state is not readable, and it lives ten minutes on /auth.
    let flow = &attackers_cookies[0];
    assert!(
        flow.starts_with(&format!("{}=", ::oidc::FLOW_COOKIE)),
        "{flow}"
    );
    assert!(!flow.contains(attackers_callback.split("state=").nth(1).unwrap_or("-")));
    let response = callback(&t, &attackers_callback, &attackers_cookies).await;
    assert_eq!(response.status().as_u16(), 303);
}

#[tokio::test]
async fn administrators_list_and_end_web_sessions_and_a_rename_ends_them_too() {
    let (issuer, t) = start().await;
    let first = sign_in(&t, &issuer, "ada").await;
    let second = sign_in(&t, &issuer, "ada").await;
    let (status, listed) = t
        .get_with_key("/admin/v1/sessions?entity=acme", ADMIN_KEY)
        .await;
    assert_eq!(status, 200, "{listed}");
    let sessions = listed["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert_eq!(sessions[0]["user_name"], "ada");
    assert_eq!(sessions[0]["method"], "provider");
    assert!(
        !listed
            .to_string()
            .contains(first.split('=').nth(1).unwrap())
    );

    // One session ended: its browser is signed out at once, the other stays signed in.
    let id = sessions[0]["id"].as_str().unwrap();
    let (status, ended) = call(
        &t,
        Method::DELETE,
        &format!("/admin/v1/sessions/{id}"),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(
        (status, ended["revoked"].clone()),
        (200, json!(true)),
        "{ended}"
    );
    assert_eq!(me(&t, &first).await.0, 401);
    assert_eq!(me(&t, &second).await.0, 200);

    // All of a user's, by name.
    let (status, ended) = call(
        &t,
        Method::DELETE,
        "/admin/v1/users/ada/sessions",
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(
        (status, ended["revoked"].clone()),
        (200, json!(1)),
        "{ended}"
    );
    assert_eq!(me(&t, &second).await.0, 401);

    // The directory renames ada: her session ends, and the name taken again inherits nothing.
    let third = sign_in(&t, &issuer, "ada").await;
    let (token, ada) = scim_token_and_ada(&t).await;
    let rename = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "userName", "value": "ada.lovelace"}],
    });
    let (status, body) = scim(
        &t,
        &token,
        Method::PATCH,
        &format!("/Users/{ada}"),
        Some(rename),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(me(&t, &third).await.0, 401);

    let (_, audit) = call(
        &t,
        Method::GET,
        "/admin/v1/audit?action=session.revoke",
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 2, "{audit}");
}

#[tokio::test]
async fn a_suspended_user_s_token_is_refused_for_want_of_a_seat() {
    let (issuer, t) = start().await;
    let (token, ada) = scim_token_and_ada(&t).await;
    let suspend = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}],
    });
    let (status, body) = scim(
        &t,
        &token,
        Method::PATCH,
        &format!("/Users/{ada}"),
        Some(suspend),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = chat_with_token(&t, &issuer.token("ada")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "seat_required");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user suspended")
    );
}

#[tokio::test]
async fn roles_mapped_from_the_providers_groups_act_on_the_admin_api_over_their_scope() {
    let (issuer, t) = start_with(
        r#"
[[entities]]
slug = "globex"
name = "Globex"
"#,
        r#"roles_claim = "groups"
role_map = { "audit" = "auditor", "audit-all" = { role = "auditor", scope = "group" } }"#,
    )
    .await;
    let token_in = |groups: Value| {
        let mut claims = issuer.claims("ada");
        claims["groups"] = groups;
        issuer.sign(&claims)
    };

    // Ada (of acme) mapped to a group-wide auditor reads every entity's audit trail…
    let group_auditor = token_in(json!(["audit-all"]));
    assert_eq!(audit_status(&t, "globex", &group_auditor).await, 200);
    assert_eq!(audit_status(&t, "acme", &group_auditor).await, 200);
    // …and still changes nothing.
    let (created, _, body) = t
        .post_with_key(
            "/admin/v1/users",
            &json!({"entity": "globex", "user_name": "mallory", "email": "mallory@globex.test"}),
            &group_auditor,
        )
        .await;
    assert_eq!(created, 403, "{body}");

    // Mapped to an auditor of her entity, she reads acme's trail only; globex's is not found.
    let entity_auditor = token_in(json!(["audit"]));
    assert_eq!(audit_status(&t, "acme", &entity_auditor).await, 200);
    assert_eq!(audit_status(&t, "globex", &entity_auditor).await, 404);

    // Without a mapped group she is a plain user, refused; an expired token says why.
    assert_eq!(audit_status(&t, "acme", &issuer.token("ada")).await, 403);
    let mut expired = issuer.claims("ada");
    expired["groups"] = json!(["audit-all"]);
    expired["exp"] = json!(1);
    let (refused, body) = t
        .get_with_key("/admin/v1/audit?entity=acme", &issuer.sign(&expired))
        .await;
    assert_eq!(refused, 401, "{body}");
    assert_eq!(body["error"]["code"], "invalid_token", "{body}");
}

/// An acme SCIM token, and ada's id as SCIM shows it.
async fn scim_token_and_ada(t: &TestServer) -> (String, String) {
    let (_, token) = scim_token(t, Some("acme")).await;
    let (_, found) = scim(
        t,
        &token,
        Method::GET,
        "/Users?filter=userName%20eq%20%22ada%22",
        None,
    )
    .await;
    let ada = found["Resources"][0]["id"].as_str().unwrap().to_owned();
    (token, ada)
}

/// The status of `GET /admin/v1/audit?entity=` with `token` as the bearer.
async fn audit_status(t: &TestServer, entity: &str, token: &str) -> u16 {
    let path = format!("/admin/v1/audit?entity={entity}");
    t.get_with_key(&path, token).await.0
}

/// [`start_with`] with a second entity, `globex`, and `oidc` inside `[oidc]`.
async fn start_with_globex(oidc: &str) -> (TestIssuer, TestServer) {
    start_with(
        r#"
[[entities]]
slug = "globex"
name = "Globex"
"#,
        oidc,
    )
    .await
}

/// A token for `user_name` with `sub` as its subject.
fn token_of(issuer: &TestIssuer, user_name: &str, sub: &str) -> String {
    let mut claims = issuer.claims(user_name);
    claims["sub"] = json!(sub);
    issuer.sign(&claims)
}

/// Creates `user_name` in `entity` through the admin API with `key`; returns the user's id.
async fn create_user_as(t: &TestServer, key: &str, entity: &str, user_name: &str) -> String {
    let (status, _, body) = t
        .post_with_key(
            "/admin/v1/users",
            &json!({"entity": entity, "user_name": user_name, "email": format!("{user_name}@example.test")}),
            key,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_name_registered_in_another_entity_cannot_capture_a_person_s_sign_in() {
    let (issuer, t) = start_with_globex(r#"entity_claim = "entity""#).await;
    // Globex's administrator registers Carol, an employee of Acme, before Acme provisions her.
    let (_, globex_admin) = t
        .create_role_key("globex", "gus", domain::Role::EntityAdmin, true)
        .await;
    create_user_as(&t, &globex_admin, "globex", "carol").await;

    let mut claims = issuer.claims("carol");
    claims["entity"] = json!("acme");
    let (status, body) = chat_with_token(&t, &issuer.sign(&claims)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "entity_mismatch", "{body}");
    assert_eq!(t.sims[0].0.stats().chat_requests, 0, "nothing was served");
    let records = t.finish().await;
    assert!(
        records
            .iter()
            .all(|r| r.user_id.is_none() || r.key_id.is_some()),
        "no request was charged to the squatted account: {records:?}"
    );
}

#[tokio::test]
async fn a_user_of_a_suspended_entity_is_refused_whatever_entity_her_token_would_give() {
    let (issuer, t) = start_with_globex("").await;
    // Created through the admin API in globex; her token names no entity, so the default
    // entity, acme (active), is what a new user would join.
    create_user_as(&t, ADMIN_KEY, "globex", "dora").await;
    let (status, body) = t.set_entity_status("globex", "suspended").await;
    assert_eq!(status, 200, "{body}");

    // Edna is stored but not in this server's index, as when another replica created her: her
    // first sign-in finds her as she is stored, in her own (suspended) entity.
    let globex = t.entity("globex").await;
    let audit = domain::AuditEvent::system(domain::AuditAction::UserCreate, "{}".to_owned());
    let new = store::NewUser {
        entity_id: globex.id,
        user_name: "edna".into(),
        email: "edna@example.test".into(),
        display_name: None,
        external_id: None,
    };
    t.server.store.create_user(&new, &audit).await.unwrap();

    for user in ["dora", "edna"] {
        let (status, body) = chat_with_token(&t, &issuer.token(user)).await;
        assert_eq!(status, 403, "{user}: {body}");
        assert_eq!(body["error"]["code"], "seat_required", "{body}");
    }
    assert_eq!(t.sims[0].0.stats().chat_requests, 0, "nothing was served");
}

#[tokio::test]
async fn a_user_is_bound_to_the_provider_s_subject_at_first_sign_in() {
    let (issuer, t) = start().await;
    // Ada was created through the admin API: her first sign-in binds her to `sub-ada`.
    let (status, body) = chat_with_token(&t, &token_of(&issuer, "ada", "sub-ada")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = chat_with_token(&t, &token_of(&issuer, "ada", "sub-mallory")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "subject_mismatch", "{body}");

    // A user provisioned at first sign-in is bound at once.
    let (status, body) = chat_with_token(&t, &token_of(&issuer, "nina", "sub-nina")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = chat_with_token(&t, &token_of(&issuer, "nina", "sub-other")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "subject_mismatch", "{body}");

    // The binding survives a restart, and was audited.
    let t = t.restart().await;
    let (status, body) = chat_with_token(&t, &token_of(&issuer, "ada", "sub-mallory")).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = chat_with_token(&t, &token_of(&issuer, "ada", "sub-ada")).await;
    assert_eq!(status, 200, "{body}");
    let (_, events) = t.finish_with_audit().await;
    let bound: Vec<_> = events
        .iter()
        .filter(|e| e.action == domain::AuditAction::UserBind)
        .collect();
    assert_eq!(
        bound.len(),
        1,
        "ada's first sign-in; nina was bound at creation"
    );
    assert!(bound[0].detail.contains("sub-ada"), "{}", bound[0].detail);
}

#[tokio::test]
async fn a_bound_user_renamed_by_the_directory_signs_in_as_herself() {
    let (issuer, t) = start().await;
    assert_eq!(
        chat_with_token(&t, &token_of(&issuer, "ada", "sub-ada"))
            .await
            .0,
        200
    );
    let (token, ada) = scim_token_and_ada(&t).await;
    let rename = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "userName", "value": "ada.lovelace"}],
    });
    let (status, body) = scim(
        &t,
        &token,
        Method::PATCH,
        &format!("/Users/{ada}"),
        Some(rename),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = chat_with_token(&t, &token_of(&issuer, "ada.lovelace", "sub-ada")).await;
    assert_eq!(status, 200, "{body}");
    let records = t.finish().await;
    let served: Vec<_> = records.iter().filter(|r| r.key_id.is_none()).collect();
    assert_eq!(served.len(), 2, "{served:?}");
    assert!(
        served
            .iter()
            .all(|r| r.user_id.map(|u| u.to_string()) == Some(ada.clone()))
    );
}

#[tokio::test]
async fn an_id_token_is_no_bearer_on_the_inference_or_the_admin_api() {
    let (issuer, t) = start().await;
    // What the provider hands the web sign-in: audience the client itself.
    let mut id_token = issuer.claims("ada");
    id_token["aud"] = json!(CLIENT_ID);
    id_token["nonce"] = json!("n-0S6_WzA2Mj");
    let id_token = issuer.sign(&id_token);
    let (status, body) = chat_with_token(&t, &id_token).await;
    assert_refused(status, &body, "wrong_audience");
    let (status, body) = t.get_with_key("/admin/v1/audit", &id_token).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(t.sims[0].0.stats().chat_requests, 0, "nothing was served");
}

#[tokio::test]
async fn access_tokens_may_be_held_to_their_type_and_to_the_clients_they_were_issued_to() {
    let (issuer, t) = start_with(
        "",
        r#"require_access_token_type = true
authorized_parties = ["fabrique", "fabrique-cli"]"#,
    )
    .await;
    let (status, body) = chat_with_token(&t, &issuer.token("ada")).await;
    assert_eq!(status, 200, "{body}");

    // The same claims under `typ: JWT`, as ID tokens are typed.
    let untyped = issuer.current_key().sign(&issuer.claims("ada"));
    let (status, body) = chat_with_token(&t, &untyped).await;
    assert_refused(status, &body, "not_an_access_token");

    let mut elsewhere = issuer.claims("ada");
    elsewhere["azp"] = json!("another-app");
    let (status, body) = chat_with_token(&t, &issuer.sign(&elsewhere)).await;
    assert_refused(status, &body, "unauthorized_party");
    // RFC 9068's `client_id` names the client when `azp` is absent.
    let mut cli = issuer.claims("ada");
    cli.as_object_mut().unwrap().remove("azp");
    cli["client_id"] = json!("fabrique-cli");
    assert_eq!(chat_with_token(&t, &issuer.sign(&cli)).await.0, 200);
}

#[tokio::test]
async fn without_an_api_audience_only_web_sign_in_is_on() {
    let issuer = TestIssuer::start(CLIENT_ID).await;
    let config = one_endpoint(&format!(
        r#"
[[entities]]
slug = "acme"
name = "Acme"
[oidc]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
redirect_url = "{REDIRECT_URL}"
"#,
        issuer = issuer.issuer()
    ));
    let t = TestServer::start(vec![instant_sim()], &config).await;
    let (status, body) = chat_with_token(&t, &issuer.token("ada")).await;
    assert_refused(status, &body, "access_tokens_off");
}
