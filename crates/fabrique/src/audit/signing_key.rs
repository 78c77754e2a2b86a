//! Where the checkpoint signing key comes from: the configuration (an environment variable or a
//! file), or a key Fabrique generated into its data directory at its first start.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use configuration::{AuditKeySource, Config};
use evidence::{AuditSigner, PublicKey};

/// The generated key's file name inside the data directory.
pub const GENERATED_KEY_FILE: &str = "audit-signing.key";

/// The signer `serve` uses. With no configured key, reads the generated key, or generates it (mode
/// 0600) and logs its public key, which operators publish to auditors.
pub fn load_or_generate(config: &Config) -> anyhow::Result<AuditSigner> {
    if let Some(signer) = configured(config)? {
        return Ok(signer);
    }
    let path = generated_key_path(config);
    if path.exists() {
        return read_key_file(&path);
    }
    let signer = AuditSigner::generate();
    write_new_key_file(&path, &signer)?;
    tracing::info!(
        public_key = %signer.public_key(),
        path = %path.display(),
        "generated the audit checkpoint signing key; give its public key to auditors"
    );
    Ok(signer)
}

/// The public key checkpoints are checked against when `verify` is given none: the configured key,
/// or the generated one if it exists. Never generates a key.
pub fn configured_public_key(config: &Config) -> anyhow::Result<Option<PublicKey>> {
    if let Some(signer) = configured(config)? {
        return Ok(Some(signer.public_key()));
    }
    let path = generated_key_path(config);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(read_key_file(&path)?.public_key()))
}

fn configured(config: &Config) -> anyhow::Result<Option<AuditSigner>> {
    match &config.audit.signing_key {
        AuditKeySource::Generated => Ok(None),
        AuditKeySource::Environment { signer, .. } => Ok(Some((**signer).clone())),
        AuditKeySource::File(path) => read_key_file(path).map(Some),
    }
}

fn generated_key_path(config: &Config) -> PathBuf {
    config.server.data_dir.join(GENERATED_KEY_FILE)
}

fn read_key_file(path: &Path) -> anyhow::Result<AuditSigner> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the audit signing key file {}", path.display()))?;
    warn_if_readable_by_others(path);
    AuditSigner::from_seed_text(&text)
        .with_context(|| format!("the audit signing key file {}", path.display()))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(metadata) = std::fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the audit signing key file is readable by other users; restrict it to mode 0600"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Writes the seed to a file that must not exist yet, readable by its owner only.
fn write_new_key_file(path: &Path, signer: &AuditSigner) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the data directory {}", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating the audit signing key file {}", path.display()))?;
    file.write_all(format!("{}\n", signer.seed_hex()).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing the audit signing key file {}", path.display()))
}
