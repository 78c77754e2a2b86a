//! `fabrique usecase …` and `fabrique eval …`: the AI Factory through the admin API. Definitions
//! and versions are read from JSON files, suites from JSON Lines files, and sent as they are: the
//! API checks them and says what is wrong. `eval run` starts a run, shows its progress on
//! standard error and prints its report; it fails when the run does not pass the use case's
//! thresholds, so a pipeline can stop on it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::request::{Request, encode_path_segment as segment};
use crate::{CliError, Server, call};

/// The AI Factory's use cases: register, version, review, deploy, watch, export.
#[derive(Debug, Args)]
pub struct UseCaseCli {
    #[command(flatten)]
    pub server: Server,
    #[command(subcommand)]
    pub command: UseCaseCommand,
}

#[derive(Debug, Subcommand)]
pub enum UseCaseCommand {
    /// The use cases you may read, with their versions.
    List,
    /// One use case: its definition, versions and approvals.
    Show { slug: String },
    /// Register a use case from a JSON file (slug, name, purpose, owner_entity, risk_class, …).
    Create { file: PathBuf },
    /// Change a use case's fields from a JSON file holding only those to change.
    Update { slug: String, file: PathBuf },
    /// Set a use case's data policy from a JSON file with the keys of `[entities.policy]`
    /// (`actions`, `output`, `blocked_terms`, …); it may only tighten the owning entity's
    /// policy. `{}` drops it.
    Policy { slug: String, file: PathBuf },
    /// Versions: write one (a draft), replace a draft, compare two.
    Version {
        #[command(subcommand)]
        command: VersionCommand,
    },
    /// Submit a draft version for review; its content is frozen from then on.
    Submit(Move),
    /// Send a version in review back to draft.
    Return(Move),
    /// Approve a version in review, on an evaluation run that passed the thresholds.
    Approve {
        #[command(flatten)]
        target: Move,
        /// The evaluation run the approval relies on.
        #[arg(long)]
        eval_run: String,
    },
    /// Put an approved version in service.
    Deploy {
        #[command(flatten)]
        target: Move,
        /// Its share of traffic, relative to the other deployed versions' (default 100).
        #[arg(long)]
        weight: Option<u32>,
        /// Only this entity's callers (repeatable); without it, every allowed entity's.
        #[arg(long = "entity")]
        entities: Vec<String>,
    },
    /// Take a deployed version out of service (back to approved).
    Rollback(Move),
    /// Retire a version for good.
    Retire(Move),
    /// Set the traffic weights of deployed versions: `--weight 1=90 --weight 2=10`.
    Rollout {
        slug: String,
        #[arg(long = "weight", value_parser = parse_weight, required = true)]
        weights: Vec<(u32, u32)>,
        #[arg(long)]
        reason: String,
    },
    /// Each version's requests, errors, refusals by the data policy, cost, latency and
    /// feedback, side by side.
    Stats {
        slug: String,
        /// Over the last this many days.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Check the canaries now; a crossing of the thresholds rolls them back.
    Check { slug: String },
    /// Evaluation suites (JSON Lines, one case a line).
    Suite {
        #[command(subcommand)]
        command: SuiteCommand,
    },
    /// The documents attached to a use case (its impact assessment's): names, sizes, digests,
    /// who uploaded them and when.
    Documents { slug: String },
    /// Attach a document (20 MiB at most) to a use case; its media type is told by its
    /// extension.
    Attach { slug: String, file: PathBuf },
    /// Download one of a use case's documents into a file.
    Document {
        slug: String,
        /// The document's id (`ucd_…`).
        id: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Delete one of a use case's documents.
    Detach {
        slug: String,
        /// The document's id (`ucd_…`).
        id: String,
    },
    /// The AI Act register: every use case, its risk class, owners, entities, impact
    /// assessment and documents, models, status and last evaluation.
    Export {
        #[arg(long, value_enum, default_value = "json")]
        format: crate::ReportFormat,
    },
}

/// A version and the reason for moving it.
#[derive(Debug, Args)]
pub struct Move {
    pub slug: String,
    pub version: u32,
    /// Why: recorded in the audit trail.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum VersionCommand {
    /// Write a new draft version from a JSON file (template, model, parameters, output_schema, …).
    Create { slug: String, file: PathBuf },
    /// Replace a draft's content from a JSON file.
    Update {
        slug: String,
        version: u32,
        file: PathBuf,
    },
    /// What changed from `--from` (default the previous version) to this version.
    Diff {
        slug: String,
        version: u32,
        #[arg(long)]
        from: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuiteCommand {
    /// Store a new revision of a suite from a JSON Lines file.
    Put {
        slug: String,
        name: String,
        file: PathBuf,
    },
    /// The newest revision of a suite.
    Show { slug: String, name: String },
}

/// Evaluations of use-case versions.
#[derive(Debug, Args)]
pub struct EvalCli {
    #[command(flatten)]
    pub server: Server,
    #[command(subcommand)]
    pub command: EvalCommand,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Run a version on a suite through the gateway (at batch priority), show the progress,
    /// print the report; fails when the run does not pass the use case's thresholds.
    Run {
        /// The use case's slug.
        use_case: String,
        /// The version (default the newest).
        #[arg(long)]
        version: Option<u32>,
        /// The suite's name.
        #[arg(long, default_value = "default")]
        suite: String,
    },
    /// A run's progress and report.
    Show { run: String },
    /// A run's answers and grades, case by case.
    Results { run: String },
}

/// `V=W`: version `V` gets weight `W`.
fn parse_weight(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("expected VERSION=WEIGHT such as `2=10`, not `{text}`");
    let (version, weight) = text.split_once('=').ok_or_else(bad)?;
    Ok((
        version.trim().parse().map_err(|_| bad())?,
        weight.trim().parse().map_err(|_| bad())?,
    ))
}

/// What a command sends, and whether its answer is printed as the server wrote it (CSV, JSON
/// Lines) rather than as pretty JSON.
pub(crate) struct Call {
    pub(crate) request: Request,
    pub(crate) verbatim: bool,
}

impl From<Request> for Call {
    fn from(request: Request) -> Call {
        Call {
            request,
            verbatim: false,
        }
    }
}

fn use_case_path(slug: &str) -> String {
    format!("/admin/v1/use-cases/{}", segment(slug))
}

/// The request a `usecase` command sends; files are read here.
pub(crate) fn use_case_call(command: &UseCaseCommand) -> Result<Call, CliError> {
    let call = match command {
        UseCaseCommand::List => Request::to(Method::GET, "/admin/v1/use-cases").into(),
        UseCaseCommand::Show { slug } => Request::to(Method::GET, use_case_path(slug)).into(),
        UseCaseCommand::Create { file } => Request::to(Method::POST, "/admin/v1/use-cases")
            .with_body(read_json(file)?)
            .into(),
        UseCaseCommand::Update { slug, file } => Request::to(Method::PATCH, use_case_path(slug))
            .with_body(read_json(file)?)
            .into(),
        UseCaseCommand::Policy { slug, file } => Request::to(Method::PATCH, use_case_path(slug))
            .with_body(json!({"policy": read_json(file)?}))
            .into(),
        UseCaseCommand::Version { command } => version_request(command)?.into(),
        UseCaseCommand::Submit(target) => transition(target, "submit", json!({})).into(),
        UseCaseCommand::Return(target) => transition(target, "return", json!({})).into(),
        UseCaseCommand::Approve { target, eval_run } => {
            transition(target, "approve", json!({"eval_run": eval_run})).into()
        }
        UseCaseCommand::Deploy {
            target,
            weight,
            entities,
        } => {
            let mut extra = json!({});
            if let Some(weight) = weight {
                extra["weight"] = json!(weight);
            }
            if !entities.is_empty() {
                extra["entities"] = json!(entities);
            }
            transition(target, "deploy", extra).into()
        }
        UseCaseCommand::Rollback(target) => transition(target, "rollback", json!({})).into(),
        UseCaseCommand::Retire(target) => transition(target, "retire", json!({})).into(),
        UseCaseCommand::Rollout {
            slug,
            weights,
            reason,
        } => {
            let versions: Vec<Value> = weights
                .iter()
                .map(|(version, weight)| json!({"version": version, "weight": weight}))
                .collect();
            Request::to(Method::PUT, format!("{}/rollout", use_case_path(slug)))
                .with_body(json!({"reason": reason, "versions": versions}))
                .into()
        }
        UseCaseCommand::Stats { slug, days } => {
            Request::to(Method::GET, format!("{}/stats", use_case_path(slug)))
                .with_query(vec![("days", days.to_string())])
                .into()
        }
        UseCaseCommand::Check { slug } => Request::to(
            Method::POST,
            format!("{}/rollout/check", use_case_path(slug)),
        )
        .into(),
        UseCaseCommand::Suite { command } => suite_call(command)?,
        UseCaseCommand::Documents { slug } => {
            Request::to(Method::GET, format!("{}/documents", use_case_path(slug))).into()
        }
        UseCaseCommand::Attach { slug, file } => {
            let bytes = std::fs::read(file).map_err(|source| CliError::Read {
                path: file.display().to_string(),
                source,
            })?;
            let name = file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            Request::to(Method::POST, format!("{}/documents", use_case_path(slug)))
                .with_query(vec![("filename", name)])
                .with_typed_file(bytes, media_type_of(file))
                .into()
        }
        UseCaseCommand::Document { slug, id, .. } => document_request(Method::GET, slug, id).into(),
        UseCaseCommand::Detach { slug, id } => document_request(Method::DELETE, slug, id).into(),
        UseCaseCommand::Export { format } => {
            let csv = *format == crate::ReportFormat::Csv;
            let name = if csv { "csv" } else { "json" };
            Call {
                request: Request::to(Method::GET, "/admin/v1/use-cases/export")
                    .with_query(vec![("format", name.to_owned())]),
                verbatim: csv,
            }
        }
    };
    Ok(call)
}

fn version_request(command: &VersionCommand) -> Result<Request, CliError> {
    Ok(match command {
        VersionCommand::Create { slug, file } => {
            Request::to(Method::POST, format!("{}/versions", use_case_path(slug)))
                .with_body(read_json(file)?)
        }
        VersionCommand::Update {
            slug,
            version,
            file,
        } => Request::to(
            Method::PUT,
            format!("{}/versions/{version}", use_case_path(slug)),
        )
        .with_body(read_json(file)?),
        VersionCommand::Diff {
            slug,
            version,
            from,
        } => Request::to(
            Method::GET,
            format!("{}/versions/{version}/diff", use_case_path(slug)),
        )
        .with_query(from.iter().map(|f| ("from", f.to_string())).collect()),
    })
}

fn suite_call(command: &SuiteCommand) -> Result<Call, CliError> {
    Ok(match command {
        SuiteCommand::Put { slug, name, file } => Request::to(
            Method::PUT,
            format!("{}/suites/{}", use_case_path(slug), segment(name)),
        )
        .with_text(read_text(file)?)
        .into(),
        SuiteCommand::Show { slug, name } => Call {
            request: Request::to(
                Method::GET,
                format!("{}/suites/{}", use_case_path(slug), segment(name)),
            ),
            verbatim: true,
        },
    })
}

fn document_request(method: Method, slug: &str, id: &str) -> Request {
    Request::to(
        method,
        format!("{}/documents/{}", use_case_path(slug), segment(id)),
    )
}

/// The media type of a document, told by its extension; `application/octet-stream` for others.
fn media_type_of(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "md" => "text/markdown",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// A lifecycle transition of `target`, with the transition's own fields in `extra`.
fn transition(target: &Move, name: &str, mut extra: Value) -> Request {
    extra["transition"] = json!(name);
    extra["reason"] = json!(target.reason);
    Request::to(
        Method::POST,
        format!(
            "{}/versions/{}/transitions",
            use_case_path(&target.slug),
            target.version
        ),
    )
    .with_body(extra)
}

fn read_text(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn read_json(path: &Path) -> Result<Value, CliError> {
    serde_json::from_str(&read_text(path)?).map_err(|error| CliError::NotJson {
        path: path.display().to_string(),
        detail: error.to_string(),
    })
}

/// Runs one `usecase` command and returns the text to print.
pub async fn use_case(cli: &UseCaseCli) -> Result<String, CliError> {
    let planned = use_case_call(&cli.command)?;
    if let UseCaseCommand::Document { out, .. } = &cli.command {
        let bytes = crate::call_for_bytes(&cli.server, planned.request).await?;
        std::fs::write(out, &bytes).map_err(|source| CliError::Write {
            path: out.display().to_string(),
            source,
        })?;
        return Ok(format!("wrote {} bytes to {}", bytes.len(), out.display()));
    }
    let text = call(&cli.server, planned.request).await?;
    if planned.verbatim {
        return Ok(text);
    }
    Ok(pretty(&text))
}

fn pretty(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| text.to_owned())
}

async fn fetch(server: &Server, request: Request) -> Result<Value, CliError> {
    let text = call(server, request).await?;
    serde_json::from_str(&text).map_err(|_| CliError::Unexpected {
        status: StatusCode::OK,
        body: text,
    })
}

/// How often `eval run` asks for its run's progress.
const POLL: Duration = Duration::from_millis(500);

/// Runs one `eval` command and returns the text to print.
pub async fn eval(cli: &EvalCli) -> Result<String, CliError> {
    let server = &cli.server;
    match &cli.command {
        EvalCommand::Show { run } => {
            let path = format!("/admin/v1/evaluations/{}", segment(run));
            Ok(pretty(&call(server, Request::to(Method::GET, path)).await?))
        }
        EvalCommand::Results { run } => {
            let path = format!("/admin/v1/evaluations/{}/results", segment(run));
            Ok(pretty(&call(server, Request::to(Method::GET, path)).await?))
        }
        EvalCommand::Run {
            use_case,
            version,
            suite,
        } => run(server, use_case, *version, suite).await,
    }
}

async fn run(
    server: &Server,
    slug: &str,
    version: Option<u32>,
    suite: &str,
) -> Result<String, CliError> {
    let version = match version {
        Some(version) => version,
        None => newest_version(server, slug).await?,
    };
    let start = Request::to(Method::POST, format!("{}/evaluations", use_case_path(slug)))
        .with_body(json!({"version": version, "suite": suite}));
    let started = fetch(server, start).await?;
    let id = started["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/admin/v1/evaluations/{}", segment(&id));
    let mut report = started;
    while report["status"] == "running" {
        progress(&report);
        tokio::time::sleep(POLL).await;
        report = fetch(server, Request::to(Method::GET, path.clone())).await?;
    }
    progress(&report);
    eprintln!();
    let text = serde_json::to_string_pretty(&report).unwrap_or_else(|_| report.to_string());
    match (&report["status"], &report["gate"]["passed"]) {
        (status, _) if status != "finished" => Err(CliError::Evaluation(format!(
            "run {id} is {}",
            status.as_str().unwrap_or("unknown")
        ))),
        (_, Value::Bool(false)) => {
            println!("{text}");
            Err(CliError::Evaluation(format!(
                "run {id} does not pass the use case's thresholds: {}",
                report["gate"]["reason"].as_str().unwrap_or_default()
            )))
        }
        _ => Ok(text),
    }
}

/// The newest version of the use case `slug`.
async fn newest_version(server: &Server, slug: &str) -> Result<u32, CliError> {
    let use_case = fetch(server, Request::to(Method::GET, use_case_path(slug))).await?;
    use_case["versions"]
        .as_array()
        .and_then(|versions| versions.iter().filter_map(|v| v["number"].as_u64()).max())
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| CliError::Evaluation(format!("use case `{slug}` has no version yet")))
}

/// `[#########           ] 45/100 cases` on standard error, redrawn in place.
fn progress(report: &Value) {
    const WIDTH: u64 = 30;
    let cases = report["cases"].as_u64().unwrap_or(0);
    let done = report["done"].as_u64().unwrap_or(0).min(cases);
    let filled = (done * WIDTH).checked_div(cases).unwrap_or(WIDTH) as usize;
    eprint!(
        "\r[{}{}] {done}/{cases} cases",
        "#".repeat(filled),
        " ".repeat(WIDTH as usize - filled)
    );
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Root {
        #[command(flatten)]
        cli: UseCaseCli,
    }

    fn parse(args: &[&str]) -> Result<UseCaseCli, clap::Error> {
        Root::try_parse_from(std::iter::once("usecase").chain(args.iter().copied())).map(|r| r.cli)
    }

    #[test]
    fn transitions_carry_their_reason_and_fields() {
        let cli = parse(&[
            "deploy", "memo", "2", "--reason", "canary", "--weight", "10", "--entity", "acme",
        ])
        .unwrap();
        let call = use_case_call(&cli.command).unwrap();
        assert_eq!(
            call.request.path,
            "/admin/v1/use-cases/memo/versions/2/transitions"
        );
        assert_eq!(
            call.request.body,
            Some(
                json!({"transition": "deploy", "reason": "canary", "weight": 10, "entities": ["acme"]})
            )
        );
        assert!(parse(&["approve", "memo", "1", "--reason", "ok"]).is_err());
        assert!(parse(&["submit", "memo", "1"]).is_err());
    }

    #[test]
    fn rollout_weights_are_version_equals_weight() {
        let cli = parse(&[
            "rollout", "memo", "--weight", "1=90", "--weight", "2=10", "--reason", "ab",
        ])
        .unwrap();
        let call = use_case_call(&cli.command).unwrap();
        assert_eq!(
            call.request.body,
            Some(json!({"reason": "ab", "versions": [
                {"version": 1, "weight": 90}, {"version": 2, "weight": 10}
            ]}))
        );
        assert!(parse(&["rollout", "memo", "--weight", "1:90", "--reason", "r"]).is_err());
    }

    #[test]
    fn documents_are_attached_with_their_name_and_media_type() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Analyse d'impact.PDF");
        std::fs::write(&file, b"%PDF-1.7").unwrap();
        let path = file.to_str().unwrap();
        let call = use_case_call(&parse(&["attach", "memo", path]).unwrap().command).unwrap();
        assert_eq!(
            (call.request.method, call.request.path.as_str()),
            (Method::POST, "/admin/v1/use-cases/memo/documents")
        );
        assert_eq!(
            call.request.query,
            [("filename", "Analyse d'impact.PDF".to_owned())]
        );
        assert_eq!(call.request.file.as_deref(), Some(&b"%PDF-1.7"[..]));
        assert_eq!(call.request.media_type, Some("application/pdf"));
        let call = use_case_call(&parse(&["detach", "memo", "ucd_1/x"]).unwrap().command).unwrap();
        assert_eq!(
            (call.request.method, call.request.path.as_str()),
            (
                Method::DELETE,
                "/admin/v1/use-cases/memo/documents/ucd_1%2Fx"
            )
        );
        assert!(
            parse(&["document", "memo", "ucd_1"]).is_err(),
            "--out is required"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let cli = parse(&["create", "/nonexistent/use-case.json"]).unwrap();
        let error = use_case_call(&cli.command).err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("reading /nonexistent/use-case.json"));
    }
}
