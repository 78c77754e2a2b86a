//! `fabrique`: the one binary. `serve` runs the platform, `sim` a simulated GPU backend, `admin` the
//! administration client, `audit` verifies and exports the audit trail's evidence, `report` prints
//! the monthly chargeback, `plan` sizes GPU pools and the tiers around them for a scenario.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// mimalloc's thread-local free lists suit the request path's many small, short-lived allocations
/// (bench/gateway.sh, json at 32 connections: 95 → 87 µs of CPU per request).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use fabrique::server::{self, ServeOptions};

#[derive(Debug, Parser)]
#[command(
    name = "fabrique",
    version,
    about = "Sovereign AI platform: gateway, identity, governance"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform (inference API, admin API). With no configuration: SQLite under the data
    /// directory and an in-process simulated GPU backend.
    Serve(ServeArgs),
    /// Run the GPU-backend simulator: an OpenAI-compatible server with realistic timing and faults.
    Sim(SimArgs),
    /// Replay a scenario (entities, weights, arrival rates, bursts) through a real gateway against
    /// simulated GPU endpoints; report shares, waits, time to first token and utilization.
    Simulate(SimulateArgs),
    /// Plan capacity for a scenario (users, uses over a working day, GPU pools): GPUs each pool
    /// needs for a target p95 time to first token, entities' shares at the peak, gateway replicas,
    /// PostgreSQL and Redis load and where they saturate.
    Plan(PlanArgs),
    /// Administer a running server through its admin API.
    Admin(admin_client::AdminCli),
    /// Data-protection policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The audit trail's evidence: verify that it was not altered, export it for auditors.
    #[command(subcommand)]
    Audit(fabrique::audit::cli::AuditCommand),
    /// Reports from a running server's admin API: the monthly chargeback.
    Report(admin_client::ReportCli),
    /// The AI Factory's use cases: register, version, review, deploy, watch, export the AI Act
    /// register.
    Usecase(admin_client::UseCaseCli),
    /// Evaluations of use-case versions on their suites, through the gateway.
    Eval(admin_client::EvalCli),
    /// Knowledge libraries: create them, add documents (with their progress), search them.
    Libraries(admin_client::LibrariesCli),
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Detect personal data: reads JSON lines `{"text": …}` on standard input, writes one line
    /// `{"spans":[{"start","end","type"}]}` per input line (UTF-8 byte offsets).
    Scan,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "FABRIQUE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080, or the file's `server.listen`].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory for the embedded SQLite database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL instead of SQLite: `postgres://user@host/db`.
    #[arg(long, env = "FABRIQUE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// The scenario file (TOML); see bench/scenario/.
    scenario: PathBuf,
    /// Where to write the SVG chart of shares over time [default: the scenario's path, .svg].
    #[arg(long)]
    svg: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct PlanArgs {
    /// The scenario file (TOML); see bench/plan/.
    scenario: PathBuf,
    /// Also write the report here: `report.md` and its SVG charts (the directory is created).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Time to first token (prefill), in milliseconds.
    #[arg(long, default_value_t = 20)]
    ttft_ms: u64,
    /// Decode speed of one sequence; 0 decodes instantly.
    #[arg(long, default_value_t = 200.0)]
    tokens_per_second: f64,
    /// Sequences decoding at once; the rest wait in FIFO order.
    #[arg(long, default_value_t = 8)]
    capacity: usize,
    /// Dimension of embedding vectors.
    #[arg(long, default_value_t = 1024)]
    embedding_dimensions: usize,
    /// Completion length when a request sets no `max_tokens`.
    #[arg(long, default_value_t = 32)]
    max_tokens_default: u64,
    /// Model ids listed by `/v1/models` (comma-separated); any requested name is served.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sim-chat,sim-embed,sim-fim"
    )]
    models: Vec<String>,
    /// Share of requests answered 500 or 503, from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of requests answered 429 (rate limited), from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    rate_limit_rate: f64,
    /// Share of requests that stall without answering, from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    stall_rate: f64,
    /// How long a stall lasts, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    stall_ms: u64,
    /// Share of streams cut off in the middle, from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    disconnect_rate: f64,
    /// Decoding slowdown per extra sequence in the batch (α): time per token is
    /// 1/tokens-per-second × (1 + α × (batch − 1)); 0 keeps the speed whatever the batch.
    #[arg(long, default_value_t = 0.0)]
    batch_slowdown: f64,
    /// KV-cache capacity in tokens (prompt + completion of every running sequence); new sequences
    /// wait when it is full. 0 means unlimited.
    #[arg(long, default_value_t = 0)]
    kv_cache_tokens: u64,
    /// Prefix-cache size in prompt blocks of about 64 tokens; cached leading blocks skip prefill.
    /// 0 disables the cache.
    #[arg(long, default_value_t = 0)]
    prefix_cache_blocks: usize,
    /// Prefill speed in prompt tokens per second: uncached prompt tokens add to the time to first
    /// token. 0 makes the time to first token constant.
    #[arg(long, default_value_t = 0.0)]
    prefill_tokens_per_second: f64,
    /// Answer chat requests with their last user message (after the `[simulated]` marker), three
    /// characters per token: shows what the backend received.
    #[arg(long)]
    echo: bool,
    /// The engine played, whose routes and wire formats are served (the others answer 404): all
    /// (the simulator's own), vllm, tgi, mistralrs, llamacpp, ollama, openai, mistral.
    #[arg(long, default_value = "all", value_parser = sim::Flavour::parse)]
    flavour: sim::Flavour,
    /// Scripted answers: a JSON-lines file of `{"when": "…", "answer": "…"}`; a chat request
    /// whose last user message holds `when` is answered `answer`, exactly (the first line that
    /// matches). Makes evaluations' graders deterministic.
    #[arg(long)]
    script: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = anyhow::Error::new(error).context("cannot start the async runtime");
            fabrique::output::print_error(&error);
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Sim(args) => simulate(args).await,
            Command::Simulate(args) => fabrique::simulation::run(&args.scenario, args.svg).await,
            Command::Plan(args) => fabrique::planning::run(&args.scenario, args.out.as_deref()),
            Command::Admin(args) => admin_client::run_cli(args)
                .await
                .map_err(anyhow::Error::from),
            Command::Policy(PolicyCommand::Scan) => scan_stdin(),
            Command::Audit(command) => fabrique::audit::cli::run(command).await,
            Command::Report(args) => match admin_client::report(&args).await {
                Ok(text) => fabrique::output::print_lines(&text),
                Err(error) => Err(error.into()),
            },
            Command::Usecase(args) => match admin_client::use_case(&args).await {
                Ok(text) => fabrique::output::print_lines(&text),
                Err(error) => Err(error.into()),
            },
            Command::Eval(args) => match admin_client::eval(&args).await {
                Ok(text) => fabrique::output::print_lines(&text),
                Err(error) => Err(error.into()),
            },
            Command::Libraries(args) => match admin_client::libraries(&args).await {
                Ok(value) => fabrique::output::print_lines(
                    &serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()),
                ),
                Err(error) => Err(error.into()),
            },
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `fabrique … | head`: the reader has what it wanted; end as quietly as `cat` would.
        Err(error) if fabrique::output::is_closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            fabrique::output::print_error(&error);
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let json_logs = matches!(args.log_format, LogFormat::Json);
    let options = ServeOptions {
        config: args.config,
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        admin_key: std::env::var("FABRIQUE_ADMIN_KEY")
            .ok()
            .filter(|k| !k.is_empty()),
    };
    let config = server::load_config(&options)?;
    let traces = telemetry::init(json_logs, config.telemetry.otlp_traces_url().as_deref())?;
    // Without an identity provider, the operator's first way into the web is a one-time link.
    let prints_link = config.oidc.is_none();
    let running = server::start(config, options.admin_key.clone()).await?;
    // Listened for before the server says it listens: a SIGHUP's default action would end it.
    let mut signals = ServeSignals::listen()?;
    // Minted before the server says it listens: callers that wait for that line (and may stop the
    // server at once) find it ready for its signals.
    let link = match prints_link {
        true => {
            Some(fabrique::sign_in_link::bootstrap_link(&running.store, &running.directory).await?)
        }
        false => None,
    };
    eprintln!("fabrique listening on http://{}", running.addr);
    if let Some(key) = &running.generated_admin_key {
        eprintln!(
            "administrator key, shown once (export FABRIQUE_ADMIN_KEY={key} to use it and keep it)"
        );
    }
    if let Some(path) = link {
        eprintln!(
            "sign in to the web as `{}` (once, within 15 minutes): http://{}{path}",
            fabrique::sign_in_link::ADMIN_USER_NAME,
            running.addr
        );
    }
    while let ServeSignal::Reload = signals.next().await {
        reload(&running, &options).await;
    }
    tracing::info!("shutting down: finishing in-flight requests and flushing usage");
    running.shutdown().await;
    traces.shutdown().await;
    Ok(())
}

