//! `fabrique admin …` and `fabrique report …`: a thin client of the admin API. It turns a command
//! line into one HTTP request ([`request`]), prints the API's JSON (pretty) and turns API errors
//! into one readable line; it holds no logic the API does not, and knows nothing of the server's
//! crates: the admin API's routes and their JSON are its only contract. Every command — `admin`,
//! `report`, `usecase`, `eval`, `libraries` — names the server and its key with the same [`Server`] arguments.

use std::fmt;

use clap::Args;
use reqwest::StatusCode;
use serde_json::Value;

mod command;
mod factory;
mod libraries;
mod limits;
mod report;
mod request;

pub use command::{
    AdminCommand, AuditArgs, BudgetsCommand, EntitiesCommand, HoldsCommand, KeysCommand,
    LimitsCommand, PoliciesCommand, PolicyTarget, PoolCommand, PoolSize, PoolsCommand, RoleArgs,
    RolesCommand, ScimTokensCommand, ScopeArgs, SeatsCommand, SessionsCommand, UsersCommand,
    WhichBudget,
};
pub use factory::{
    EvalCli, EvalCommand, Move, SuiteCommand, UseCaseCli, UseCaseCommand, VersionCommand, eval,
    use_case,
};
pub use libraries::{LibrariesCli, LibrariesCommand, libraries};
pub use report::{ReportCli, ReportCommand, ReportFormat, report};

use request::{Request, request_for};

/// The server and the key every command of the admin API's client uses: `--url` and `--key`, or
/// `FABRIQUE_URL` and `FABRIQUE_ADMIN_KEY`, given before or after the subcommand.
#[derive(Clone, Args)]
pub struct Server {
    /// Base URL of the Fabrique server.
    #[arg(
        long,
        global = true,
        env = "FABRIQUE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// An API key whose roles allow the command: an administrator's; a factory engineer's or
    /// risk officer's for use cases and evaluations; an entity administrator's or auditor's for
    /// their entity's reports.
    #[arg(
        long,
        global = true,
        env = "FABRIQUE_ADMIN_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
}

/// The secret must not reach logs through `{:?}`.
impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Administer a running Fabrique through its admin API.
#[derive(Debug, Args)]
pub struct AdminCli {
    #[command(flatten)]
    pub server: Server,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// Why an admin command failed. Its `Display` is the one line to show (the binary prefixes it
/// with `error: `).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("no API key: pass --key or set FABRIQUE_ADMIN_KEY")]
    MissingKey,
    /// The source (the HTTP client's reason, down to the socket's) follows in the binary's line.
    #[error("cannot reach {url}")]
    Connect { url: String, source: reqwest::Error },
    /// The API answered with an error: `409 conflict: entity slug `x` already exists`.
    #[error("{} {code}: {message}", status.as_u16())]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error("unexpected response from the server ({status}): {body}")]
    Unexpected { status: StatusCode, body: String },
    /// A file the command sends could not be read.
    #[error("reading {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not JSON: {detail}")]
    NotJson { path: String, detail: String },
    /// An evaluation did not finish, or did not pass its use case's thresholds.
    #[error("{0}")]
    Evaluation(String),
    /// A file the command writes (a downloaded document) could not be written.
    #[error("writing {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// The answer could not be written out, e.g. the reader of a pipe went away.
    #[error("writing the answer")]
    Output(#[source] std::io::Error),
}

/// Runs one admin command and prints the response.
pub async fn run_cli(cli: AdminCli) -> Result<(), CliError> {
    use std::io::Write as _;
    let value = execute(&cli).await?;
    // Serializing a `Value` cannot fail; the fallback only keeps this free of panics.
    let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string());
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(CliError::Output)
}

/// Runs one admin command and returns the response body, for callers that want the JSON. A paged
/// listing is followed to its end (while `next_offset` says more rows follow), so the command
/// returns every row in one `data` array.
pub async fn execute(cli: &AdminCli) -> Result<Value, CliError> {
    let request = request_for(&cli.command);
    let mut answer = fetch(cli, request.clone()).await?;
    while let Some(next) = answer.get("next_offset").and_then(Value::as_u64) {
        let mut following = request.clone();
        following.query.retain(|(name, _)| *name != "offset");
        following.query.push(("offset", next.to_string()));
        let mut page = fetch(cli, following).await?;
        let rows = page["data"].as_array_mut().map(std::mem::take);
        if let (Some(data), Some(rows)) = (answer["data"].as_array_mut(), rows) {
            data.extend(rows);
        }
        answer["next_offset"] = page["next_offset"].take();
    }
    Ok(answer)
}

/// One call whose answer is JSON.
async fn fetch(cli: &AdminCli, request: Request) -> Result<Value, CliError> {
    let text = call(&cli.server, request).await?;
    serde_json::from_str(&text).map_err(|_| CliError::Unexpected {
        status: StatusCode::OK,
        body: text,
    })
}

/// One call of the admin API: the body's text on success, the API's error as one line otherwise.
async fn call(server: &Server, request: Request) -> Result<String, CliError> {
    let bytes = call_for_bytes(server, request).await?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// [`call`] for an answer that is a file: its bytes as they came.
async fn call_for_bytes(server: &Server, request: Request) -> Result<Vec<u8>, CliError> {
    let key = server.key.as_deref().filter(|k| !k.is_empty());
    let key = key.ok_or(CliError::MissingKey)?;
    let url = format!("{}{}", server.url.trim_end_matches('/'), request.path);
    let client = reqwest::Client::new();
    let mut builder = client
        .request(request.method, &url)
        .bearer_auth(key)
        .query(&request.query);
    if let Some(body) = request.body {
        builder = builder.json(&body);
    }
    if let Some(text) = request.text {
        builder = builder
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(text);
    }
    if let Some(file) = request.file {
        let media_type = request.media_type.unwrap_or("application/octet-stream");
        builder = builder
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(file);
    }
    let response = builder.send().await.map_err(|source| CliError::Connect {
        url: url.clone(),
        source,
    })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|source| CliError::Connect { url, source })?;
    if status.is_success() {
        return Ok(bytes.to_vec());
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let parsed: Option<Value> = serde_json::from_str(&text).ok();
    match parsed.as_ref().and_then(|v| v.get("error")) {
        Some(error) => Err(CliError::Api {
            status,
            code: error["code"].as_str().unwrap_or("error").to_owned(),
            message: error["message"].as_str().unwrap_or_default().to_owned(),
        }),
        None => Err(CliError::Unexpected { status, body: text }),
    }
}

#[cfg(test)]
mod tests;
