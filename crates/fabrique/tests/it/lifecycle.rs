//! A replica's life under an orchestrator, with the real binary and real signals on PostgreSQL:
//! `SIGTERM` drains (readiness off at once, new requests refused with `503`, streams in flight
//! finished, or cut at the deadline, usage stored before exit); `SIGHUP` reloads the
//! configuration (authorization policies, models) without dropping a stream, and refuses an
//! invalid file keeping the running one.
//! Every wait ends on something observed (an answer, a log line, the process's exit).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{ADMIN_KEY, SchemaGuard, postgres_schema};
use crate::process::{Serve, user_key};

/// The replicas' configuration with tokens at four a second, so a stream of twenty lasts five
/// seconds: long enough to be in flight while the test signals and looks.
fn slow_config() -> String {
    let slow =
        crate::replicas::CONFIG.replace("tokens_per_second = 1000000", "tokens_per_second = 4");
    assert_ne!(slow, crate::replicas::CONFIG);
    slow
}

/// Far above what any step takes; a step that waits longer fails the test.
const DEADLINE: Duration = Duration::from_secs(60);

/// One `serve` process on a fresh PostgreSQL schema with `extra` appended to [`slow_config`];
/// `None` without `FABRIQUE_TEST_POSTGRES_URL`.
struct Replica {
    serve: Serve,
    http: reqwest::Client,
    config: std::path::PathBuf,
    dir: tempfile::TempDir,
    schema: SchemaGuard,
}