/// What `serve` is told by signals: stop (SIGTERM, Ctrl-C), or read the configuration again
/// (SIGHUP).
enum ServeSignal {
    Stop,
    Reload,
}

/// The signal streams, each registered once, so no signal is missed between two waits.
#[cfg(unix)]
struct ServeSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl ServeSignals {
    fn listen() -> anyhow::Result<ServeSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ServeSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> ServeSignal {
        tokio::select! {
            _ = self.terminate.recv() => ServeSignal::Stop,
            _ = self.interrupt.recv() => ServeSignal::Stop,
            _ = self.hangup.recv() => ServeSignal::Reload,
        }
    }
}

/// Without Unix signals, Ctrl-C stops and nothing reloads.
#[cfg(not(unix))]
struct ServeSignals;

#[cfg(not(unix))]
impl ServeSignals {
    fn listen() -> anyhow::Result<ServeSignals> {
        Ok(ServeSignals)
    }

    async fn next(&mut self) -> ServeSignal {
        shutdown_signal().await;
        ServeSignal::Stop
    }
}

/// Reads the configuration file again and puts it in force; a file that does not validate is
/// refused with its errors, and the running configuration kept.
async fn reload(running: &fabrique::RunningServer, options: &ServeOptions) {
    let outcome = match server::load_config(options) {
        Ok(config) => running.reload(config).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(reloaded) if reloaded.needs_restart.is_empty() => {
            tracing::info!("configuration reloaded");
        }
        Ok(reloaded) => tracing::warn!(
            sections = ?reloaded.needs_restart,
            "configuration reloaded; these sections changed and take effect at the next restart"
        ),
        Err(error) => tracing::error!(
            error = format!("{error:#}"),
            "configuration reload refused; the running configuration is kept"
        ),
    }
}

