//! `fabrique admin …`: a thin client of the admin API. It prints the API's JSON (pretty) and turns
//! API errors into one readable line; it holds no logic the API does not.

use std::fmt;

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod limits;

pub use limits::{BudgetsCommand, LimitsCommand, ScopeArgs};

/// Administer a running Fabrique through its admin API.
#[derive(Args)]
pub struct AdminCli {
    /// Base URL of the Fabrique server.
    #[arg(long, env = "FABRIQUE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An administrator's API key.
    #[arg(long, env = "FABRIQUE_ADMIN_KEY", hide_env_values = true)]
    pub key: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The secret must not reach logs through `{:?}`.
impl fmt::Debug for AdminCli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCli")
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("command", &self.command)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Entities (subsidiaries, business units).
    Entities {
        #[command(subcommand)]
        command: EntitiesCommand,
    },
    /// Users of an entity.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// API keys of users and service accounts.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// SCIM tokens: the corporate directory's credentials for /scim/v2.
    ScimTokens {
        #[command(subcommand)]
        command: ScimTokensCommand,
    },
    /// Seats: the group's pool, entities' reserved seats, the seat report.
    Seats {
        #[command(subcommand)]
        command: SeatsCommand,
    },
    /// Rate limits (requests and tokens per minute) of keys, users, teams and entities.
    Limits {
        #[command(subcommand)]
        command: LimitsCommand,
    },
    /// Budgets (tokens or money per day or month) of keys, users, teams and entities.
    Budgets {
        #[command(subcommand)]
        command: BudgetsCommand,
    },
    /// The newest audit events, optionally narrowed.
    Audit(AuditArgs),
    /// GPU pools: the entities' shares of each pool.
    Pools {
        #[command(subcommand)]
        command: PoolsCommand,
    },
    /// Erase a user's stored prompts and completions: their content key is destroyed (so any
    /// copy, in a backup too, is unreadable) and their content deleted; usage records stay for
    /// chargeback. Audited as `user.erase`; erasing again does nothing more.
    EraseUser {
        /// The user's id (`usr_…`) or user name.
        user: String,
    },
}

/// Which audit events to show; every option narrows the selection.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Only this entity's events (slug).
    #[arg(long)]
    pub entity: Option<String>,
    /// Only this actor's events (a key id, a user id, `system`…).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action (`key.create`) or family of actions (`key`).
    #[arg(long)]
    pub action: Option<String>,
    /// Only `success`, `denied` or `failure`.
    #[arg(long)]
    pub outcome: Option<String>,
    /// From this instant (`2026-11-01`, `2026-11-01T08:00`, RFC 3339), in the group's time zone.
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this instant, excluded.
    #[arg(long)]
    pub to: Option<String>,
    /// Only events numbered below this (the `next_before` of the previous page).
    #[arg(long)]
    pub before: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum PoolsCommand {
    /// Set an entity's share of a pool: its weight and guaranteed minimum.
    SetShare {
        pool: String,
        /// The entity's slug.
        entity: String,
        /// Relative share, at least 1.
        #[arg(long)]
        weight: u32,
        /// Fraction of the pool guaranteed while the entity has requests waiting, 0 to 1.
        #[arg(long, default_value_t = 0.0)]
        min_share: f64,
    },
    /// The entities' shares of a pool and what each was served.
    Shares { pool: String },
}

