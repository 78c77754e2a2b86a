//! `fabrique serve` as a child process: the real binary, its real start-up and its real ends
//! (`kill -9`, or SIGTERM and a clean shutdown).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::ADMIN_KEY;

/// `fabrique serve` as a child process on a free loopback port.
pub struct Serve {
    pub child: Child,
    pub base: String,
    /// The one-time sign-in links it prints (without an identity provider).
    pub links: std::sync::mpsc::Receiver<String>,
    /// Every other line it writes on standard error (its logs at `warn` and above).
    pub logs: std::sync::mpsc::Receiver<String>,
}

impl Serve {
    /// Starts the binary and returns once it listens (it says so on standard error).
    pub fn start(config: &Path, data: &Path) -> Serve {
        Serve::start_on(config, data, None)
    }

    /// [`Serve::start`] on the database at `database_url` (its data directory's SQLite file
    /// when `None`).
    pub fn start_on(config: &Path, data: &Path, database_url: Option<&str>) -> Serve {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fabrique"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data);
        if let Some(url) = database_url {
            command.arg("--database-url").arg(url);
        }
        let mut child = command
            .env("FABRIQUE_ADMIN_KEY", ADMIN_KEY)
            .env("RUST_LOG", "warn")
            .env_remove(configuration::OTLP_ENDPOINT_ENV)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (link_tx, links) = std::sync::mpsc::channel();
        let (log_tx, logs) = std::sync::mpsc::channel();
        // Reads standard error to its end, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("fabrique listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                } else if line.starts_with("sign in to the web") {
                    let link = line.rsplit(' ').next().unwrap_or_default().to_owned();
                    let _ = link_tx.send(link);
                } else {
                    eprintln!("serve: {line}");
                    let _ = log_tx.send(line);
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("fabrique serve starts and listens");
        Serve {
            child,
            base,
            links,
            logs,
        }
    }

    /// Sends the signal `name` (`TERM`, `HUP`, …) without waiting for what it does.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for a log line containing `text`; fails the test if the process writes none within
    /// two minutes (far above what it takes: the wait ends on the line, not on the clock).
    pub fn until_log(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .logs
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line with `{text}`"));
            if line.contains(text) {
                return line;
            }
        }
    }

    /// SIGTERM, and the clean shutdown that flushes everything.
    pub fn terminate(&mut self) {
        self.signal("TERM");
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit:?}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A user of `entity` and an inference key of theirs, created through the admin API.
pub async fn user_key(http: &reqwest::Client, base: &str, entity: &str, user: &str) -> String {
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
            .send()
    };
    let created: Value = post(
        "/admin/v1/users",
        json!({"entity": entity, "user_name": user, "email": format!("{user}@example.test")}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key: Value = post("/admin/v1/keys", json!({"user_id": created["id"]}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    key["key"].as_str().expect("key").to_owned()
}
