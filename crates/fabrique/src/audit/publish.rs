//! Checkpoints published outside the database as they are signed: appended to a file
//! (`[audit] publish_file`) and sent to an HTTP witness (`[audit] witness_url`). Whoever can write
//! the database can delete its newest checkpoints together with the events they cover, and the
//! stored trail then looks whole; a copy they cannot reach is what shows it
//! (`fabrique audit verify --published`).
//!
//! A checkpoint is published after it is stored. One that a target does not accept (file not
//! writable, witness down) stays queued for that target and is tried again, oldest first, at the
//! checkpointer's next tick; `fabrique_audit_checkpoints_unpublished` counts what waits. The file
//! is read back at start, so checkpoints stored but not yet appended when the process stopped are
//! appended then; the witness is sent what this process signs.
//!
//! The file holds one JSON line per checkpoint, the checkpoint line of `fabrique audit export`.
//! Each line is written whole and flushed to disk before the next.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use configuration::AuditConfig;
use evidence::SignedCheckpoint;
use evidence::export::ExportLine;
use telemetry::EvidenceMetrics;

/// How long the witness has to acknowledge one checkpoint.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(5);

/// Every publication target, each with the checkpoints it has yet to accept.
#[derive(Debug)]
pub struct Publisher {
    targets: Vec<Target>,
    metrics: EvidenceMetrics,
}

#[derive(Debug)]
struct Target {
    destination: Destination,
    pending: VecDeque<SignedCheckpoint>,
}

#[derive(Debug)]
enum Destination {
    File(PathBuf),
    Witness {
        client: reqwest::Client,
        url: String,
        token: Option<String>,
    },
}

impl Publisher {
    /// The targets `config` names; `metrics` count what waits after each attempt.
    pub fn new(config: &AuditConfig, metrics: EvidenceMetrics) -> anyhow::Result<Publisher> {
        let mut targets = Vec::new();
        if let Some(path) = &config.publish_file {
            targets.push(Target::new(Destination::File(path.clone())));
        }
        if let Some(witness) = &config.witness {
            let client = reqwest::Client::builder()
                .timeout(WITNESS_TIMEOUT)
                .build()
                .context("preparing the audit witness client")?;
            targets.push(Target::new(Destination::Witness {
                client,
                url: witness.url.clone(),
                token: witness.token.clone(),
            }));
        }
        Ok(Publisher { targets, metrics })
    }

    /// The publish file, if one is configured.
    pub fn file(&self) -> Option<&Path> {
        self.targets
            .iter()
            .find_map(|target| match &target.destination {
                Destination::File(path) => Some(path.as_path()),
                Destination::Witness { .. } => None,
            })
    }

    /// Queues checkpoints for the publish file only: those stored but missing from it.
    pub fn queue_for_file(&mut self, checkpoints: impl IntoIterator<Item = SignedCheckpoint>) {
        if let Some(target) = self
            .targets
            .iter_mut()
            .find(|target| matches!(target.destination, Destination::File(_)))
        {
            target.pending.extend(checkpoints);
        }
        self.count();
    }

    /// Queues a checkpoint just stored for every target.
    pub fn queue(&mut self, checkpoint: &SignedCheckpoint) {
        for target in &mut self.targets {
            target.pending.push_back(checkpoint.clone());
        }
        self.count();
    }

    /// Tries every target's queue, oldest first, each until its first failure (logged).
    pub async fn flush(&mut self) {
        for target in &mut self.targets {
            while let Some(checkpoint) = target.pending.front() {
                match target.destination.send(checkpoint).await {
                    Ok(()) => {
                        target.pending.pop_front();
                    }
                    Err(error) => {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            target = %target.destination,
                            seq = checkpoint.seq,
                            "an audit checkpoint could not be published; retrying"
                        );
                        break;
                    }
                }
            }
        }
        self.count();
    }

    fn count(&self) {
        let waiting: usize = self.targets.iter().map(|t| t.pending.len()).sum();
        self.metrics
            .checkpoints_unpublished
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }
}

impl Target {
    fn new(destination: Destination) -> Target {
        Target {
            destination,
            pending: VecDeque::new(),
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::File(path) => write!(f, "file {}", path.display()),
            Destination::Witness { url, .. } => write!(f, "witness {url}"),
        }
    }
}

impl Destination {
    async fn send(&self, checkpoint: &SignedCheckpoint) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(&ExportLine::Checkpoint(checkpoint.clone()))?;
        match self {
            Destination::File(path) => {
                line.push(b'\n');
                let path = path.clone();
                tokio::task::spawn_blocking(move || append_synced(&path, &line)).await?
            }
            Destination::Witness { client, url, token } => {
                let mut request = client
                    .post(url)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(line);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await?;
                let status = response.status();
                if !status.is_success() {
                    bail!("the witness answered {status}");
                }
                Ok(())
            }
        }
    }
}

/// Appends `line` in one write and flushes it to disk.
fn append_synced(path: &Path, line: &[u8]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(line)
        .and_then(|()| file.sync_data())
        .with_context(|| format!("appending to {}", path.display()))
}

/// The checkpoints of a publish file, in the order written; none when it does not exist yet. A
/// last line cut short (a crash while it was written) is skipped with a warning; any other line
/// that is not a checkpoint is an error naming it.
pub fn read_published(path: &Path) -> anyhow::Result<Vec<SignedCheckpoint>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(error).with_context(|| format!("opening {}", path.display()));
        }
    };
    let mut checkpoints = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    for number in 1.. {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .with_context(|| format!("{}: reading line {number}", path.display()))?;
        if read == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ExportLine>(&line) {
            Ok(ExportLine::Checkpoint(checkpoint)) => checkpoints.push(checkpoint),
            Err(_) if !line.ends_with('\n') => {
                tracing::warn!(
                    path = %path.display(),
                    line = number,
                    "the last published checkpoint line is cut short (written during a crash); ignored"
                );
            }
            _ => bail!(
                "{}: line {number} is not a published checkpoint",
                path.display()
            ),
        }
    }
    Ok(checkpoints)
}