#[derive(Debug, Subcommand)]
pub enum EntitiesCommand {
    /// Create an entity.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List entities.
    List,
    /// Suspend an entity: every key of its users and service accounts stops at once, their
    /// sign-ins are refused and their seats are released.
    Suspend { slug: String },
    /// Reactivate a suspended entity: its users' keys work again.
    Reactivate { slug: String },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user in an entity.
    Create {
        /// The entity's slug.
        #[arg(long)]
        entity: String,
        #[arg(long)]
        user_name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List users, of one entity or of all.
    List {
        #[arg(long)]
        entity: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a user, or for a service account of an entity (created when missing).
    /// The secret is printed once.
    Create {
        #[arg(long, conflicts_with_all = ["entity", "service_account"], required_unless_present = "entity")]
        user_id: Option<String>,
        #[arg(long, requires = "service_account")]
        entity: Option<String>,
        #[arg(long, requires = "entity")]
        service_account: Option<String>,
        /// A label to tell keys apart.
        #[arg(long)]
        name: Option<String>,
        /// The key's default classification (a configured level): every request made with the key
        /// is classified at least this high.
        #[arg(long)]
        classification: Option<String>,
        /// A model the key may use (repeatable); without it, every model of its entity.
        #[arg(long = "model")]
        models: Vec<String>,
        /// The key's lifetime, in days (`90d` or `90`).
        #[arg(long, value_parser = parse_days)]
        expires_in: Option<u32>,
        /// The key's priority class (`interactive`, `standard`, `batch`): its requests' default
        /// and the most urgent class they may ask for.
        #[arg(long)]
        priority: Option<String>,
    },
    /// List keys (never their secrets), of one entity or of all.
    List {
        #[arg(long)]
        entity: Option<String>,
    },
    /// Revoke a key; it stops working at once.
    Revoke { id: String },
    /// Replace a key by a new one (same owner, scopes and settings; the secret is printed once);
    /// the old key keeps working for the grace period.
    Rotate {
        id: String,
        /// How long the old key keeps working: `24h`, `30m`, `7d`, `90s` or `0` (at most 30 days).
        #[arg(long, value_parser = parse_grace)]
        grace: Option<u64>,
    },
}

/// Whole days: `90d` or `90`.
fn parse_days(text: &str) -> Result<u32, String> {
    text.strip_suffix('d')
        .unwrap_or(text)
        .parse()
        .map_err(|_| format!("expected a number of days such as `90d`, not `{text}`"))
}

/// A duration in seconds from `90s`, `30m`, `24h`, `7d` or a bare number of seconds.
fn parse_grace(text: &str) -> Result<u64, String> {
    let bad = || format!("expected a duration such as `24h`, `30m`, `7d` or `0`, not `{text}`");
    let (number, unit) = match text.char_indices().last() {
        Some((at, 's')) => (&text[..at], 1),
        Some((at, 'm')) => (&text[..at], 60),
        Some((at, 'h')) => (&text[..at], 3_600),
        Some((at, 'd')) => (&text[..at], 86_400),
        _ => (text, 1),
    };
    let value: u64 = number.parse().map_err(|_| bad())?;
    value.checked_mul(unit).ok_or_else(bad)
}

#[derive(Debug, Subcommand)]
pub enum ScimTokensCommand {
    /// Create a SCIM token, bound to an entity or (without --entity) to the whole group. The
    /// secret is printed once.
    Create {
        /// The entity's slug.
        #[arg(long)]
        entity: Option<String>,
        /// A label, e.g. the directory's name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List SCIM tokens (never their secrets), of one entity or of all.
    List {
        #[arg(long)]
        entity: Option<String>,
    },
    /// Revoke a SCIM token; it stops working at once.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum SeatsCommand {
    /// The group's seat pool.
    Pool {
        #[command(subcommand)]
        command: PoolCommand,
    },
    /// Reserve seats of the pool for an entity (0 removes the reservation).
    Reserve {
        /// The entity's slug.
        #[arg(long)]
        entity: String,
        seats: u64,
    },
    /// Pool, reserved, assigned, active in the last 7 and 30 days and reclaimable seats per entity.
    Report {
        #[arg(long)]
        entity: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Set the number of seats (never below what is assigned); `unlimited` lifts the limit.
    Set { size: PoolSize },
    /// Show the pool's size and what is assigned and reserved.
    Show,
}

/// A pool size on the command line: a number, or `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize(pub Option<u64>);

impl std::str::FromStr for PoolSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "unlimited" {
            return Ok(PoolSize(None));
        }
        s.parse()
            .map(|n| PoolSize(Some(n)))
            .map_err(|_| format!("`{s}` is not a number of seats (or `unlimited`)"))
    }
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

/// Runs one admin command and returns the response body, for callers that want the JSON.
pub async fn execute(cli: &AdminCli) -> Result<Value, CliError> {
    let (method, path, query, body) = request_for(&cli.command);
    let text = call(&cli.url, cli.key.as_deref(), method, &path, &query, body).await?;
    serde_json::from_str(&text).map_err(|_| CliError::Unexpected {
        status: StatusCode::OK,
        body: text,
    })
}

/// Reports read through the admin API, printed as the API writes them.
#[derive(Args)]
pub struct ReportCli {
    /// Base URL of the Fabrique server.
    #[arg(
        long,
        global = true,
        env = "FABRIQUE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// An API key allowed to read reports: a group administrator's, or an entity
    /// administrator's or auditor's for their entity.
    #[arg(
        long,
        global = true,
        env = "FABRIQUE_ADMIN_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
    #[command(subcommand)]
    pub command: ReportCommand,
}

impl fmt::Debug for ReportCli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportCli")
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("command", &self.command)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The monthly chargeback: per entity, then per team, model and use case.
    Chargeback {
        /// The month, `YYYY-MM`, in the group's time zone.
        #[arg(long)]
        month: String,
        /// Only this entity (slug); entity administrators get their own entity anyway.
        #[arg(long)]
        entity: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: ReportFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Json,
    Csv,
}

/// Runs one report and returns its text: CSV as the server wrote it, JSON pretty-printed.
pub async fn report(cli: &ReportCli) -> Result<String, CliError> {
    let ReportCommand::Chargeback {
        month,
        entity,
        format,
    } = &cli.command;
    let mut query = vec![("month", month.clone())];
    query.extend(entity_query(entity));
    if *format == ReportFormat::Csv {
        query.push(("format", "csv".to_owned()));
    }
    let text = call(
        &cli.url,
        cli.key.as_deref(),
        Method::GET,
        "/admin/v1/reports/chargeback",
        &query,
        None,
    )
    .await?;
    if *format == ReportFormat::Csv {
        return Ok(text);
    }
    let value: Value = serde_json::from_str(&text).map_err(|_| CliError::Unexpected {
        status: StatusCode::OK,
        body: text.clone(),
    })?;
    Ok(serde_json::to_string_pretty(&value).unwrap_or(text))
}

/// One call of the admin API: the body's text on success, the API's error as one line otherwise.
async fn call(
    base_url: &str,
    key: Option<&str>,
    method: Method,
    path: &str,
    query: &[(&'static str, String)],
    body: Option<Value>,
) -> Result<String, CliError> {
    let key = key.filter(|k| !k.is_empty()).ok_or(CliError::MissingKey)?;
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let mut request = client.request(method, &url).bearer_auth(key).query(query);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|source| CliError::Connect {
        url: url.clone(),
        source,
    })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|source| CliError::Connect { url, source })?;
    if status.is_success() {
        return Ok(text);
    }
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

type Request = (Method, String, Vec<(&'static str, String)>, Option<Value>);

/// `PUT /admin/v1/entities/{slug}/status`.
fn entity_status(slug: &str, status: &str) -> Request {
    (
        Method::PUT,
        format!("/admin/v1/entities/{}/status", encode_path_segment(slug)),
        vec![],
        Some(json!({ "status": status })),
    )
}

/// The HTTP request for a command: method, path, query, JSON body.
fn request_for(command: &AdminCommand) -> Request {
    match command {
        AdminCommand::Entities {
            command: EntitiesCommand::Create { slug, name },
        } => (
            Method::POST,
            "/admin/v1/entities".into(),
            vec![],
            Some(json!({"slug": slug, "name": name})),
        ),
        AdminCommand::Entities {
            command: EntitiesCommand::List,
        } => (Method::GET, "/admin/v1/entities".into(), vec![], None),
        AdminCommand::Entities {
            command: EntitiesCommand::Suspend { slug },
        } => entity_status(slug, "suspended"),
        AdminCommand::Entities {
            command: EntitiesCommand::Reactivate { slug },
        } => entity_status(slug, "active"),
        AdminCommand::Users {
            command:
                UsersCommand::Create {
                    entity,
                    user_name,
                    email,
                    display_name,
                },
        } => {
            let mut body = json!({"entity": entity, "user_name": user_name, "email": email});
            if let Some(display_name) = display_name {
                body["display_name"] = json!(display_name);
            }
            (Method::POST, "/admin/v1/users".into(), vec![], Some(body))
        }
        AdminCommand::Users {
            command: UsersCommand::List { entity },
        } => (
            Method::GET,
            "/admin/v1/users".into(),
            entity_query(entity),
            None,
        ),
        AdminCommand::Keys {
            command:
                KeysCommand::Create {
                    user_id,
                    entity,
                    service_account,
                    name,
                    classification,
                    models,
                    expires_in,
                    priority,
                },
        } => {
            let mut body = json!({});
            for (field, value) in [
                ("user_id", user_id),
                ("entity", entity),
                ("service_account", service_account),
                ("name", name),
                ("classification", classification),
                ("priority", priority),
            ] {
                if let Some(value) = value {
                    body[field] = json!(value);
                }
            }
            if !models.is_empty() {
                body["models"] = json!(models);
            }
            if let Some(days) = expires_in {
                body["expires_in_days"] = json!(days);
            }
            (Method::POST, "/admin/v1/keys".into(), vec![], Some(body))
        }
        AdminCommand::Keys {
            command: KeysCommand::Rotate { id, grace },
        } => {
            let mut body = json!({});
            if let Some(seconds) = grace {
                body["grace_seconds"] = json!(seconds);
            }
            (
                Method::POST,
                format!("/admin/v1/keys/{}/rotate", encode_path_segment(id)),
                vec![],
                Some(body),
            )
        }
        AdminCommand::Keys {
            command: KeysCommand::List { entity },
        } => (
            Method::GET,
            "/admin/v1/keys".into(),
            entity_query(entity),
            None,
        ),
        AdminCommand::Keys {
            command: KeysCommand::Revoke { id },
        } => (
            Method::DELETE,
            format!("/admin/v1/keys/{}", encode_path_segment(id)),
            vec![],
            None,
        ),
        AdminCommand::ScimTokens {
            command: ScimTokensCommand::Create { entity, name },
        } => {
            let mut body = json!({});
            for (field, value) in [("entity", entity), ("name", name)] {
                if let Some(value) = value {
                    body[field] = json!(value);
                }
            }
            (
                Method::POST,
                "/admin/v1/scim-tokens".into(),
                vec![],
                Some(body),
            )
        }
        AdminCommand::ScimTokens {
            command: ScimTokensCommand::List { entity },
        } => (
            Method::GET,
            "/admin/v1/scim-tokens".into(),
            entity_query(entity),
            None,
        ),
        AdminCommand::ScimTokens {
            command: ScimTokensCommand::Revoke { id },
        } => (
            Method::DELETE,
            format!("/admin/v1/scim-tokens/{}", encode_path_segment(id)),
            vec![],
            None,
        ),
        AdminCommand::Seats {
            command:
                SeatsCommand::Pool {
                    command: PoolCommand::Set { size },
                },
        } => (
            Method::PUT,
            "/admin/v1/seats/pool".into(),
            vec![],
            Some(json!({"size": size.0})),
        ),
        AdminCommand::Seats {
            command: SeatsCommand::Pool {
                command: PoolCommand::Show,
            },
        } => (Method::GET, "/admin/v1/seats/pool".into(), vec![], None),
        AdminCommand::Seats {
            command: SeatsCommand::Reserve { entity, seats },
        } => (
            Method::PUT,
            format!("/admin/v1/seats/entities/{}", encode_path_segment(entity)),
            vec![],
            Some(json!({"reserved": seats})),
        ),
        AdminCommand::Seats {
            command: SeatsCommand::Report { entity },
        } => (
            Method::GET,
            "/admin/v1/seats/report".into(),
            entity_query(entity),
            None,
        ),
        AdminCommand::Limits { command } => limits::limits_request(command),
        AdminCommand::Budgets { command } => limits::budgets_request(command),
        AdminCommand::Audit(args) => (
            Method::GET,
            "/admin/v1/audit".into(),
            audit_query(args),
            None,
        ),
        AdminCommand::Pools {
            command:
                PoolsCommand::SetShare {
                    pool,
                    entity,
                    weight,
                    min_share,
                },
        } => (
            Method::PUT,
            format!(
                "/admin/v1/pools/{}/shares/{}",
                encode_path_segment(pool),
                encode_path_segment(entity)
            ),
            vec![],
            Some(json!({"weight": weight, "min_share": min_share})),
        ),
        AdminCommand::Pools {
            command: PoolsCommand::Shares { pool },
        } => (
            Method::GET,
            format!("/admin/v1/pools/{}/shares", encode_path_segment(pool)),
            vec![],
            None,
        ),
        AdminCommand::EraseUser { user } => (
            Method::POST,
            format!("/admin/v1/users/{}/erase", encode_path_segment(user)),
            vec![],
            None,
        ),
    }
}

fn audit_query(args: &AuditArgs) -> Vec<(&'static str, String)> {
    let mut query = vec![("limit", args.limit.to_string())];
    for (name, value) in [
        ("entity", &args.entity),
        ("actor", &args.actor),
        ("action", &args.action),
        ("outcome", &args.outcome),
        ("from", &args.from),
        ("to", &args.to),
    ] {
        query.extend(value.iter().map(|v| (name, v.clone())));
    }
    query.extend(args.before.map(|b| ("before", b.to_string())));
    query
}

fn entity_query(entity: &Option<String>) -> Vec<(&'static str, String)> {
    entity.iter().map(|slug| ("entity", slug.clone())).collect()
}

/// Percent-encodes everything but unreserved characters, so an odd id cannot change the path.
fn encode_path_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