/// `fabrique policy scan`: standard input to standard output, one line each, buffered both ways.
fn scan_stdin() -> anyhow::Result<()> {
    let stdin = std::io::stdin().lock();
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let stats = policy::scan_cli::run(stdin, stdout)?;
    if stats.errors > 0 {
        eprintln!(
            "{} of {} lines could not be scanned (see their `error` lines)",
            stats.errors, stats.lines
        );
    }
    Ok(())
}

async fn simulate(args: SimArgs) -> anyhow::Result<()> {
    telemetry::init_logging(false);
    let config = sim::SimConfig {
        ttft: Duration::from_millis(args.ttft_ms),
        tokens_per_second: args.tokens_per_second,
        capacity: args.capacity,
        embedding_dimensions: args.embedding_dimensions,
        models: args.models,
        max_tokens_default: args.max_tokens_default,
        faults: sim::Faults {
            error_rate: args.error_rate,
            rate_limit_rate: args.rate_limit_rate,
            stall_rate: args.stall_rate,
            stall: Duration::from_millis(args.stall_ms),
            disconnect_rate: args.disconnect_rate,
        },
        batch_slowdown: args.batch_slowdown,
        kv_cache_tokens: args.kv_cache_tokens,
        prefix_cache_blocks: args.prefix_cache_blocks,
        prefill_tokens_per_second: args.prefill_tokens_per_second,
        echo: args.echo,
        flavour: args.flavour,
        script: match &args.script {
            Some(path) => read_script(path)?,
            None => Vec::new(),
        },
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!(
        "fabrique sim (simulated GPU backend, {} flavour) listening on http://{}/v1",
        args.flavour.as_str(),
        listener.local_addr()?
    );
    tokio::select! {
        served = sim::serve(listener, sim::Simulator::new(config)) => served?,
        () = shutdown_signal() => {}
    }
    Ok(())
}

/// The lines of a `--script` file; a bad line is named with its number.
fn read_script(path: &std::path::Path) -> anyhow::Result<Vec<sim::ScriptLine>> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the script {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{} line {}", path.display(), index + 1))
        })
        .collect()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
