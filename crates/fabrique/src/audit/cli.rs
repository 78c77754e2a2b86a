//! `fabrique audit verify` and `fabrique audit export`.
//!
//! Both read the store `fabrique serve` would use (`--config`, `--data-dir`, `--database-url`),
//! opened read-only: no migration, no chaining, no write of any kind, so what is verified is what
//! the database holds. `verify` also reads an export file instead (`--file`). What the auditor
//! holds outside the database anchors the verification: the checkpoints published as they were
//! signed (`--published`, by default the configured `[audit] publish_file`) and heads written down
//! (`--expect SEQ:HASH`). A verification that finds anything wrong prints every problem and ends
//! with an error, so the exit code is non-zero.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use configuration::Config;
use domain::now_millis;
use evidence::export::{ExportLine, FORMAT, Header};
use evidence::{ChainHash, MAX_PROBLEMS, OutsideAnchors, PublicKey, Report, Scope, Verifier};
use store::{ChainSelection, Store};

use crate::audit::publish::read_published;
use crate::audit::signing_key;
use crate::server::{self, ServeOptions};

/// Events read per query.
const PAGE: u32 = 1_000;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the audit trail: recompute every hash and check every signed checkpoint. Exits
    /// non-zero, naming the first broken event, when anything is wrong.
    Verify(VerifyArgs),
    /// Export events, with their hashes and the checkpoints covering them, as JSON lines that
    /// `fabrique audit verify --file` checks offline.
    Export(ExportArgs),
}

/// Which store to read, as for `fabrique serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "FABRIQUE_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded SQLite database (and of a generated signing key).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL instead of SQLite: `postgres://user@host/db`.
    #[arg(long, env = "FABRIQUE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Verify an export file instead of the store.
    #[arg(long, conflicts_with_all = ["data_dir", "database_url"])]
    file: Option<PathBuf>,
    /// A trusted public key (64 hex digits or base64); repeat for a rotated key. Default: the
    /// configured or generated key (store), or the keys named in the file (export).
    #[arg(long = "public-key", value_name = "KEY")]
    public_keys: Vec<String>,
    /// Checkpoints published as they were signed (the `[audit] publish_file` of the server, or a
    /// witness's copy in the same JSON lines): each must still be in the trail, unchanged, and
    /// reached by the chain. Repeatable. Default: the configured `publish_file`, when it exists.
    #[arg(long = "published", value_name = "FILE")]
    published: Vec<PathBuf>,
    /// An event's hash held outside the store, `SEQ:HASH` (a checkpoint's `seq` and `head`, say):
    /// the event must be there with that hash. Repeatable.
    #[arg(long = "expect", value_name = "SEQ:HASH")]
    expect: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// First event number to export.
    #[arg(long)]
    from: Option<u64>,
    /// Last event number to export.
    #[arg(long)]
    to: Option<u64>,
    /// Only the events of this entity (slug).
    #[arg(long)]
    entity: Option<String>,
    /// The file to write.
    #[arg(long)]
    output: PathBuf,
}

pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify(args) => verify(args).await,
        AuditCommand::Export(args) => export(args).await,
    }
}

async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let mut trusted = parse_keys(&args.public_keys)?;
    let expected = args
        .expect
        .iter()
        .map(|text| parse_expected(text))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut lines = Vec::new();
    let report = match &args.file {
        Some(path) => {
            let anchors = OutsideAnchors {
                published: published(&args.published, &mut lines)?,
                expected,
            };
            verify_file(path, &mut trusted, anchors, &mut lines)?
        }
        None => {
            let config = load_config(&args.store)?;
            if trusted.is_empty() {
                trusted.extend(signing_key::configured_public_key(&config)?);
            }
            if trusted.is_empty() {
                bail!(
                    "no public key to check checkpoint signatures with: pass --public-key, or point --config/--data-dir at the installation that signs them"
                );
            }
            let mut files = args.published.clone();
            if files.is_empty() {
                files.extend(
                    config
                        .audit
                        .publish_file
                        .iter()
                        .filter(|p| p.exists())
                        .cloned(),
                );
            }
            let anchors = OutsideAnchors {
                published: published(&files, &mut lines)?,
                expected,
            };
            let store = open_existing_store(&config).await?;
            let report = store.verify_audit_chain(trusted.clone(), anchors).await?;
            store.close().await;
            report
        }
    };
    describe_report(&report, &trusted, &mut lines);
    crate::output::print_lines(&lines.join("\n"))?;
    match report.problems.first() {
        None => Ok(()),
        Some(first) => bail!(
            "audit trail verification failed ({} problem{}): {first}",
            report.problems.len() as u64 + report.problems_omitted,
            if report.problems.len() == 1 { "" } else { "s" }
        ),
    }
}