impl Replica {
    async fn start(extra: impl Fn(&Path) -> String) -> Option<Replica> {
        let schema = postgres_schema().await?;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("fabrique.toml");
        std::fs::write(&config, format!("{}{}", slow_config(), extra(dir.path()))).unwrap();
        let serve = Serve::start_on(&config, &dir.path().join("data"), Some(&schema.url()));
        // No pooled connections: the drain closes idle ones, and a request must not race that.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Some(Replica {
            serve,
            http,
            config,
            dir,
            schema,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.serve.base)
    }

    /// A streamed chat completion of `max_tokens`, once its first chunk has arrived.
    async fn stream(&self, key: &str, request_id: &str, max_tokens: u32) -> reqwest::Response {
        let mut response = self
            .http
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header("x-request-id", request_id)
            .json(
                &json!({"model": "mistral-small", "stream": true, "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": "Bonjour"}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let first = response.chunk().await.unwrap().expect("a first chunk");
        assert!(!first.is_empty());
        response
    }

    /// GETs `path` with the administrator's key until it answers `status`: the status and body.
    /// A draining server closes idle keep-alive connections, so a request that meets one being
    /// closed is sent again.
    async fn until_answers(&self, path: &str, status: u16) -> Value {
        let start = Instant::now();
        loop {
            let sent = self
                .http
                .get(self.url(path))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(error) if error.is_request() && start.elapsed() < DEADLINE => continue,
                Err(error) => panic!("{path}: {error}"),
            };
            if response.status().as_u16() == status {
                return response.json().await.unwrap_or(Value::Null);
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{path} still answers {}",
                response.status()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a one-token chat completion of `model` until it answers `status`: its body. A
    /// reload takes effect some time after its signal; each try is one observation of it.
    async fn until_chat(&self, key: &str, model: &str, status: u16) -> Value {
        let start = Instant::now();
        loop {
            let response = self
                .http
                .post(self.url("/v1/chat/completions"))
                .bearer_auth(key)
                .json(&json!({"model": model, "max_tokens": 1,
                    "messages": [{"role": "user", "content": "Bonjour"}]}))
                .send()
                .await
                .unwrap();
            let answered = response.status().as_u16();
            let body = response.json().await.unwrap_or(Value::Null);
            if answered == status {
                return body;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{model} still answers {answered}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The usage record the request `request_id` left in the store.
    async fn usage_of(&self, request_id: &str) -> Option<domain::UsageRecord> {
        let store = store::Store::connect(&self.schema.url()).await.unwrap();
        store
            .list_usage(1000)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.client_request_id.as_deref() == Some(request_id))
    }
}

/// The rest of a stream's text; an error reading it ends it as the client sees it.
async fn rest_of(mut response: reqwest::Response) -> String {
    let mut text = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[tokio::test]
async fn sigterm_turns_readiness_off_finishes_the_stream_in_flight_and_stores_its_usage() {
    let Some(mut replica) = Replica::start(|_| String::new()).await else {
        return;
    };
    let key = user_key(&replica.http, &replica.serve.base, "acme", "ada").await;
    let stream = replica.stream(&key, "drained-stream", 20).await;

    replica.serve.signal("TERM");
    let ready = replica.until_answers("/readyz", 503).await;
    assert_eq!(ready["error"]["code"], "draining", "{ready}");
    let refused = replica
        .http
        .post(replica.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&crate::harness::chat_body("mistral-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "draining", "{body}");

    let rest = rest_of(stream).await;
    assert!(rest.contains("data: [DONE]"), "the stream was cut: {rest}");
    let exit = replica.serve.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let record = replica
        .usage_of("drained-stream")
        .await
        .expect("usage stored");
    assert_eq!(record.status, 200);
    assert!(record.completion_tokens > 0);
}

#[tokio::test]
async fn sigterm_cuts_a_stream_still_running_at_the_drain_deadline_and_meters_it() {
    let Some(mut replica) =
        Replica::start(|_| "\n[server]\ndrain_timeout_secs = 0\n".to_owned()).await
    else {
        return;
    };
    let key = user_key(&replica.http, &replica.serve.base, "acme", "ada").await;
    let stream = replica.stream(&key, "cut-stream", 100_000).await;

    replica.serve.signal("TERM");
    let rest = rest_of(stream).await;
    assert!(!rest.contains("data: [DONE]"), "the stream ran to its end");
    let exit = replica.serve.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        replica.usage_of("cut-stream").await.is_some(),
        "the cut stream was not metered"
    );
}

#[tokio::test]
async fn sighup_puts_new_authorization_policies_in_force_without_dropping_a_stream() {
    let policies = |dir: &Path| dir.join("policies.cedar");
    let Some(mut replica) = Replica::start(|dir| {
        std::fs::write(policies(dir), admin::DEFAULT_POLICIES).unwrap();
        format!(
            "\n[authorization]\npolicies = \"{}\"\n",
            policies(dir).display()
        )
    })
    .await
    else {
        return;
    };
    let key = user_key(&replica.http, &replica.serve.base, "acme", "ada").await;
    let stream = replica.stream(&key, "reloaded-stream", 20).await;
    replica.until_answers("/admin/v1/entities", 200).await;

    let forbid = "\nforbid (principal, action == Fabrique::Action::\"entity.list\", resource);\n";
    let path = policies(replica.dir.path());
    std::fs::write(&path, format!("{}{forbid}", admin::DEFAULT_POLICIES)).unwrap();
    replica.serve.signal("HUP");
    replica.until_answers("/admin/v1/entities", 403).await;

    // An invalid file is refused, said in a log line, and the running configuration kept.
    let valid = std::fs::read_to_string(&replica.config).unwrap();
    std::fs::write(
        &replica.config,
        format!("{valid}\n[server]\nno_such_key = 1\n"),
    )
    .unwrap();
    replica.serve.signal("HUP");
    let line = replica.serve.until_log("configuration reload refused");
    assert!(line.contains("no_such_key"), "{line}");
    std::fs::write(&path, "this is not Cedar").unwrap();
    std::fs::write(&replica.config, valid).unwrap();
    replica.serve.signal("HUP");
    let line = replica.serve.until_log("configuration reload refused");
    assert!(line.contains("policies"), "{line}");
    replica.until_answers("/admin/v1/entities", 403).await;

    let rest = rest_of(stream).await;
    assert!(
        rest.contains("data: [DONE]"),
        "the stream was dropped: {rest}"
    );
    replica.serve.terminate();
}

#[tokio::test]
async fn sighup_serves_a_model_added_to_the_file_and_refuses_one_naming_an_unknown_endpoint() {
    let Some(mut replica) = Replica::start(|_| String::new()).await else {
        return;
    };
    let key = user_key(&replica.http, &replica.serve.base, "acme", "ada").await;
    let stream = replica.stream(&key, "models-reloaded-stream", 20).await;
    replica.until_chat(&key, "llama", 404).await;

    let valid = std::fs::read_to_string(&replica.config).unwrap();
    let llama = "\n[[models]]\nname = \"llama\"\nkind = \"chat\"\nendpoints = [\"gpu\"]\n";
    std::fs::write(&replica.config, format!("{valid}{llama}")).unwrap();
    replica.serve.signal("HUP");
    replica.until_chat(&key, "llama", 200).await;

    // An endpoint with a bad URL and a model naming an unknown endpoint: both said, in one line,
    // and nothing of the file applied.
    let broken = "\n[[endpoints]]\nname = \"broken\"\nkind = \"vllm\"\nurl = \"gopher://x\"\n\
                  hosting = \"on_premises\"\nclearance = \"internal\"\n\n[[models]]\nname = \"ghost\"\nkind = \"chat\"\n\
                  endpoints = [\"nowhere\"]\n";
    std::fs::write(&replica.config, format!("{valid}{broken}")).unwrap();
    replica.serve.signal("HUP");
    let line = replica.serve.until_log("configuration reload refused");
    assert!(line.contains("nowhere"), "{line}");
    assert!(line.contains("gopher"), "{line}");
    replica.until_chat(&key, "llama", 200).await;

    // Removed from the file, the model is unknown again, as any other.
    std::fs::write(&replica.config, &valid).unwrap();
    replica.serve.signal("HUP");
    let body = replica.until_chat(&key, "llama", 404).await;
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");

    let rest = rest_of(stream).await;
    assert!(
        rest.contains("data: [DONE]"),
        "the stream was dropped: {rest}"
    );
    replica.serve.terminate();
}
