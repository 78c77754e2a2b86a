//! Section `[audit]`: the key that signs the audit chain's checkpoints, how often they are signed,
//! and where they are published outside the database.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::{Env, at_least_one, credential, url_problem};

/// Section `[audit]`: the signed checkpoints of the audit trail's hash chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditConfig {
    /// Keys `signing_key_env` and `signing_key_file` (at most one): where the Ed25519 key that signs
    /// checkpoints comes from.
    pub signing_key: AuditKeySource,
    /// Key `checkpoint_every_events`: a checkpoint is signed once this many events were appended since
    /// the last one, at least 1. Default 1000.
    pub checkpoint_every_events: u64,
    /// Key `checkpoint_interval_secs`: and at the latest this long after an event, in seconds, at
    /// least 1. Default 300. A last checkpoint is signed at a clean shutdown.
    pub checkpoint_interval: Duration,
    /// Key `publish_file`: a file every checkpoint is appended to as it is signed, one JSON line
    /// each (the checkpoint lines of `fabrique audit export`), flushed to disk before the next one.
    /// Keep it where whoever can write the database cannot rewrite it — another machine's mount, a
    /// write-once volume, a directory a log shipper forwards — since it is how
    /// `fabrique audit verify` finds checkpoints deleted from the database together with the events
    /// they covered. Optional; not empty.
    pub publish_file: Option<PathBuf>,
    /// Keys `witness_url` and `witness_token_env`: an HTTP witness every checkpoint is sent to as it
    /// is signed. Optional.
    pub witness: Option<Witness>,
}

/// An HTTP service that keeps the checkpoints it is sent, out of reach of the database's writers.
/// Each checkpoint is POSTed as one JSON object (a checkpoint line of `fabrique audit export`);
/// any 2xx answer acknowledges it, and one not acknowledged is sent again at every later attempt,
/// oldest first, while Fabrique runs.
#[derive(Clone, PartialEq, Eq)]
pub struct Witness {
    /// Key `witness_url`: `http://` or `https://`, without query or fragment.
    pub url: String,
    /// Key `witness_token_env`: the *name* of an environment variable holding a bearer token sent
    /// with each checkpoint, which must be set when the configuration is loaded; only with
    /// `witness_url`. Here: the resolved token, which `Debug` redacts.
    pub token: Option<String>,
}

impl fmt::Debug for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Witness")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where the checkpoint signing key comes from. The key is a 32-byte Ed25519 seed written as 64 hex
/// digits or as base64.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditKeySource {
    /// Neither key is set: Fabrique generates a key at its first start into `audit-signing.key` in
    /// the data directory (mode 0600), reuses it afterwards, and logs its public key. Several
    /// replicas should share a configured key instead, or each signs with its own.
    Generated,
    /// Key `signing_key_env`: the *name* of an environment variable holding the seed, which must be
    /// set when the configuration is loaded. Here: the resolved key, whose `Debug` shows only the
    /// public key.
    Environment {
        variable: String,
        signer: Box<evidence::AuditSigner>,
    },
    /// Key `signing_key_file`: a file holding the seed, read at start.
    File(PathBuf),
}

/// As written; the keys are documented on [`AuditConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAudit {
    pub signing_key_env: Option<String>,
    pub signing_key_file: Option<String>,
    pub checkpoint_every_events: Option<u64>,
    pub checkpoint_interval_secs: Option<u64>,
    pub publish_file: Option<String>,
    pub witness_url: Option<String>,
    pub witness_token_env: Option<String>,
}

pub(crate) const CHECKPOINT_EVERY_EVENTS: u64 = 1_000;
pub(crate) const CHECKPOINT_INTERVAL_SECS: u64 = 300;

pub(crate) fn validate(raw: RawAudit, env: Env<'_>, errors: &mut Collector) -> AuditConfig {
    let signing_key = match (raw.signing_key_env, raw.signing_key_file) {
        (Some(_), Some(_)) => {
            errors.push(
                "audit",
                "set `signing_key_env` or `signing_key_file`, not both",
            );
            AuditKeySource::Generated
        }
        (Some(variable), None) => {
            let key = "audit.signing_key_env";
            credential(&variable, key, env, errors)
                .and_then(|seed| match evidence::AuditSigner::from_seed_text(&seed) {
                    Ok(signer) => Some(AuditKeySource::Environment {
                        variable,
                        signer: Box::new(signer),
                    }),
                    Err(problem) => {
                        errors.push(
                            key,
                            format!("environment variable `{variable}` does not hold a signing key: {problem}"),
                        );
                        None
                    }
                })
                .unwrap_or(AuditKeySource::Generated)
        }
        (None, Some(path)) => {
            if path.trim().is_empty() {
                errors.push("audit.signing_key_file", "must not be empty");
            }
            AuditKeySource::File(PathBuf::from(path))
        }
        (None, None) => AuditKeySource::Generated,
    };
    let checkpoint_every_events = at_least_one(
        raw.checkpoint_every_events,
        CHECKPOINT_EVERY_EVENTS,
        "audit.checkpoint_every_events",
        errors,
    );
    let checkpoint_interval_secs = at_least_one(
        raw.checkpoint_interval_secs,
        CHECKPOINT_INTERVAL_SECS,
        "audit.checkpoint_interval_secs",
        errors,
    );
    let publish_file = raw.publish_file.map(|path| {
        if path.trim().is_empty() {
            errors.push("audit.publish_file", "must not be empty");
        }
        PathBuf::from(path)
    });
    AuditConfig {
        signing_key,
        checkpoint_every_events,
        checkpoint_interval: Duration::from_secs(checkpoint_interval_secs),
        publish_file,
        witness: witness(raw.witness_url, raw.witness_token_env, env, errors),
    }
}

/// `witness_url` and the token its `witness_token_env` names.
fn witness(
    url: Option<String>,
    token_env: Option<String>,
    env: Env<'_>,
    errors: &mut Collector,
) -> Option<Witness> {
    let token = token_env.and_then(|variable| {
        if url.is_none() {
            errors.push("audit.witness_token_env", "only allowed with `witness_url`");
        }
        credential(&variable, "audit.witness_token_env", env, errors)
    });
    let url = url?;
    if let Some(problem) = url_problem(&url) {
        errors.push("audit.witness_url", problem);
    }
    Some(Witness { url, token })
}
