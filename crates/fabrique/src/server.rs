//! `fabrique serve`: configuration → store → identity and seats → sign-in → gateway, admin, SCIM,
//! `/auth` and web routers → listener.
//!
//! Start-up order matters: the store first (everything durable), then the in-memory directory loaded
//! from it, then the embedded simulator when the configuration asks for one, then the request path.
//! The audit checkpoint task starts with the store and signs a last checkpoint at shutdown.
//! Shutdown runs the other way: drain (`listener`: readiness off, new requests answered `503`,
//! those in flight finished within `[server] drain_timeout_secs`), then flush usage, keys' last
//! use and seat changes, and sign the last audit checkpoint. [`RunningServer::reload`] puts a
//! re-read configuration in force as far as a running server can (`reload`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::response::Response;
use configuration::Config;
use domain::{AuditEvent, EndpointKind, KeySecret, Outcome, now_millis};
use http::StatusCode;
use identity::{Directory, ScimTokens};
use store::Store;
use telemetry::Metrics;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wire::ErrorType;

use crate::audit::checkpoints::{CheckpointPolicy, CheckpointTask, Checkpointer};
use crate::audit::publish::Publisher;
use crate::audit::signing_key;

/// Puts the admin API's policy set in force: the file of `[authorization] policies`, or the
/// default set. An unreadable or invalid file stops the start, every error listed with its line.
pub(crate) fn install_policies(config: &Config) -> anyhow::Result<()> {
    let Some(path) = &config.authorization.policies else {
        admin::install_policies(None).map_err(|errors| anyhow::anyhow!(errors.join("\n")))?;
        return Ok(());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the authorization policies {}", path.display()))?;
    admin::install_policies(Some(&text)).map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|error| format!("{}: {error}", path.display()))
            .collect();
        anyhow::anyhow!("invalid authorization policies:\n{}", lines.join("\n"))
    })
}

/// Command-line overrides of the configuration file.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub config: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// The bootstrap group-administrator key (`FABRIQUE_ADMIN_KEY`).
    pub admin_key: Option<String>,
}

/// A started server. Dropping it does not stop it; call [`RunningServer::shutdown`].
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub store: Store,
    pub directory: Arc<Directory>,
    pub scim_tokens: Arc<ScimTokens>,
    pub gateway: Arc<gateway::Gateway>,
    pub seats: Arc<seats::Seats>,
    /// Files and batches: their routes' state, which tests watch for a batch's progress.
    pub batches: Arc<batch::Batches>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    usage_writer: Option<usage::Writer>,
    audit_writer: Option<usage::Writer>,
    feedback_writer: Option<usage::Writer>,
    content_writer: Option<usage::Writer>,
    /// Kept content: sealed, read back, purged (`retention`).
    pub content: Arc<retention::ContentStore>,
    /// Knowledge libraries: their documents, whose retention tests run with the time they want.
    pub libraries: Arc<knowledge::Libraries>,
    /// The administrator key generated at a fresh installation's first start without
    /// `FABRIQUE_ADMIN_KEY`, for `serve` to show once.
    pub generated_admin_key: Option<String>,
    seat_writer: Option<seats::SeatWriter>,
    /// Evaluation runs under way, stopped at shutdown.
    evaluations: Arc<crate::evaluation::Runner>,
    checkpoints: Option<CheckpointTask>,
    /// The configuration in force, which [`RunningServer::reload`] changes.
    running: crate::reload::Running,
    /// What the admin API checks against in the configuration in force, which a reload swaps.
    admin_checks: crate::reload::AdminChecks,
    /// The embedded simulator, when an endpoint needed it at start: a reloaded `simulator`
    /// endpoint without a URL means it too.
    simulator: Option<sim::RunningSim>,
}

/// Loads the configuration (or the embedded default) with the command line's overrides applied.
pub fn load_config(options: &ServeOptions) -> anyhow::Result<Config> {
    let mut config = match &options.config {
        Some(path) => Config::load(path)
            .map_err(|errors| anyhow::anyhow!("invalid configuration:\n{errors}"))?,
        None => Config::embedded_default(),
    };
    if let Some(listen) = options.listen {
        config.server.listen = listen;
    }
    if let Some(dir) = &options.data_dir {
        config.server.data_dir = dir.clone();
    }
    if let Some(url) = &options.database_url {
        config.server.database_url = Some(url.clone());
    }
    Ok(config)
}

