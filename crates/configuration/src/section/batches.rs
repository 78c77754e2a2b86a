//! Section `[batches]`: files uploaded through `/v1/files`, the quota of each entity, and the
//! background runner of `/v1/batches`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::at_least_one;

/// Section `[batches]`: uploaded files and batch jobs.
///
/// ```toml
/// [batches]
/// file_contents = "disk"                 # or "database": every replica reads every file
/// files_dir = "/var/lib/fabrique/files"  # default: `files` under the data directory
/// max_file_bytes = 536870912             # 512 MiB, the largest file one upload may send
/// entity_quota_bytes = 10737418240       # 10 GiB of files per entity
/// concurrency = 64                       # lines of batches run at once on this replica
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchesConfig {
    /// Key `file_contents`: where the contents of uploaded files (and batches' output files) are
    /// kept, `disk` (the default) or `database`. See [`FileContents`].
    pub file_contents: FileContents,
    /// Key `files_dir`: with `file_contents = "disk"`, where the contents are kept, one file per
    /// id; created (0700) at start. With `"database"`, where files kept on disk before are moved
    /// from at start. Absent: `files` under `[server] data_dir`. Changing `file_contents` moves
    /// every file's contents to the new place at the next start (checked by size and SHA-256).
    pub files_dir: Option<PathBuf>,
    /// Key `max_file_bytes`: the largest file an upload may send, at least 1. Default 512 MiB
    /// (a batch's input of a million lines).
    pub max_file_bytes: u64,
    /// Key `entity_quota_bytes`: the bytes of files one entity may keep at once (uploads and
    /// batches' outputs; a deleted file frees its bytes), at least 1. An upload past it is
    /// refused with `413 file_quota_exceeded`. Default 10 GiB. Group-level service accounts,
    /// which belong to no entity, share one quota of this size.
    pub entity_quota_bytes: u64,
    /// Key `concurrency`: the lines of batches this replica sends through the gateway at once,
    /// at least 1. Default 64. The fair scheduler holds them at `batch` priority, so they fill
    /// what the GPU pool's other work leaves idle (less `[scheduling] batch_headroom`) without
    /// delaying it: set it to at least the sequences of the pools batches use, or a batch leaves
    /// capacity idle (at 4, a batch used 4 of a 32-sequence pool's).
    pub concurrency: usize,
}

/// Where files' contents are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileContents {
    /// One file per id in the files directory, on this machine: a single process, or replicas
    /// sharing that directory.
    #[default]
    Disk,
    /// In the store, in chunks of at most 1 MiB, written and read as they stream: every replica
    /// on one PostgreSQL reads every file, whichever replica it was uploaded through.
    Database,
}

impl FileContents {
    /// The value's name, as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            FileContents::Disk => "disk",
            FileContents::Database => "database",
        }
    }
}

impl Default for BatchesConfig {
    fn default() -> Self {
        BatchesConfig {
            file_contents: FileContents::Disk,
            files_dir: None,
            max_file_bytes: MAX_FILE_BYTES,
            entity_quota_bytes: ENTITY_QUOTA_BYTES,
            concurrency: CONCURRENCY,
        }
    }
}

/// As written; the keys are documented on [`BatchesConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBatches {
    pub file_contents: Option<String>,
    pub files_dir: Option<PathBuf>,
    pub max_file_bytes: Option<u64>,
    pub entity_quota_bytes: Option<u64>,
    pub concurrency: Option<u64>,
}

/// `[batches] max_file_bytes`: Mistral's limit of a batch's input.
const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// `[batches] entity_quota_bytes`: twenty full-size batch inputs.
const ENTITY_QUOTA_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// `[batches] concurrency`.
const CONCURRENCY: usize = 64;

pub(crate) fn validate(raw: RawBatches, errors: &mut Collector) -> BatchesConfig {
    let max_file_bytes = at_least_one(
        raw.max_file_bytes,
        MAX_FILE_BYTES,
        "batches.max_file_bytes",
        errors,
    );
    let entity_quota_bytes = at_least_one(
        raw.entity_quota_bytes,
        ENTITY_QUOTA_BYTES,
        "batches.entity_quota_bytes",
        errors,
    );
    let concurrency = at_least_one(
        raw.concurrency,
        CONCURRENCY as u64,
        "batches.concurrency",
        errors,
    );
    let file_contents = match raw.file_contents.as_deref() {
        None | Some("disk") => FileContents::Disk,
        Some("database") => FileContents::Database,
        Some(other) => {
            errors.push(
                "batches.file_contents",
                format!("unknown place `{other}`; expected `disk` or `database`"),
            );
            FileContents::Disk
        }
    };
    BatchesConfig {
        file_contents,
        files_dir: raw.files_dir,
        max_file_bytes,
        entity_quota_bytes,
        concurrency: usize::try_from(concurrency).unwrap_or(CONCURRENCY),
    }
}
