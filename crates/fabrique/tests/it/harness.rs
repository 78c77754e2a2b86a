//! Starting a server with simulated backends, and the small client helpers every test uses.

use std::time::Duration;

use configuration::Config;
use fabrique::RunningServer;
use serde_json::{Value, json};

pub const ADMIN_KEY: &str = "fabk_test_bootstrap_admin_key_0123456789abcdef";

/// The environment variable a test configuration names as `[retention] master_key_env`.
pub const MASTER_KEY_ENV: &str = "FABRIQUE_TEST_MASTER_KEY";

/// The environment variable a test configuration names as `[server] metrics_token_env`.
pub const METRICS_TOKEN_ENV: &str = "FABRIQUE_TEST_METRICS_TOKEN";
/// Its value.
pub const METRICS_TOKEN: &str = "test-metrics-token";

/// The environment test configurations see: the content master key (32 bytes of 0x42) and the
/// metrics token.
pub(crate) fn test_env(name: &str) -> Option<String> {
    match name {
        MASTER_KEY_ENV => Some("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=".to_owned()),
        METRICS_TOKEN_ENV => Some(METRICS_TOKEN.to_owned()),
        _ => None,
    }
}

/// A running server, its simulated backends and an inference key of a user of entity `acme`.
pub struct TestServer {
    pub server: RunningServer,
    pub sims: Vec<(sim::Simulator, sim::RunningSim)>,
    pub key: String,
    pub key_id: String,
    pub http: reqwest::Client,
    /// The configuration it was started with, to start it again on the same data.
    config: Config,
    _data_dir: tempfile::TempDir,
    _schema: Option<SchemaGuard>,
}

/// Simulator settings that answer at once, so tests run fast and never depend on timing.
pub fn instant_sim() -> sim::SimConfig {
    sim::SimConfig {
        ttft: Duration::ZERO,
        tokens_per_second: 0.0,
        capacity: 64,
        ..sim::SimConfig::default()
    }
}

impl TestServer {
    /// Starts `sims` simulators, then a server whose configuration is `config_toml` with `{sim0}`,
    /// `{sim1}`… replaced by the simulators' base URLs.
    pub async fn start(sims: Vec<sim::SimConfig>, config_toml: &str) -> TestServer {
        TestServer::start_with(sims, config_toml, None).await
    }

    /// [`TestServer::start`] on `database`; `None`, after saying so, for PostgreSQL when
    /// `FABRIQUE_TEST_POSTGRES_URL` is not set.
    pub async fn start_on(
        database: Database,
        sims: Vec<sim::SimConfig>,
        config_toml: &str,
    ) -> Option<TestServer> {
        let schema = match database {
            Database::Sqlite => None,
            Database::Postgres => Some(postgres_schema().await?),
        };
        let url = schema.as_ref().map(SchemaGuard::url);
        let mut server = TestServer::start_with(sims, config_toml, url).await;
        server._schema = schema;
        Some(server)
    }

    async fn start_with(
        sims: Vec<sim::SimConfig>,
        config_toml: &str,
        database_url: Option<String>,
    ) -> TestServer {
        let mut running = Vec::new();
        let mut text = config_toml.to_owned();
        for (i, config) in sims.into_iter().enumerate() {
            let simulator = sim::Simulator::new(config);
            let handle = sim::spawn(simulator.clone())
                .await
                .expect("simulator starts");
            text = text.replace(&format!("{{sim{i}}}"), &handle.base_url());
            running.push((simulator, handle));
        }
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::from_toml(&text, "test.toml", &test_env)
            .unwrap_or_else(|e| panic!("test config: {e}"));
        config.server.listen = "127.0.0.1:0".parse().expect("addr");
        config.server.data_dir = data_dir.path().to_path_buf();
        config.server.database_url = database_url;
        let server = fabrique::start(config.clone(), Some(ADMIN_KEY.to_owned()))
            .await
            .expect("server starts");
        let http = reqwest::Client::new();
        let mut test = TestServer {
            server,
            sims: running,
            key: String::new(),
            key_id: String::new(),
            http,
            config,
            _data_dir: data_dir,
            _schema: None,
        };
        let (key_id, key) = test.create_user_key("acme", "ada").await;
        test.key = key;
        test.key_id = key_id;
        test
    }

