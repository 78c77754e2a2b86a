//! Several `fabrique serve` processes on one PostgreSQL database, as replicas behind a load
//! balancer: what an administrator changes through one replica holds on every other. Each test
//! waits for the other replica by polling with a deadline; the time it took is printed (run with
//! `--nocapture`), never asserted.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use ::oidc::testing::{API_AUDIENCE, TestIssuer};

use crate::harness::{ADMIN_KEY, SchemaGuard, chat_body, instant_sim, postgres_schema};
use crate::process::Serve;

/// One simulated endpoint and model, one entity: what every replica test starts from.
pub(crate) const CONFIG: &str = r#"
[simulator]
ttft_ms = 0
tokens_per_second = 1000000

[routing]
health_check_interval_ms = 0

[[endpoints]]
name = "gpu"
kind = "simulator"
hosting = "on_premises"
clearance = "internal"

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu"]

[[entities]]
slug = "acme"
name = "Acme"
"#;

/// How long another replica may take before a test fails: far above the one second promised, so
/// a loaded machine does not fail it; the time actually taken is printed.
const DEADLINE: Duration = Duration::from_secs(20);

/// Replicas of one installation, each a `fabrique serve` process with its own data directory.
struct Replicas {
    replicas: Vec<Serve>,
    http: reqwest::Client,
    /// The configuration file and database every replica starts on.
    config: std::path::PathBuf,
    database: String,
    dir: tempfile::TempDir,
    _schema: SchemaGuard,
}

impl Replicas {
    /// `count` replicas on a fresh schema, started one after the other (the first migrates);
    /// `None` when `FABRIQUE_TEST_POSTGRES_URL` is not set.
    async fn start(count: usize) -> Option<Replicas> {
        Replicas::start_with(count, CONFIG).await
    }

    /// [`Replicas::start`] with the configuration `config`.
    async fn start_with(count: usize, config: &str) -> Option<Replicas> {
        let schema = postgres_schema().await?;
        let dir = tempfile::tempdir().unwrap();
        let config_text = config;
        let config = dir.path().join("fabrique.toml");
        std::fs::write(&config, config_text).unwrap();
        let mut replicas = Replicas {
            replicas: Vec::new(),
            http: reqwest::Client::new(),
            config,
            database: schema.url(),
            dir,
            _schema: schema,
        };
        for _ in 0..count {
            replicas.start_another();
        }
        Some(replicas)
    }

    /// One more replica, on the same configuration and database, with a data directory of its own.
    fn start_another(&mut self) {
        let data = self
            .dir
            .path()
            .join(format!("data-{}", self.replicas.len()));
        let replica = Serve::start_on(&self.config, &data, Some(&self.database));
        self.replicas.push(replica);
    }

    fn base(&self, replica: usize) -> &str {
        &self.replicas[replica].base
    }

