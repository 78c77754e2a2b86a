//! A real admin server on 127.0.0.1:0 over a fresh SQLite store, bootstrapped with [`ADMIN_KEY`].

use std::sync::Arc;

use admin::{AdminState, BootstrapOutcome, bootstrap_admin, router};
use domain::KeyId;
use identity::Directory;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use store::Store;

pub const ADMIN_KEY: &str = "fabk_admin_test_secret_0123456789abcdef";

/// The key the test server says it signs audit checkpoints with.
pub fn audit_signer() -> evidence::AuditSigner {
    evidence::AuditSigner::from_seed([3; 32])
}

pub struct Server {
    pub base_url: String,
    pub store: Store,
    pub directory: Arc<Directory>,
    /// The endpoints' live state the pools route reads (one endpoint `gpu` in pool `default`).
    pub endpoints: Arc<routing::Endpoints>,
    pub bootstrap_key_id: KeyId,
    client: reqwest::Client,
    _data_dir: tempfile::TempDir,
    _task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(configuration::DataPolicies::default()).await
    }

    /// A server whose data policies are those of configuration text `toml`.
    pub async fn with_policies(toml: &str) -> Server {
        let config = configuration::Config::from_toml(toml, "test.toml", &|_| None).unwrap();
        Server::start_with(configuration::DataPolicies::new(&config)).await
    }

    async fn start_with(data_policies: configuration::DataPolicies) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_dir(data_dir.path()).await.unwrap();
        let directory = Arc::new(Directory::load(&store).await.unwrap());
        let outcome = bootstrap_admin(
            &store,
            &directory,
            Some(ADMIN_KEY.to_owned()),
            admin::BootstrapSettings::default(),
        )
        .await
        .unwrap();
        let BootstrapOutcome::Created { key_id, .. } = outcome else {
            panic!("bootstrap: {outcome:?}")
        };
        let (seats, _writer) = seats::Seats::load(&store, seats::SeatSettings::default())
            .await
            .unwrap();
        let endpoints = routing::Endpoints::new(
            vec![routing::EndpointSpec {
                name: "gpu".to_owned(),
                server: routing::Server {
                    kind: domain::EndpointKind::Vllm,
                    url: "http://127.0.0.1:9/v1".to_owned(),
                },
                pool: "default".to_owned(),
                weight: 1,
                capacity: 8,
            }],
            routing::CircuitPolicy {
                failures: 2,
                open_for: std::time::Duration::from_secs(3600),
            },
        );
        let state = AdminState {
            content: None,
            sign_in: None,
            cookies: access::SessionCookies::new(&configuration::SessionsConfig::default(), false),
            store: store.clone(),
            directory: Arc::clone(&directory),
            audit_public_key: Some(audit_signer().public_key()),
            scim_tokens: Arc::new(identity::ScimTokens::new()),
            classifications: domain::ClassificationLadder::default(),
            model_names: Arc::new(arc_swap::ArcSwap::from_pointee(vec![
                "mistral-small".to_owned(),
            ])),
            seats,
            counters: counters::Counters::local(Arc::new(admission::Admission::new(
                admission::Calendar::utc(),
            ))),
            zone: reports::Zone::utc(),
            scheduler: None,
            endpoints: Arc::new(arc_swap::ArcSwap::new(Arc::clone(&endpoints))),
            factory: Arc::new(factory::Live::new(domain::ClassificationLadder::default())),
            data_policies: Arc::new(arc_swap::ArcSwap::from_pointee(data_policies)),
            evaluator: None,
            libraries: None,
        };
        let app = router(state.clone()).merge(admin::auth_router(state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            base_url: format!("http://{address}"),
            store,
            directory,
            endpoints,
            bootstrap_key_id: key_id,
            client: reqwest::Client::new(),
            _data_dir: data_dir,
            _task: task,
        }
    }

    pub async fn request(
        &self,
        method: Method,
        key: Option<&str>,
        path: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, value)
    }

    pub async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.request(Method::GET, Some(key), path, None).await
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, Some(key), path, Some(body.to_string()))
            .await
    }

    pub async fn post_raw(&self, key: &str, path: &str, body: &str) -> (StatusCode, Value) {
        self.request(Method::POST, Some(key), path, Some(body.to_owned()))
            .await
    }

    pub async fn delete(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.request(Method::DELETE, Some(key), path, None).await
    }
}