    /// Stops the server (flushing usage and audit) and starts it again on the same data and
    /// simulators: what is read at start is read from the store again.
    pub async fn restart(self) -> TestServer {
        self.restart_with(|_| {}).await
    }

    /// [`TestServer::restart`], with `change` applied while the server is stopped: to its
    /// configuration, or to the files under its data directory.
    pub async fn restart_with(self, change: impl FnOnce(&mut Config)) -> TestServer {
        let TestServer {
            server,
            sims,
            key,
            key_id,
            http,
            config,
            _data_dir,
            _schema,
        } = self;
        server.shutdown().await;
        let mut config = config;
        change(&mut config);
        let server = fabrique::start(config.clone(), Some(ADMIN_KEY.to_owned()))
            .await
            .expect("server restarts");
        TestServer {
            server,
            sims,
            key,
            key_id,
            http,
            config,
            _data_dir,
            _schema,
        }
    }

    /// Reads `config_toml` as [`TestServer::start`] does and puts it in force as `SIGHUP` does,
    /// the server running: the sections that changed but need a restart, or why it was refused.
    pub async fn reload(&self, config_toml: &str) -> Result<Vec<&'static str>, String> {
        let mut text = config_toml.to_owned();
        for (i, (_, running)) in self.sims.iter().enumerate() {
            text = text.replace(&format!("{{sim{i}}}"), &running.base_url());
        }
        let mut config =
            Config::from_toml(&text, "test.toml", &test_env).map_err(|e| e.to_string())?;
        config.server.listen = self.config.server.listen;
        config.server.data_dir = self.config.server.data_dir.clone();
        config.server.database_url = self.config.server.database_url.clone();
        match self.server.reload(config).await {
            Ok(reloaded) => Ok(reloaded.needs_restart),
            Err(error) => Err(format!("{error:#}")),
        }
    }

    /// Where the server keeps its local state (the SQLite database, unless on PostgreSQL).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.server.data_dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.base_url(), path)
    }

    /// Creates the entity if needed, a user in it and a key for the user; returns (key id, secret).
    pub async fn create_user_key(&self, entity: &str, user: &str) -> (String, String) {
        let user_id = self.create_user(entity, user).await;
        self.create_key_for(&user_id).await
    }

    /// [`TestServer::create_user_key`] for a user holding `role`, of `entity` when `scoped`, else
    /// group-wide.
    pub async fn create_role_key(
        &self,
        entity: &str,
        user: &str,
        role: domain::Role,
        scoped: bool,
    ) -> (String, String) {
        let (_, key_id, secret) = self
            .create_user_with_roles(entity, user, &[(role, scoped.then_some(entity))])
            .await;
        (key_id, secret)
    }

    /// A user of `entity` holding `roles` (each over an entity's slug, or group-wide with
    /// `None`), and a key of theirs: (user id, key id, secret). Roles are read when a key is
    /// created, so the grants come first.
    pub async fn create_user_with_roles(
        &self,
        entity: &str,
        user: &str,
        roles: &[(domain::Role, Option<&str>)],
    ) -> (String, String, String) {
        let user_id = self.create_user(entity, user).await;
        for &(role, scope) in roles {
            self.grant_role(&user_id, role, scope).await;
        }
        let (key_id, secret) = self.create_key_for(&user_id).await;
        (user_id, key_id, secret)
    }

    /// Grants `role` to the user, over the entity of slug `scope` or, with `None`, the whole
    /// group; straight in the store, as the group's administrators would.
    pub async fn grant_role(&self, user_id: &str, role: domain::Role, scope: Option<&str>) {
        let entity_id = match scope {
            Some(slug) => Some(self.entity(slug).await.id),
            None => None,
        };
        let audit = domain::AuditEvent {
            at: domain::now_millis(),
            actor: "test".into(),
            action: domain::AuditAction::RoleGrant,
            entity_id,
            target: user_id.to_owned(),
            outcome: domain::Outcome::Success,
            detail: "{}".into(),
        };
        let owner = domain::KeyOwner::User(user_id.parse().expect("user id"));
        self.server
            .store
            .grant_role(owner, domain::RoleGrant { role, entity_id }, &audit)
            .await
            .expect("grant");
    }

    /// The stored entity of slug `slug`, which must exist.
    pub async fn entity(&self, slug: &str) -> domain::Entity {
        self.server
            .store
            .entity_by_slug(slug)
            .await
            .expect("store")
            .expect("entity")
    }

    /// Creates the entity if needed and a user in it; returns the user's id.
    async fn create_user(&self, entity: &str, user: &str) -> String {
        let _ = self
            .admin_post(
                "/admin/v1/entities",
                json!({"slug": entity, "name": entity}),
            )
            .await;
        let (status, created) = self
            .admin_post("/admin/v1/users", json!({"entity": entity, "user_name": user, "email": format!("{user}@example.test")}))
            .await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().expect("user id").to_owned()
    }

    /// A key for the user; returns (key id, secret).
    pub async fn create_key_for(&self, user_id: &str) -> (String, String) {
        let (status, key) = self
            .admin_post("/admin/v1/keys", json!({"user_id": user_id}))
            .await;
        assert_eq!(status, 201, "{key}");
        (
            key["id"].as_str().expect("key id").to_owned(),
            key["key"].as_str().expect("key").to_owned(),
        )
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
            .send()
            .await
            .expect("admin call");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Suspends or reactivates the entity (`status`: `suspended` or `active`) as the group's
    /// administrator; returns the status and the entity.
    pub async fn set_entity_status(&self, slug: &str, status: &str) -> (u16, Value) {
        let response = self
            .http
            .put(self.url(&format!("/admin/v1/entities/{slug}/status")))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({ "status": status }))
            .send()
            .await
            .expect("admin call");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a JSON body with the test key; returns status, headers and the body as text.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        self.post_with_key(path, body, &self.key).await
    }

    pub async fn post_with_key(
        &self,
        path: &str,
        body: &Value,
        key: &str,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.expect("body"))
    }

    /// GETs a JSON document with `key`.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        self.get_with_key(path, key).await.1
    }

    /// GET with `key` (an API key or an access token) as the bearer: the status and JSON body.
    pub async fn get_with_key(&self, path: &str, key: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    /// The ids of the models `key` may use, as `/v1/models` lists them.
    pub async fn model_ids(&self, key: &str) -> Vec<String> {
        let list = self.get_json("/v1/models", key).await;
        list["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_owned())
            .collect()
    }

    /// The Prometheus exposition.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The `/metrics` line counting the schedule waits of `priority`'s class.
    pub async fn schedule_waits_line(&self, priority: &str) -> String {
        let metrics = self.metrics().await;
        let label = format!(r#"priority="{priority}""#);
        metrics
            .lines()
            .find(|l| l.starts_with("fabrique_schedule_wait_seconds_count") && l.contains(&label))
            .unwrap_or_else(|| panic!("no {priority} waits in {metrics}"))
            .to_owned()
    }

    pub async fn chat(&self, model: &str) -> (u16, Value) {
        let (status, _, body) = self.post("/v1/chat/completions", &chat_body(model)).await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// The state of each endpoint's circuit, as `/readyz` reports it.
    pub async fn circuit(&self, endpoint: &str) -> String {
        let ready: Value = self
            .http
            .get(self.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        ready["endpoints"]
            .as_array()
            .and_then(|list| list.iter().find(|e| e["name"] == endpoint))
            .map(|e| e["state"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }

    /// Stops the server (flushing usage) and returns the usage records, oldest first.
    pub async fn finish(self) -> Vec<domain::UsageRecord> {
        self.finish_with_audit().await.0
    }

    /// Stops the server (flushing usage and audit) and returns the usage records and the audit
    /// events, oldest first.
    pub async fn finish_with_audit(self) -> (Vec<domain::UsageRecord>, Vec<domain::AuditEvent>) {
        let store = self.server.store.clone();
        self.server.shutdown().await;
        let mut records = store.list_usage(10_000).await.expect("usage");
        records.reverse();
        let mut events: Vec<_> = store
            .list_audit(10_000)
            .await
            .expect("audit")
            .into_iter()
            .map(|(_, event)| event)
            .collect();
        events.reverse();
        (records, events)
    }

    /// Every HTTP request simulator `index` has received, of any kind.
    pub fn requests_seen(&self, index: usize) -> u64 {
        let s = self.sims[index].0.stats();
        s.chat_requests
            + s.fim_requests
            + s.embeddings_requests
            + s.rerank_requests
            + s.models_requests
            + s.health_requests
    }
}

/// The databases a server can keep its state in.
#[derive(Debug, Clone, Copy)]
pub enum Database {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL schema of its own (tests run in parallel against one database), dropped when
/// the test ends; `None` when `FABRIQUE_TEST_POSTGRES_URL` is not set.
pub async fn postgres_schema() -> Option<SchemaGuard> {
    let Ok(base_url) = std::env::var("FABRIQUE_TEST_POSTGRES_URL") else {
        println!("skipping on PostgreSQL: FABRIQUE_TEST_POSTGRES_URL is not set");
        return None;
    };
    let schema = format!("it_{}", domain::KeyId::generate().0.simple());
    run_sql(&base_url, &format!("CREATE SCHEMA {schema}")).await;
    Some(SchemaGuard { base_url, schema })
}

async fn run_sql(url: &str, sql: &str) {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(url).await.expect("postgres");
    sqlx::query(sql).execute(&mut connection).await.expect(sql);
    connection.close().await.expect("close");
}

/// A test's PostgreSQL schema; dropping the guard drops the schema (on a thread of its own, as
/// `Drop` cannot wait on the test's runtime).
pub struct SchemaGuard {
    base_url: String,
    schema: String,
}

impl SchemaGuard {
    /// The database URL whose connections work in this schema.
    pub fn url(&self) -> String {
        let separator = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options[search_path]={}",
            self.base_url, self.schema
        )
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, schema) = (self.base_url.clone(), self.schema.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(drop_schema(&url, &schema))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            println!(
                "could not drop the test schema {}: {dropped:?}",
                self.schema
            );
        }
    }
}

/// Drops `schema`, giving up after a few seconds: the guard blocks the test's thread while it
/// waits, and a server task of that thread may hold a transaction in the schema (a retention
/// purge, say) that it cannot end until the thread is free again. The schema is then left.
async fn drop_schema(url: &str, schema: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(url).await?;
    sqlx::query("SET lock_timeout = '5s'")
        .execute(&mut connection)
        .await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&mut connection)
        .await?;
    connection.close().await
}

/// For each named `async fn(Database)`, one test per database: `sqlite::name`, `postgres::name`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::harness::Database::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::harness::Database::Postgres).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;

/// An API call with `key`; returns the status and the JSON body (`null` when there is none).
pub async fn call(
    t: &TestServer,
    method: reqwest::Method,
    path: &str,
    key: &str,
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

pub fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Bonjour, quel temps fait-il ?"}], "max_tokens": 5})
}

/// One endpoint of engine `kind`, `engine` on simulator 0 (no health checks), serving `models`
/// (their `[[models]]` tables, each naming `endpoints = ["engine"]`).
pub fn one_engine(kind: domain::EndpointKind, models: &str) -> String {
    format!(
        r#"
[routing]
health_check_interval_ms = 0

[[endpoints]]
name = "engine"
kind = "{kind}"
url = "{{sim0}}"
hosting = "on_premises"
clearance = "secret"
{models}"#,
        kind = kind.as_str()
    )
}

/// One endpoint, `gpu` on simulator 0, serving the chat model `mistral-small`.
pub fn one_endpoint(extra: &str) -> String {
    format!(
        r#"
[[endpoints]]
name = "gpu"
kind = "vllm"
url = "{{sim0}}"
hosting = "on_premises"
clearance = "secret"

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu"]

{extra}
"#
    )
}

/// One endpoint per simulator, and models on them.
pub fn two_endpoints(extra: &str) -> String {
    format!(
        r#"
[routing]
max_attempts = 3
circuit_failures = 2
circuit_open_ms = 3600000
health_check_interval_ms = 0

[[endpoints]]
name = "gpu-a"
kind = "vllm"
url = "{{sim0}}"
hosting = "on_premises"
clearance = "secret"

[[endpoints]]
name = "gpu-b"
kind = "vllm"
url = "{{sim1}}"
hosting = "on_premises"
clearance = "secret"

{extra}
"#
    )
}

/// The completion text of a chat stream: its chunks' `delta.content`, joined.
pub fn sse_text(body: &str) -> String {
    sse_data(body)
        .iter()
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// Splits an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}