    /// An administrator's call through `replica`: the status and the JSON body.
    async fn admin(
        &self,
        replica: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base(replica)))
            .bearer_auth(ADMIN_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A user of `acme` and a key of theirs, created through `replica`: (key id, secret).
    async fn user_key(&self, replica: usize, user: &str) -> (String, String) {
        let (status, created) = self
            .admin(
                replica,
                reqwest::Method::POST,
                "/admin/v1/users",
                Some(json!({"entity": "acme", "user_name": user, "email": format!("{user}@example.test")})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let (status, key) = self
            .admin(
                replica,
                reqwest::Method::POST,
                "/admin/v1/keys",
                Some(json!({"user_id": created["id"]})),
            )
            .await;
        assert_eq!(status, 201, "{key}");
        (
            key["id"].as_str().unwrap().to_owned(),
            key["key"].as_str().unwrap().to_owned(),
        )
    }

    /// The status of a chat completion through `replica` with `key`.
    async fn chat(&self, replica: usize, key: &str) -> u16 {
        self.http
            .post(format!("{}/v1/chat/completions", self.base(replica)))
            .bearer_auth(key)
            .json(&chat_body("mistral-small"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Polls chat completions through `replica` with `key` until one answers `status`; returns how
    /// long that took, or fails the test at the deadline.
    async fn until_chat_answers(
        &self,
        replica: usize,
        key: &str,
        status: u16,
        what: &str,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let seen = self.chat(replica, key).await;
            if seen == status {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what}: replica {replica} still answers {seen} after {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_key_created_or_revoked_through_one_replica_holds_on_the_other() {
    let Some(replicas) = Replicas::start(2).await else {
        return;
    };
    let (key_id, key) = replicas.user_key(0, "ada").await;
    assert_eq!(replicas.chat(0, &key).await, 200);

    let created = replicas
        .until_chat_answers(1, &key, 200, "a key created on replica 0")
        .await;
    println!("a key created on replica 0 worked on replica 1 after {created:?}");

    let (status, body) = replicas
        .admin(
            0,
            reqwest::Method::DELETE,
            &format!("/admin/v1/keys/{key_id}"),
            None,
        )
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    assert_eq!(replicas.chat(0, &key).await, 401);
    let revoked = replicas
        .until_chat_answers(1, &key, 401, "a key revoked on replica 0")
        .await;
    println!("a key revoked on replica 0 was refused by replica 1 after {revoked:?}");
}

#[tokio::test]
async fn an_entity_suspended_through_one_replica_is_refused_by_the_other() {
    let Some(replicas) = Replicas::start(2).await else {
        return;
    };
    let (_, key) = replicas.user_key(0, "ada").await;
    replicas
        .until_chat_answers(1, &key, 200, "a key created on replica 0")
        .await;

    let (status, body) = replicas
        .admin(
            1,
            reqwest::Method::PUT,
            "/admin/v1/entities/acme/status",
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let suspended = replicas
        .until_chat_answers(0, &key, 401, "an entity suspended on replica 1")
        .await;
    println!("an entity suspended on replica 1 was refused by replica 0 after {suspended:?}");

    let (status, body) = replicas
        .admin(
            0,
            reqwest::Method::PUT,
            "/admin/v1/entities/acme/status",
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    replicas
        .until_chat_answers(1, &key, 200, "an entity reactivated on replica 0")
        .await;
}

#[tokio::test]
async fn a_rate_limit_set_through_one_replica_holds_on_the_other() {
    let Some(replicas) = Replicas::start(2).await else {
        return;
    };
    let (key_id, key) = replicas.user_key(0, "ada").await;
    replicas
        .until_chat_answers(1, &key, 200, "a key created on replica 0")
        .await;

    let (status, body) = replicas
        .admin(
            0,
            reqwest::Method::PUT,
            &format!("/admin/v1/limits/key/{key_id}"),
            Some(json!({"requests_per_minute": 1})),
        )
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    // Replica 1 admits at most one request a minute once it knows the limit: a 429 shows it does.
    let limited = replicas
        .until_chat_answers(1, &key, 429, "a limit set on replica 0")
        .await;
    println!("a limit set on replica 0 held on replica 1 after {limited:?}");
}

#[tokio::test]
async fn a_role_granted_or_taken_back_through_one_replica_holds_on_the_other() {
    let Some(replicas) = Replicas::start(2).await else {
        return;
    };
    let (_, key) = replicas.user_key(0, "ada").await;
    replicas
        .until_chat_answers(1, &key, 200, "a key created on replica 0")
        .await;
    let users = |replica: usize| {
        let request = replicas
            .http
            .get(format!(
                "{}/admin/v1/users?entity=acme",
                replicas.base(replica)
            ))
            .bearer_auth(&key);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(users(1).await, 403);
    let path = "/admin/v1/role-grants";
    let role = json!({"user": "ada", "role": "entity_admin", "entity": "acme"});
    let (status, body) = replicas
        .admin(0, reqwest::Method::POST, path, Some(role))
        .await;
    assert_eq!(status, 201, "{body}");
    let until = |expected: u16, what: &'static str| async move {
        let start = Instant::now();
        loop {
            let seen = users(1).await;
            if seen == expected {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what}: replica 1 still answers {seen}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let granted = until(200, "a role granted on replica 0").await;
    println!("a role granted on replica 0 held on replica 1 after {granted:?}");

    let revoke = format!("{path}?user=ada&role=entity_admin&entity=acme");
    let (status, body) = replicas
        .admin(0, reqwest::Method::DELETE, &revoke, None)
        .await;
    assert_eq!(status, 200, "{body}");
    let revoked = until(403, "a role taken back on replica 0").await;
    println!("a role taken back on replica 0 was refused by replica 1 after {revoked:?}");
}

impl Replicas {
    /// Whether `replica` says it runs the background jobs (its `/metrics` gauge).
    async fn leads(&self, replica: usize) -> bool {
        let metrics = self
            .http
            .get(format!("{}/metrics", self.base(replica)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = metrics
            .lines()
            .find(|l| l.starts_with("fabrique_background_jobs_leader "))
            .unwrap_or_else(|| panic!("no leader gauge in {metrics}"));
        line.ends_with(" 1")
    }
}

#[tokio::test]
async fn one_replica_runs_the_background_jobs_and_another_takes_over_when_it_dies() {
    let Some(mut replicas) = Replicas::start(3).await else {
        return;
    };
    // The first replica took the lease at its start; the others found it held.
    assert!(replicas.leads(0).await);
    assert!(!replicas.leads(1).await);
    assert!(!replicas.leads(2).await);

    replicas.replicas[0].child.kill().unwrap();
    replicas.replicas[0].child.wait().unwrap();
    let start = Instant::now();
    let leader = loop {
        let leading = [replicas.leads(1).await, replicas.leads(2).await];
        assert!(
            !leading.iter().all(|l| *l),
            "two replicas run the jobs at once"
        );
        if let Some(leader) = leading.iter().position(|l| *l) {
            break leader + 1;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "nobody took the jobs over after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "replica {leader} took the background jobs over {:?} after the leader was killed",
        start.elapsed()
    );
    let other = 3 - leader;
    assert!(
        !replicas.leads(other).await,
        "replica {other} runs the jobs too"
    );
}

/// Users racing through both replicas for the seats left in the pool: exactly as many are
/// answered as there were free seats. Each user sends three requests at once, two of them to one
/// replica; a user answered once holds their seat for the rest.
#[tokio::test]
async fn users_racing_through_both_replicas_for_the_last_seats_are_answered_on_granted_seats_only()
{
    const FREE: usize = 4;
    const USERS: usize = 3 * FREE;
    let Some(replicas) = Replicas::start(2).await else {
        return;
    };
    let pool = |size: usize| Some(json!({ "size": size }));
    let put = reqwest::Method::PUT;
    // No seat is free while the racers are created: they get none at provisioning.
    let (status, body) = replicas
        .admin(0, put.clone(), "/admin/v1/seats/pool", pool(0))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut keys = Vec::new();
    for i in 0..USERS {
        keys.push(replicas.user_key(0, &format!("racer-{i}")).await.1);
    }
    let (status, body) = replicas
        .admin(0, put, "/admin/v1/seats/pool", pool(FREE))
        .await;
    assert_eq!(status, 200, "{body}");
    // Replica 1 knows the new pool (its report is its memory) before the race starts.
    let start = Instant::now();
    loop {
        let (_, seen) = replicas
            .admin(1, reqwest::Method::GET, "/admin/v1/seats/pool", None)
            .await;
        if seen["size"] == FREE {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "replica 1 still reports {seen}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let replicas = &replicas;
    let requests = keys
        .iter()
        .enumerate()
        .flat_map(|(user, key)| (0..3).map(move |i| (user, (user + i) % 2, key)));
    let statuses = futures_util::future::join_all(
        requests
            .map(|(user, replica, key)| async move { (user, replicas.chat(replica, key).await) }),
    )
    .await;
    let answered: std::collections::BTreeSet<usize> = statuses
        .iter()
        .filter(|(_, status)| *status == 200)
        .map(|(user, _)| *user)
        .collect();
    assert!(
        statuses
            .iter()
            .all(|(_, status)| [200, 403].contains(status)),
        "{statuses:?}"
    );
    assert_eq!(answered.len(), FREE, "users answered 200: {statuses:?}");
    // A user answered once holds a seat: both replicas answer them again.
    for &user in &answered {
        for replica in 0..2 {
            assert_eq!(replicas.chat(replica, &keys[user]).await, 200);
        }
    }
}

/// The `[redis]` section for one test: the test Redis, under a prefix no other test uses.
fn redis_section(replicas: u32) -> String {
    let url = std::env::var("FABRIQUE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("fabrique-test:{}", domain::KeyId::generate());
    format!("\n[redis]\nurl = \"{url}\"\nkey_prefix = \"{prefix}\"\nreplicas = {replicas}\n")
}

#[tokio::test]
async fn replicas_sharing_redis_admit_exactly_a_limit_of_n_between_them() {
    // The key and its limit exist before the second replica starts, so both know the limit
    // without a probe that would spend it.
    let config = format!("{CONFIG}{}", redis_section(2));
    let Some(mut replicas) = Replicas::start_with(1, &config).await else {
        return;
    };
    let (key_id, key) = replicas.user_key(0, "ada").await;
    let (status, body) = replicas
        .admin(
            0,
            reqwest::Method::PUT,
            &format!("/admin/v1/limits/key/{key_id}"),
            Some(json!({"requests_per_minute": 3})),
        )
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    replicas.start_another();

    // Twelve requests at once, spread over both replicas: a minute's three pass, whichever
    // replica they reach.
    let statuses =
        futures_util::future::join_all((0..12).map(|i| replicas.chat(i % 2, &key))).await;
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((admitted, refused), (3, 9), "{statuses:?}");
}

/// One GPU endpoint of capacity 2 that two replicas sharing Redis both call: a simulator with room
/// for many more sequences, so anything they sent beyond the capacity would run at once and show
/// in its count of sequences decoding together.
#[tokio::test]
async fn replicas_sharing_redis_never_send_an_endpoint_more_than_its_capacity() {
    let simulator = sim::Simulator::new(sim::SimConfig {
        ttft: Duration::from_millis(50),
        ..instant_sim()
    });
    let engine = sim::spawn(simulator.clone()).await.unwrap();
    let config = format!(
        r#"
[simulator]
embedded = false

[routing]
health_check_interval_ms = 0

[[endpoints]]
name = "gpu"
kind = "openai"
url = "{url}"
hosting = "on_premises"
clearance = "internal"
capacity = 2

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu"]

[[entities]]
slug = "acme"
name = "Acme"
{redis}"#,
        url = engine.base_url(),
        redis = redis_section(2)
    );
    // The key exists before the second replica starts, so both know it.
    let Some(mut replicas) = Replicas::start_with(1, &config).await else {
        return;
    };
    let (_, key) = replicas.user_key(0, "ada").await;
    replicas.start_another();

    // Sixteen requests at once, spread over both replicas: each replica alone would send two.
    let statuses =
        futures_util::future::join_all((0..16).map(|i| replicas.chat(i % 2, &key))).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let stats = simulator.stats();
    assert_eq!(stats.completed, 16, "{stats:?}");
    assert!(stats.max_concurrent <= 2, "{stats:?}");
}

/// Replicas trusting the tests' identity provider, which creates the users who sign in.
async fn replicas_with_sign_in(count: usize) -> Option<(TestIssuer, Replicas)> {
    let issuer = TestIssuer::start("fabrique").await;
    let config = format!(
        r#"{CONFIG}
[oidc]
issuer = "{issuer}"
client_id = "fabrique"
redirect_url = "http://127.0.0.1:9/auth/callback"
audiences = ["{API_AUDIENCE}"]
default_entity = "acme"
jit_provisioning = true
"#,
        issuer = issuer.issuer()
    );
    let replicas = Replicas::start_with(count, &config).await?;
    Some((issuer, replicas))
}

/// A browser that follows no redirect, so each step's answer can be read.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` pairs of a response's `Set-Cookie` headers.
fn cookies_set(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .collect()
}

impl Replicas {
    /// Signs `user_name` in as a browser would, starting through replica `start` and coming back
    /// from the provider to replica `finish`; the session cookie (`name=value`).
    async fn sign_in(
        &self,
        issuer: &TestIssuer,
        user_name: &str,
        start: usize,
        finish: usize,
    ) -> String {
        issuer.set_sign_in_claims(
            json!({"sub": format!("sub-{user_name}"), "preferred_username": user_name}),
        );
        let browser = browser();
        let login = browser
            .get(format!("{}/auth/login", self.base(start)))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status().as_u16(), 303);
        let flow = cookies_set(&login).join("; ");
        let authorize = login.headers()[reqwest::header::LOCATION].to_str().unwrap();
        let approved = browser.get(authorize).send().await.unwrap();
        assert_eq!(approved.status().as_u16(), 303);
        let back = reqwest::Url::parse(
            approved.headers()[reqwest::header::LOCATION]
                .to_str()
                .unwrap(),
        )
        .unwrap();
        let callback = browser
            .get(format!(
                "{}/auth/callback?{}",
                self.base(finish),
                back.query().unwrap()
            ))
            .header(reqwest::header::COOKIE, flow)
            .send()
            .await
            .unwrap();
        let status = callback.status().as_u16();
        let cookies = cookies_set(&callback);
        assert_eq!(status, 303, "{:?}", callback.text().await);
        cookies
            .into_iter()
            .find(|c| {
                c.starts_with(&format!("{}=", ::oidc::COOKIE_NAME))
                    && c.len() > ::oidc::COOKIE_NAME.len() + 1
            })
            .expect("a session cookie")
    }

    /// `GET /auth/me` through `replica` with the session `cookie`: the status.
    async fn me(&self, replica: usize, cookie: &str) -> u16 {
        browser()
            .get(format!("{}/auth/me", self.base(replica)))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Polls `/auth/me` through `replica` until it answers `status`; how long that took.
    async fn until_me_answers(
        &self,
        replica: usize,
        cookie: &str,
        status: u16,
        what: &str,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let seen = self.me(replica, cookie).await;
            if seen == status {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what}: replica {replica} still answers {seen} after {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_sign_in_started_on_one_replica_completes_on_the_other_and_its_session_works_on_both() {
    let Some((issuer, replicas)) = replicas_with_sign_in(2).await else {
        return;
    };
    let cookie = replicas.sign_in(&issuer, "ada", 0, 1).await;
    assert_eq!(replicas.me(1, &cookie).await, 200);
    // Replica 0 did not open the session: it reads it from the database at once.
    assert_eq!(replicas.me(0, &cookie).await, 200);
    let chat = browser()
        .post(format!("{}/v1/chat/completions", replicas.base(0)))
        .header(reqwest::header::COOKIE, &cookie)
        .json(&chat_body("mistral-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status().as_u16(), 200);
    // Every replica lists it, once.
    for replica in 0..2 {
        let (status, listed) = replicas
            .admin(replica, reqwest::Method::GET, "/admin/v1/sessions", None)
            .await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    }
}

#[tokio::test]
async fn a_session_revoked_or_signed_out_on_one_replica_is_refused_by_the_other() {
    let Some((issuer, replicas)) = replicas_with_sign_in(2).await else {
        return;
    };
    let revoked = replicas.sign_in(&issuer, "ada", 0, 0).await;
    let signed_out = replicas.sign_in(&issuer, "ada", 1, 1).await;
    // Both replicas hold both sessions in memory.
    for replica in 0..2 {
        assert_eq!(replicas.me(replica, &revoked).await, 200);
        assert_eq!(replicas.me(replica, &signed_out).await, 200);
    }
    let (_, listed) = replicas
        .admin(1, reqwest::Method::GET, "/admin/v1/sessions", None)
        .await;
    let first = listed["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, answer) = replicas
        .admin(
            1,
            reqwest::Method::DELETE,
            &format!("/admin/v1/sessions/{first}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["revoked"], true, "{answer}");
    let took = replicas
        .until_me_answers(0, &revoked, 401, "revoked session")
        .await;
    println!("a session revoked through replica 1 was refused by replica 0 after {took:?}");
    assert_eq!(replicas.me(1, &revoked).await, 401);

    let logout = browser()
        .post(format!("{}/auth/logout", replicas.base(0)))
        .header(reqwest::header::COOKIE, &signed_out)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status().as_u16(), 204);
    let took = replicas
        .until_me_answers(1, &signed_out, 401, "signed-out session")
        .await;
    println!("a session signed out through replica 0 was refused by replica 1 after {took:?}");
}

/// [`CONFIG`] with files' contents in the database, which every replica reads.
fn files_in_database() -> String {
    format!("{CONFIG}\n[batches]\nfile_contents = \"database\"\n")
}

impl Replicas {
    /// The replica that runs the background jobs (batches among them), and another.
    async fn leader_and_other(&self) -> (usize, usize) {
        let start = Instant::now();
        loop {
            for replica in 0..self.replicas.len() {
                if self.leads(replica).await {
                    return (replica, (replica + 1) % self.replicas.len());
                }
            }
            assert!(start.elapsed() < DEADLINE, "no replica leads");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A call with `key` through `replica`: the status and the body's bytes.
    async fn call_as(
        &self,
        replica: usize,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, bytes::Bytes) {
        let url = format!("{}{path}", self.base(replica));
        let mut request = self.http.request(method, url).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.bytes().await.unwrap())
    }

    /// Uploads `content` with purpose `batch` through `replica`: the file's id.
    async fn upload(&self, replica: usize, key: &str, content: &[u8]) -> String {
        let boundary = "replica-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .http
            .post(format!("{}/v1/files", self.base(replica)))
            .bearer_auth(key)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let file: Value = response.json().await.unwrap();
        file["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_file_uploaded_through_one_replica_is_read_and_run_as_a_batch_through_the_other() {
    let Some(replicas) = Replicas::start_with(2, &files_in_database()).await else {
        return;
    };
    let (leader, other) = replicas.leader_and_other().await;
    let (_, key) = replicas.user_key(other, "ada").await;
    replicas
        .until_chat_answers(leader, &key, 200, "a key created on the other replica")
        .await;
    let count = 40;
    let mut input = String::new();
    for i in 0..count {
        let line = json!({
            "custom_id": format!("line-{i}"), "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "mistral-small", "messages": [{"role": "user", "content": format!("Claim {i}")}], "max_tokens": 3},
        });
        input.push_str(&format!("{line}\n"));
    }

    // Uploaded through the replica that does not run batches, read back through the one that does.
    let file = replicas.upload(other, &key, input.as_bytes()).await;
    let content = format!("/v1/files/{file}/content");
    let (status, read) = replicas
        .call_as(leader, &key, reqwest::Method::GET, &content, None)
        .await;
    assert_eq!((status, &read[..]), (200, input.as_bytes()));

    // Submitted through the other replica, run by the leader, which reads the input from the
    // store; its output, written there, is read through the other replica.
    let submit = json!({"input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    let (status, created) = replicas
        .call_as(
            other,
            &key,
            reqwest::Method::POST,
            "/v1/batches",
            Some(submit),
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&created));
    let created: Value = serde_json::from_slice(&created).unwrap();
    let path = format!("/v1/batches/{}", created["id"].as_str().unwrap());
    let start = Instant::now();
    let ended = loop {
        let (status, batch) = replicas
            .call_as(other, &key, reqwest::Method::GET, &path, None)
            .await;
        assert_eq!(status, 200);
        let batch: Value = serde_json::from_slice(&batch).unwrap();
        if batch["status"] == "completed" {
            break batch;
        }
        // The leader finds a batch submitted elsewhere on its next look, every few seconds.
        assert!(
            start.elapsed() < Duration::from_secs(120) && batch["status"] != "failed",
            "{batch}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "a batch submitted through one replica ended after {:?}",
        start.elapsed()
    );
    assert_eq!(
        ended["request_counts"],
        json!({"total": count, "completed": count, "failed": 0})
    );
    let output = format!(
        "/v1/files/{}/content",
        ended["output_file_id"].as_str().unwrap()
    );
    let (status, through_other) = replicas
        .call_as(other, &key, reqwest::Method::GET, &output, None)
        .await;
    assert_eq!(status, 200);
    let (_, through_leader) = replicas
        .call_as(leader, &key, reqwest::Method::GET, &output, None)
        .await;
    assert_eq!(through_other, through_leader);
    let mut answered: Vec<String> = String::from_utf8(through_other.to_vec())
        .unwrap()
        .lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            assert_eq!(line["response"]["status_code"], 200, "{line}");
            line["custom_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let lines = answered.len();
    answered.sort();
    answered.dedup();
    assert_eq!(
        (lines, answered.len()),
        (count, count),
        "each line answered once"
    );

    // Deleted through one replica, gone through the other.
    let (status, _) = replicas
        .call_as(
            leader,
            &key,
            reqwest::Method::DELETE,
            &format!("/v1/files/{file}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = replicas
        .call_as(other, &key, reqwest::Method::GET, &content, None)
        .await;
    assert_eq!(status, 404);
}

/// [`CONFIG`] with an embedding model, for knowledge libraries.
fn with_embeddings() -> String {
    CONFIG.replace(
        "[[entities]]",
        "[[models]]\nname = \"mistral-embed\"\nkind = \"embeddings\"\nendpoints = [\"gpu\"]\n\n[[entities]]",
    )
}

impl Replicas {
    /// The documents a search of `library` for `query` finds through `replica`, as `key`; `None`
    /// while the replica does not know the library.
    async fn library_finds(
        &self,
        replica: usize,
        key: &str,
        library: &str,
        query: &str,
    ) -> Option<Vec<String>> {
        let path = format!("/v1/libraries/{library}/search");
        let body = json!({"query": query, "limit": 5});
        let (status, found) = self
            .call_as(replica, key, reqwest::Method::POST, &path, Some(body))
            .await;
        if status == 404 {
            return None;
        }
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&found));
        let found: Value = serde_json::from_slice(&found).unwrap();
        let names = found["data"].as_array().unwrap().iter();
        Some(
            names
                .map(|hit| hit["name"].as_str().unwrap().to_owned())
                .collect(),
        )
    }

    /// Polls searches through `replica` until `expected` says yes of what they find; returns
    /// how long that took, or fails the test at the deadline.
    async fn until_library_finds(
        &self,
        replica: usize,
        key: &str,
        library: &str,
        query: &str,
        expected: impl Fn(&[String]) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let found = self.library_finds(replica, key, library, query).await;
            if found.as_deref().is_some_and(&expected) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "replica {replica} still finds {found:?} after {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_document_added_or_deleted_through_one_replica_is_found_or_gone_through_the_other() {
    let Some(replicas) = Replicas::start_with(2, &with_embeddings()).await else {
        return;
    };
    let (_, key) = replicas.user_key(0, "ada").await;
    replicas
        .until_chat_answers(1, &key, 200, "a key created on replica 0")
        .await;
    let library = json!({
        "name": "Politiques RH", "entity": "acme", "readers": ["entity:acme"],
        "editors": ["entity:acme"], "embedding_model": "mistral-embed", "classification": "internal",
    });
    let (status, created) = replicas
        .admin(0, reqwest::Method::POST, "/v1/libraries", Some(library))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let text = "# Télétravail\n\nDeux jours de télétravail par semaine sont possibles.\n";
    let response = replicas
        .http
        .post(format!(
            "{}/v1/libraries/{id}/documents?name=charte.md",
            replicas.base(0)
        ))
        .bearer_auth(&key)
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let document: Value = response.json().await.unwrap();
    let charte = |found: &[String]| found.iter().any(|name| name == "charte.md");
    assert_eq!(
        replicas.library_finds(0, &key, &id, "télétravail").await,
        Some(vec!["charte.md".to_owned()])
    );

    let added = replicas
        .until_library_finds(1, &key, &id, "télétravail", charte)
        .await;
    println!("a document added through replica 0 was found through replica 1 after {added:?}");

    let path = format!(
        "/v1/libraries/{id}/documents/{}",
        document["id"].as_str().unwrap()
    );
    let (status, _) = replicas
        .call_as(0, &key, reqwest::Method::DELETE, &path, None)
        .await;
    assert_eq!(status, 200);
    let deleted = replicas
        .until_library_finds(1, &key, &id, "télétravail", |found| !charte(found))
        .await;
    println!("a document deleted through replica 0 was gone through replica 1 after {deleted:?}");
}