/// `SEQ:HASH`, as `--expect` takes it.
fn parse_expected(text: &str) -> anyhow::Result<(u64, ChainHash)> {
    let parsed = text
        .split_once(':')
        .and_then(|(seq, hash)| Some((seq.trim().parse().ok()?, hash.trim().parse().ok()?)));
    parsed.with_context(|| {
        format!("--expect `{text}`: expected SEQ:HASH, an event number and its 64-hex-digit hash")
    })
}

/// The checkpoints of every publish file, noting where they came from.
fn published(
    files: &[PathBuf],
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<evidence::SignedCheckpoint>> {
    let mut all = Vec::new();
    for path in files {
        let checkpoints = read_published(path)?;
        notes.push(format!(
            "published checkpoints: {} read from {}",
            checkpoints.len(),
            path.display()
        ));
        all.extend(checkpoints);
    }
    Ok(all)
}

fn parse_keys(texts: &[String]) -> anyhow::Result<Vec<PublicKey>> {
    texts
        .iter()
        .map(|text| {
            text.parse::<PublicKey>()
                .with_context(|| format!("--public-key `{text}`"))
        })
        .collect()
}

/// Two passes over the file: the header and checkpoints first (the verifier needs them before the
/// events), then the events, streamed.
fn verify_file(
    path: &Path,
    trusted: &mut Vec<PublicKey>,
    anchors: OutsideAnchors,
    notes: &mut Vec<String>,
) -> anyhow::Result<Report> {
    let mut header: Option<Header> = None;
    let mut checkpoints = Vec::new();
    for_each_line(path, |number, line| {
        match line {
            ExportLine::Header(h) if number == 1 => {
                if h.format != FORMAT {
                    bail!(
                        "unsupported export format `{}` (expected `{FORMAT}`)",
                        h.format
                    );
                }
                header = Some(h);
            }
            ExportLine::Header(_) => bail!("a header may only be the first line"),
            ExportLine::Checkpoint(c) => checkpoints.push(c),
            ExportLine::Event(_) => {}
        }
        Ok(())
    })?;
    let header = header.context("the first line is not an export header")?;
    if trusted.is_empty() {
        *trusted = parse_keys(&header.public_keys).context("the file's header")?;
        notes.push(
            "note: trusting the public key(s) named in the file itself; compare them with the key the operator published, or pass --public-key".to_owned(),
        );
    }
    let scope = header.scope();
    let mut verifier = Verifier::new(scope, trusted.clone(), checkpoints);
    verifier.anchor_all(anchors);
    for_each_line(path, |_, line| {
        if let ExportLine::Event(event) = line {
            verifier.push(&event);
        }
        Ok(())
    })?;
    if scope == Scope::Selection {
        notes.push(format!(
            "note: entity `{}` only: each event's hash is checked against its content, not its links; compare the hashes with a full export to prove the events belong to the signed chain",
            header.entity.as_deref().unwrap_or_default()
        ));
    }
    Ok(verifier.finish())
}

fn for_each_line(
    path: &Path,
    mut each: impl FnMut(usize, ExportLine) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("{}: reading line {number}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: ExportLine = serde_json::from_str(&line)
            .with_context(|| format!("{}: line {number} is not an export line", path.display()))?;
        each(number, parsed).with_context(|| format!("{}: line {number}", path.display()))?;
    }
    Ok(())
}

/// The report as lines for standard output, after any `notes` already there.
fn describe_report(report: &Report, trusted: &[PublicKey], lines: &mut Vec<String>) {
    let range = match (report.first_seq, report.last_seq) {
        (Some(first), Some(last)) => format!(" (seq {first} to {last})"),
        _ => String::new(),
    };
    let keys: Vec<String> = trusted.iter().map(ToString::to_string).collect();
    if report.is_ok() {
        lines.push(format!("audit trail OK: {} events{range}", report.events));
    } else {
        lines.push(format!(
            "audit trail verification FAILED: {} events{range}, {} problem(s)",
            report.events,
            report.problems.len() as u64 + report.problems_omitted
        ));
        lines.extend(report.problems.iter().map(|problem| format!("  {problem}")));
        if report.problems_omitted > 0 {
            lines.push(format!(
                "  … and {} more (only the first {MAX_PROBLEMS} are listed)",
                report.problems_omitted
            ));
        }
    }
    if let Some(hash) = &report.last_hash {
        lines.push(format!("last hash: {hash}"));
    }
    lines.push(format!(
        "signed checkpoints: {} valid, trusted key(s): {}",
        report.checkpoints_signed,
        keys.join(", ")
    ));
    match report.last_anchored_seq {
        Some(seq) => lines.push(format!(
            "newest signed head: seq {seq}; {} event(s) after it are protected by the chain alone",
            report.unanchored_events
        )),
        None if report.events > 0 => lines.push(
            "no signed checkpoint covers these events: deleting the newest ones or rewriting the chain would not be detected".to_owned(),
        ),
        None => {}
    }
    if report.outside_anchors == 0 {
        lines.push(
            "note: no checkpoint held outside the database was given (--published, --expect): the newest checkpoints deleted together with the events they cover would not be detected".to_owned(),
        );
    } else {
        lines.push(format!(
            "anchors held outside the database: {} checked",
            report.outside_anchors
        ));
    }
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        bail!("--from {from} is after --to {to}");
    }
    let config = load_config(&args.store)?;
    let store = open_existing_store(&config).await?;
    let entity_id = match &args.entity {
        None => None,
        Some(slug) => Some(
            store
                .entity_by_slug(slug)
                .await?
                .with_context(|| format!("no entity with slug `{slug}`"))?
                .id
                .to_string(),
        ),
    };
    let head = store.audit_chain_head().await?;
    let from = args.from.unwrap_or(1);
    let to = args.to.unwrap_or(head.seq).min(head.seq);
    let checkpoints = store.list_audit_checkpoints(from, Some(to)).await?;
    let mut public_keys: BTreeSet<String> =
        checkpoints.iter().map(|c| c.public_key.clone()).collect();
    public_keys.extend(signing_key::configured_public_key(&config)?.map(|key| key.to_string()));
    let header = Header {
        format: FORMAT.to_owned(),
        public_keys: public_keys.into_iter().collect(),
        from: args.from,
        to: args.to,
        entity: args
            .entity
            .as_ref()
            .zip(entity_id.as_ref())
            .map(|(slug, id)| format!("{slug} ({id})")),
        legacy_through: head.legacy_through,
        exported_at: now_millis(),
    };
    let file = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut out = BufWriter::new(file);
    write_line(&mut out, &ExportLine::Header(header))?;
    let mut selection = ChainSelection {
        after: from.saturating_sub(1),
        through: Some(to),
        entity_id,
    };
    let mut events = 0u64;
    loop {
        let page = store.read_audit_chain(&selection, PAGE).await?;
        let Some(last) = page.last() else { break };
        selection.after = last.seq;
        for event in page {
            write_line(&mut out, &ExportLine::Event(event))?;
            events += 1;
        }
    }
    let checkpoint_count = checkpoints.len();
    for checkpoint in checkpoints {
        write_line(&mut out, &ExportLine::Checkpoint(checkpoint))?;
    }
    out.flush()
        .and_then(|()| out.get_ref().sync_all())
        .with_context(|| format!("writing {}", args.output.display()))?;
    store.close().await;
    crate::output::print_lines(&format!(
        "exported {events} events and {checkpoint_count} checkpoints to {}",
        args.output.display()
    ))
}

fn write_line(out: &mut impl std::io::Write, line: &ExportLine) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn load_config(args: &StoreArgs) -> anyhow::Result<Config> {
    server::load_config(&ServeOptions {
        config: args.config.clone(),
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        ..ServeOptions::default()
    })
}

/// Opens the store read-only, never creating one: verifying a database that is not there must
/// fail, not report an empty trail as intact.
async fn open_existing_store(config: &Config) -> anyhow::Result<Store> {
    let store = match &config.server.database_url {
        Some(url) => Store::open_read_only(url).await,
        None => {
            let path = config.server.data_dir.join(store::SQLITE_FILE_NAME);
            if !path.exists() {
                bail!(
                    "no database at {}: pass --data-dir or --database-url",
                    path.display()
                );
            }
            Store::open_dir_read_only(&config.server.data_dir).await
        }
    };
    store.context("opening the store read-only")
}