/// Where the request path's spill journals live, and their bound.
fn journal_settings(config: &Config) -> usage::JournalSettings {
    usage::JournalSettings {
        dir: config.server.data_dir.join("journal"),
        max_bytes: config.server.journal_max_bytes,
    }
}

/// Counts a writer's lost records in `family` (a method of [`Metrics`]), by reason.
fn losses(metrics: &Arc<Metrics>, family: fn(&Metrics, &'static str, u64)) -> usage::OnLoss {
    let metrics = Arc::clone(metrics);
    Arc::new(move |loss: usage::Loss, records| family(&metrics, loss.as_str(), records))
}

/// Starts everything and returns once the listener accepts connections.
pub async fn start(mut config: Config, admin_key: Option<String>) -> anyhow::Result<RunningServer> {
    install_policies(&config)?;
    let store = match &config.server.database_url {
        Some(url) => Store::connect(url).await,
        None => Store::open_in_dir(&config.server.data_dir).await,
    }
    .context("opening the store")?;
    let signer = signing_key::load_or_generate(&config)?;
    let audit_public_key = signer.public_key();
    seed_entities(&store, &config).await?;
    let directory = Arc::new(Directory::load(&store).await.context("loading API keys")?);
    let scim_tokens = Arc::new(
        ScimTokens::load(&store)
            .await
            .context("loading SCIM tokens")?,
    );
    // A fresh installation started without a key gets a generated one, shown once by `serve`.
    let generated_admin_key = match admin_key {
        None if !store.has_group_admin().await? => Some(KeySecret::generate().expose().to_owned()),
        _ => None,
    };
    let settings = admin::BootstrapSettings {
        ttl: config.server.admin_key_ttl,
        allow_weak: config.server.allow_weak_admin_key,
    };
    let admin_key = admin_key.or_else(|| generated_admin_key.clone());
    admin::bootstrap_admin(&store, &directory, admin_key, settings)
        .await
        .context("bootstrapping the administrator key")?;
    let (seats, seat_writer) = seats::Seats::load(
        &store,
        seats::SeatSettings {
            pool: config.seats.pool,
            reclaim_after: Some(config.seats.reclaim_after),
        },
    )
    .await
    .context("loading seats")?;

    let simulator = start_embedded_simulator(&mut config).await?;
    let metrics = Arc::new(Metrics::new(
        &config
            .models
            .iter()
            .map(|m| (m.name.clone(), m.kind.operation().as_str()))
            .collect::<Vec<_>>(),
        &config
            .endpoints
            .iter()
            .map(|e| e.name.clone())
            .collect::<Vec<_>>(),
    ));
    let leader_gauge = metrics.background_jobs_leader.clone();
    let (usage_sink, usage_writer) = usage::start_journaled(
        store.clone(),
        journal_settings(&config),
        losses(&metrics, Metrics::usage_records_dropped),
    )
    .await
    .context("opening the usage journal")?;
    let (audit_sink, audit_writer) = usage::start_journaled(
        store.clone(),
        journal_settings(&config),
        losses(&metrics, Metrics::audit_events_dropped),
    )
    .await
    .context("opening the audit journal")?;
    // Feedback is refused to its caller when it cannot be queued, so it needs no journal.
    let (feedback_sink, feedback_writer) = usage::start_writer(store.clone(), Arc::new(|_, _| {}));
    let live = crate::factory::load(&store, &config).await?;
    // Content is kept only when some entity (or the group's default) says `full`; otherwise no
    // writer runs and the request path does not even look.
    let content = retention::ContentStore::open(store.clone(), &config)
        .await
        .context("opening the content keys")?;
    let keeps_content = config.retention.default.keeps_content()
        || config
            .entities
            .iter()
            .any(|seed| seed.retention.is_some_and(|r| r.keeps_content()));
    let (content_sink, content_writer) = match keeps_content {
        true => {
            let counter = metrics.content_records_dropped.clone();
            let (sink, writer) = content.start_writer(Arc::new(move |_, records| {
                counter.inc_by(records);
            }));
            (Some(sink), Some(writer))
        }
        false => (None, None),
    };
    let evidence_metrics = metrics.evidence.clone();
    let (admission, resets) = crate::limits::load_admission(&store, &config.admission)
        .await
        .context("loading rate limits and budgets")?;
    let counters = match &config.redis {
        None => counters::Counters::local(Arc::clone(&admission)),
        Some(redis) => {
            let shared =
                counters::Shared::start(redis, admission.calendar().clone(), Arc::clone(&metrics))?;
            counters::Counters::shared(Arc::clone(&admission), shared)
        }
    };
    let zone = reports::Zone::new(&config.admission.time_zone)
        .with_context(|| format!("unknown time zone `{}`", config.admission.time_zone))?;
    let listen = config.server.listen;
    let scim_config = Arc::new(config.scim.clone());
    // Sign-in: discovery runs in the background, so a provider that is down never delays start-up.
    let https_site = config
        .oidc
        .as_ref()
        .is_some_and(|oidc| oidc.redirect_url.starts_with("https://"));
    let cookies = access::SessionCookies::new(&config.sessions, https_site);
    let oidc = match &config.oidc {
        Some(settings) => Some(
            oidc::Oidc::new(
                settings.clone(),
                Arc::clone(&directory),
                store.clone(),
                cookies.clone(),
            )
            .context("preparing sign-in")?,
        ),
        None => None,
    };
    let sign_in = oidc.clone().map(|oidc| oidc as Arc<dyn access::SignIn>);
    let config = Arc::new(config);
    let running: crate::reload::Running = Arc::new(parking_lot::RwLock::new(Arc::clone(&config)));
    let admin_checks = crate::reload::AdminChecks::new(&config);
    let gateway = gateway::Gateway::new(
        Arc::clone(&config),
        Arc::clone(&directory),
        sign_in.clone(),
        Arc::clone(&seats),
        gateway::Sinks {
            usage: usage_sink,
            audit: audit_sink,
            feedback: feedback_sink,
            content: content_sink,
        },
        metrics,
        counters,
        Arc::clone(&live),
    )
    .context("preparing endpoints")?;
    crate::scheduling::apply_shares(&store, &config, &gateway.scheduling)
        .await
        .context("applying the GPU pools' entity shares")?;
    let (leading, lease_task) = crate::cluster::lead(store.clone(), leader_gauge)
        .await
        .context("taking the background jobs' lease")?;
    let index = knowledge::Index::open(&config.server.data_dir.join("libraries"))
        .context("opening the knowledge libraries' index")?;
    let embeddings = crate::libraries::Embeddings {
        gateway: Arc::clone(&gateway),
    };
    let mut libraries = knowledge::Libraries::load(
        store.clone(),
        Arc::new(index),
        Some(Arc::new(embeddings) as Arc<dyn knowledge::Embedder>),
    )
    .await
    .context("loading the knowledge libraries")?;
    if let Some(model) = &config.libraries.reranker {
        let reranker = crate::libraries::Reranking {
            gateway: Arc::clone(&gateway),
        };
        libraries = libraries.with_reranking(knowledge::Reranking {
            reranker: Arc::new(reranker),
            model: model.clone(),
            candidates: config.libraries.candidates,
        });
    }
    let libraries = Arc::new(libraries);
    let mut background: Vec<JoinHandle<()>> =
        vec![gateway::spawn_health_checks(Arc::clone(&gateway))];
    background.extend(oidc.as_ref().map(|oidc| oidc.spawn_discovery()));
    background.extend(gateway::spawn_sharing(Arc::clone(&gateway)));
    background.extend(
        crate::cluster::follow(crate::cluster::Replica {
            store: store.clone(),
            config: Arc::clone(&running),
            directory: Arc::clone(&directory),
            scim_tokens: Arc::clone(&scim_tokens),
            seats: Arc::clone(&seats),
            gateway: Arc::clone(&gateway),
            libraries: Arc::clone(&libraries),
            resets,
        })
        .await
        .context("following the other replicas' changes")?,
    );
    background.extend(lease_task);
    background.push(crate::seats::spawn_reclaim(
        Arc::clone(&seats),
        leading.clone(),
    ));
    background.push(crate::key_use::spawn_flush(
        Arc::clone(&directory),
        store.clone(),
    ));
    background.push(crate::rollups::spawn_rollups(
        store.clone(),
        zone.clone(),
        (&config.retention).into(),
        leading.clone(),
    ));

    background.push(crate::retention::spawn_purge(
        Arc::clone(&content),
        Arc::clone(&libraries),
        leading.clone(),
    ));
    let library_chat = crate::libraries::LibraryChat {
        libraries: Arc::clone(&libraries),
        directory: Arc::clone(&directory),
        sign_in: sign_in.clone(),
        ladder: config.classifications.clone(),
        max_body_bytes: config.server.max_body_bytes,
        audit: gateway.sinks().audit.clone(),
    };
    let inference = || {
        gateway::router(Arc::clone(&gateway)).layer(axum::middleware::from_fn_with_state(
            library_chat.clone(),
            crate::libraries::ask_libraries,
        ))
    };
    let web = web::Web::of(web::Parts {
        directory: Arc::clone(&directory),
        sign_in: sign_in.clone(),
        settings: web::Settings {
            cookie_secure: config.sessions.cookie_secure.unwrap_or(https_site),
            provider_sign_in: config.oidc.is_some(),
            levels: config.classifications.names().to_vec(),
            entity_floors: config
                .entities
                .iter()
                .filter_map(|e| Some((e.slug.clone(), usize::from(e.classification?.0))))
                .collect(),
        },
        inference: inference(),
        kept: Some((store.clone(), Arc::clone(&content))),
        sessions: Some(cookies.clone()),
        usage: Some((store.clone(), gateway.counters().clone())),
        factory: Some(Arc::clone(&live)),
        libraries: Some(Arc::new(crate::libraries::Shelf {
            libraries: Arc::clone(&libraries),
            directory: Arc::clone(&directory),
        })),
    });
    let files_dir =
        (config.batches.files_dir.clone()).unwrap_or_else(|| config.server.data_dir.join("files"));
    let (contents, other) = match config.batches.file_contents {
        configuration::FileContents::Disk => (
            batch::ContentsAt::Disk(files_dir),
            batch::ContentsAt::Database,
        ),
        configuration::FileContents::Database => (
            batch::ContentsAt::Database,
            batch::ContentsAt::Disk(files_dir),
        ),
    };
    let batches = batch::Batches::open(batch::Parts {
        store: store.clone(),
        directory: Arc::clone(&directory),
        sign_in: sign_in.clone(),
        settings: batch::Settings {
            contents,
            max_file_bytes: config.batches.max_file_bytes,
            entity_quota_bytes: config.batches.entity_quota_bytes,
        },
    })
    .context("opening the files directory")?;
    let moved = batches.move_contents_from(&other).await;
    match moved.context("moving files' contents to `[batches] file_contents`")? {
        batch::Moved {
            files: 0,
            mismatched: 0,
            ..
        } => {}
        moved => tracing::info!(
            ?moved,
            place = config.batches.file_contents.as_str(),
            "files' contents moved to `[batches] file_contents`"
        ),
    }
    let lines = Arc::new(crate::batches::GatewayLines(Arc::clone(&gateway)));
    let runner = batch::Runner::new(Arc::clone(&batches), lines, config.batches.concurrency);
    background.push(crate::batches::spawn_runner(runner, leading.clone()));
    let mut app = Router::new()
        .merge(inference())
        .merge(
            batch::router(Arc::clone(&batches)).layer(axum::middleware::from_fn(echo_request_id)),
        )
        .merge(web::router(web));
    if let Some(oidc) = &oidc {
        app = app.merge(
            oidc.router()
                .layer(axum::middleware::from_fn(echo_request_id)),
        );
    }
    let evaluations = Arc::new(crate::evaluation::Runner::new(
        Arc::clone(&gateway),
        store.clone(),
        Arc::clone(&directory),
    ));
    let admin_state = admin::AdminState {
        store: store.clone(),
        directory: Arc::clone(&directory),
        audit_public_key: Some(audit_public_key),
        scim_tokens: Arc::clone(&scim_tokens),
        classifications: config.classifications.clone(),
        model_names: Arc::clone(&admin_checks.model_names),
        seats: Arc::clone(&seats),
        counters: gateway.counters().clone(),
        zone,
        scheduler: gateway.scheduling.scheduler().cloned(),
        endpoints: Arc::clone(gateway.endpoints()),
        content: Some(Arc::clone(&content)),
        sign_in,
        cookies,
        factory: Arc::clone(&live),
        data_policies: Arc::clone(&admin_checks.data_policies),
        evaluator: Some(Arc::clone(&evaluations) as Arc<dyn admin::Evaluator>),
        libraries: Some(Arc::clone(&libraries)),
    };
    background.push(crate::factory::spawn_watcher(
        admin_state.clone(),
        leading.clone(),
    ));
    // The console asks the admin API, in process, for everything it shows and changes.
    let console = console::Console::new(console::Parts {
        directory: Arc::clone(&directory),
        sign_in: admin_state.sign_in.clone(),
        cookie_secure: config.sessions.cookie_secure.unwrap_or(https_site),
        admin: admin::router(admin_state.clone()),
        zone: admin_state.zone.clone(),
        audit: gateway.sinks().audit.clone(),
    });
    let app = app
        .merge(console::router(console))
        .merge(
            admin::auth_router(admin_state.clone())
                .layer(axum::middleware::from_fn(echo_request_id)),
        )
        .merge(admin::router(admin_state).layer(axum::middleware::from_fn(echo_request_id)))
        .merge(
            scim::router(scim::ScimState {
                store: store.clone(),
                directory: Arc::clone(&directory),
                tokens: Arc::clone(&scim_tokens),
                config: scim_config,
                seats: Arc::clone(&seats),
            })
            .layer(axum::middleware::from_fn(echo_request_id)),
        )
        .merge(crate::openapi::router()?)
        .fallback(unknown_route);

    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let checkpoints = CheckpointTask::spawn(
        Checkpointer::start(
            store.clone(),
            signer,
            CheckpointPolicy {
                every_events: config.audit.checkpoint_every_events,
                interval: config.audit.checkpoint_interval,
            },
            Publisher::new(&config.audit, evidence_metrics.clone())?,
            evidence_metrics,
        )
        .await
        .context("starting the audit checkpoints")?,
        leading,
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = config.server.clone();
    let task = tokio::spawn(async move {
        let stopped = async move {
            let _ = stopped.await;
        };
        crate::listener::serve(listener, app, &limits, stopped).await;
    });
    tracing::info!(%addr, "fabrique listening");
    Ok(RunningServer {
        addr,
        store,
        directory,
        scim_tokens,
        gateway,
        seats,
        batches,
        stop: Some(stop),
        task,
        background,
        usage_writer: Some(usage_writer),
        audit_writer: Some(audit_writer),
        feedback_writer: Some(feedback_writer),
        content_writer,
        content,
        libraries,
        generated_admin_key,
        seat_writer: Some(seat_writer),
        evaluations,
        checkpoints: Some(checkpoints),
        running,
        admin_checks,
        simulator,
    })
}

impl RunningServer {
    /// Stops accepting, waits for in-flight requests, writes every pending usage record and audit
    /// event, then signs a last audit checkpoint.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        for task in &self.background {
            task.abort();
        }
        for task in self.background.drain(..) {
            let _ = task.await;
        }
        self.evaluations.stop().await;
        // Settlements still queued for the shared counters; bounded, since Redis may be down.
        let flushed = self.gateway.counters().flush();
        if tokio::time::timeout(std::time::Duration::from_secs(5), flushed)
            .await
            .is_err()
        {
            tracing::warn!("settlements not written to Redis at shutdown: it did not answer");
        }
        // Keys' last use, seat changes and last activity noted until the last request are stored.
        crate::key_use::flush(&self.directory, &self.store).await;
        if let Some(seat_writer) = self.seat_writer.take() {
            seat_writer.shutdown().await;
        }
        // The gateway holds the last senders: drop it so the writers drain and end. Then no
        // event can be appended any more, and the last checkpoint covers them all.
        let writers = [
            self.usage_writer.take(),
            self.audit_writer.take(),
            self.feedback_writer.take(),
            self.content_writer.take(),
        ];
        let checkpoints = self.checkpoints.take();
        drop(self);
        for writer in writers.into_iter().flatten() {
            writer.shutdown().await;
        }
        if let Some(checkpoints) = checkpoints {
            checkpoints.stop().await;
        }
    }

    /// Signs a checkpoint of the audit chain's head now, as the checkpoint task would when one is
    /// due: `None` when the newest checkpoint covers the head, an error when it is refused.
    pub async fn sign_audit_checkpoint(
        &self,
    ) -> anyhow::Result<Option<evidence::SignedCheckpoint>> {
        match &self.checkpoints {
            Some(task) => task.sign_now().await,
            None => anyhow::bail!("the checkpoint task has stopped"),
        }
    }

    /// Puts a re-read configuration in force as far as a running server can (`SIGHUP`, see
    /// [`crate::reload`]); an error leaves the running configuration as it was.
    pub async fn reload(&self, config: Config) -> anyhow::Result<crate::reload::Reloaded> {
        let embedded = self.simulator.as_ref().map(sim::RunningSim::base_url);
        let parts = (self.gateway.as_ref(), &self.admin_checks);
        crate::reload::apply(
            &self.running,
            &self.store,
            parts,
            embedded.as_deref(),
            config,
        )
        .await
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Entities declared in the configuration are created if they do not exist yet.
async fn seed_entities(store: &Store, config: &Config) -> anyhow::Result<()> {
    for seed in &config.entities {
        if store.entity_by_slug(&seed.slug).await?.is_some() {
            continue;
        }
        let audit = AuditEvent {
            at: now_millis(),
            actor: "system".to_owned(),
            action: domain::AuditAction::EntityCreate,
            entity_id: None,
            target: String::new(),
            outcome: Outcome::Success,
            detail: serde_json::json!({"slug": seed.slug, "source": "configuration"}).to_string(),
        };
        store
            .create_entity(&seed.slug, &seed.name, &audit)
            .await
            .with_context(|| format!("creating entity `{}`", seed.slug))?;
    }
    Ok(())
}

/// Starts the in-process simulator when some endpoint needs it, and points those endpoints at it.
async fn start_embedded_simulator(config: &mut Config) -> anyhow::Result<Option<sim::RunningSim>> {
    let needs = config
        .endpoints
        .iter()
        .any(|e| e.kind == EndpointKind::Simulator && e.url.is_none());
    if !needs {
        return Ok(None);
    }
    let settings = &config.simulator;
    let sim_config = sim::SimConfig {
        ttft: settings.ttft,
        tokens_per_second: settings.tokens_per_second,
        capacity: settings.capacity,
        models: config
            .models
            .iter()
            .map(|m| m.upstream_name.clone())
            .collect(),
        ..sim::SimConfig::default()
    };
    let running = sim::spawn(sim::Simulator::new(sim_config))
        .await
        .context("starting the embedded simulator")?;
    let url = running.base_url();
    for endpoint in config
        .endpoints
        .iter_mut()
        .filter(|e| e.kind == EndpointKind::Simulator && e.url.is_none())
    {
        endpoint.url = Some(url.clone());
    }
    tracing::info!(%url, "embedded GPU-backend simulator started");
    Ok(Some(running))
}

/// Gives admin responses the same request ids as inference responses: a fresh `x-request-id`,
/// and the caller's own echoed in `x-client-request-id` (the gateway does it inline, to keep a
/// middleware off the hot path).
async fn echo_request_id(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let client = gateway::client_request_id(request.headers());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("x-request-id", gateway::request_id());
    if let Some(client) = client {
        headers.insert("x-client-request-id", client);
    }
    response
}

async fn unknown_route(uri: http::Uri) -> Response {
    gateway::json_error(
        StatusCode::NOT_FOUND,
        ErrorType::NotFound,
        "unknown_route",
        format!("no route for `{}`", uri.path()),
    )
}
