//! `[retention]` and `[entities.retention]`: what is kept of prompts and completions, for how long,
//! and the master key that encrypts what is kept.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::credential;

/// Section `[retention]`: the group's default retention and the master key.
///
/// ```toml
/// [retention]
/// mode = "metadata"                      # the default of entities without [entities.retention]
/// master_key_env = "FABRIQUE_MASTER_KEY" # required as soon as one entity keeps content
/// content_key_dir = "/var/lib/fabrique-keys" # content keys kept outside the database
/// raw_usage_days = 90                    # usage records deleted after 90 days, roll-ups kept
/// hourly_rollup_days = 400               # hourly roll-ups deleted after 400 days, daily ones kept
///
/// [[entities]]
/// slug = "markets"
/// name = "Marchés"
/// [entities.retention]
/// mode = "full"
/// days = 30
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Keys `mode` and `days`: the retention of entities that give none (also entities created at
    /// run time). Default `metadata`.
    pub default: Retention,
    /// Key `master_key_env`: the *name* of an environment variable holding the master key, 32
    /// bytes in standard base64 (`openssl rand -base64 32`). The master key wraps each entity's
    /// data key; it is never stored. Required when the group or any entity has `mode = "full"`
    /// (start-up is refused otherwise), and the variable must be set when the configuration is
    /// loaded. Keep it: without it, stored content cannot be read back. Here: the resolved key,
    /// whose `Debug` shows nothing of it.
    pub master_key: Option<MasterKeySource>,
    /// Key `content_key_dir`: a directory, outside the database and its backups, where each
    /// person's content key is kept (one file each, 0600, in a 0700 directory created at start)
    /// instead of in the database, so that an erasure, which deletes the person's file, reaches
    /// every database backup at once. Keys already in the database move there at start. Absent:
    /// content keys are kept in the database.
    pub content_key_dir: Option<PathBuf>,
    /// Key `raw_usage_days`: how long raw usage records are kept, 32 to 36,500 days. Older ones
    /// are deleted by the hourly job once their hour is rolled up (`store::Store::roll_up_usage`);
    /// the hourly roll-ups, which reports, chargeback and entity budgets read, and the audit chain
    /// are kept. At least 32 days, because a monthly budget of a key, user or team, a person's
    /// month in the chat, active users, and reports grouped by user or key read raw records.
    /// Absent: raw records are kept.
    pub raw_usage_days: Option<u32>,
    /// Key `hourly_rollup_days`: how long the hourly roll-ups (`usage_hourly`, `latency_hourly`,
    /// `latency_model_hourly`) are kept, 32 to 36,500 days. Older hours are deleted by the same job
    /// once their day of `[admission] time_zone` is summed into the daily roll-ups, which stay with
    /// the audit chain; hours in no summed day (before the first, or all of them in a zone whose
    /// days are not whole UTC hours) are kept. At least 32 days, because the console's 30-day charts
    /// and percentiles start inside a day and read that day's hours. A report whose range or
    /// buckets cut a day older than that reads the day's hours from raw records, and is refused
    /// (`out of range`) when those are deleted too: give such ranges on day boundaries, by day or
    /// by month. Absent: hourly roll-ups are kept.
    pub hourly_rollup_days: Option<u32>,
}

/// The master key and the variable it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeySource {
    pub variable: String,
    pub key: vault::MasterKey,
}

/// What is kept of one entity's prompts and completions.
///
/// - `none`: nothing — no content stored, and no content in traces either (the entity's
///   `trace_content` is forced off, and setting it explicitly is an error). Usage records and
///   audit events, which never hold content, are kept as always.
/// - `metadata` (the default): usage records and audit events only; content may reach exported
///   traces if the entity's policy sets `trace_content`.
/// - `full`: as `metadata`, and each chat or FIM request's input (as the caller sent it, before
///   redaction or pseudonymization: it is the caller's own data) and completion text are stored
///   encrypted, then deleted `days` days later by the purge job. Embedding requests keep no
///   content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retention {
    None,
    #[default]
    Metadata,
    /// Key `days`: how long content is kept, 1 to 36,500 days; required with `full` and only
    /// allowed with it.
    Full {
        days: u32,
    },
}

impl Retention {
    pub fn keeps_content(self) -> bool {
        matches!(self, Retention::Full { .. })
    }

    /// The mode's name, as written in the file.
    pub fn mode(self) -> &'static str {
        match self {
            Retention::None => "none",
            Retention::Metadata => "metadata",
            Retention::Full { .. } => "full",
        }
    }
}

/// Longest retention allowed, in days (a hundred years: a number, not a policy).
const MAX_DAYS: u64 = 36_500;

/// Shortest `raw_usage_days`: a month and a day, so that a monthly budget read from raw records
/// always finds its whole period.
const MIN_RAW_USAGE_DAYS: u64 = 32;

/// Shortest `hourly_rollup_days`: the console's 30 days, starting inside a day, and a day more.
const MIN_HOURLY_ROLLUP_DAYS: u64 = 32;

/// `[retention]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    pub mode: Option<String>,
    pub days: Option<u64>,
    pub master_key_env: Option<String>,
    pub content_key_dir: Option<String>,
    pub raw_usage_days: Option<u64>,
    pub hourly_rollup_days: Option<u64>,
}

/// `[entities.retention]` as written: the master key is the group's only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntityRetention {
    pub mode: Option<String>,
    pub days: Option<u64>,
}

/// The `mode`/`days` pair of the table at `key`.
pub(crate) fn retention(
    mode: Option<&str>,
    days: Option<u64>,
    key: &str,
    errors: &mut Collector,
) -> Retention {
    let mode = mode.unwrap_or("metadata");
    let days_key = format!("{key}.days");
    match mode {
        "full" => {
            let days = match days {
                None => {
                    errors.push(
                        &days_key,
                        "required with `mode = \"full\"`: how many days content is kept",
                    );
                    1
                }
                Some(days) if !(1..=MAX_DAYS).contains(&days) => {
                    errors.push(
                        &days_key,
                        format!("must be between 1 and {MAX_DAYS}, found {days}"),
                    );
                    1
                }
                Some(days) => days,
            };
            Retention::Full {
                days: u32::try_from(days).unwrap_or(1),
            }
        }
        "none" | "metadata" => {
            if days.is_some() {
                errors.push(
                    &days_key,
                    format!("only allowed with `mode = \"full\"` (mode is `{mode}`)"),
                );
            }
            if mode == "none" {
                Retention::None
            } else {
                Retention::Metadata
            }
        }
        other => {
            errors.push(
                format!("{key}.mode"),
                format!("unknown mode `{other}`; expected `none`, `metadata` or `full`"),
            );
            Retention::Metadata
        }
    }
}

/// Reads the master key named by `master_key_env`.
pub(crate) fn master_key(
    raw: &RawRetention,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Collector,
) -> Option<MasterKeySource> {
    let variable = raw.master_key_env.as_ref()?;
    let key = "retention.master_key_env";
    let text = credential(variable, key, env, errors)?;
    match vault::MasterKey::from_base64(&text) {
        Ok(master) => Some(MasterKeySource {
            variable: variable.clone(),
            key: master,
        }),
        Err(problem) => {
            errors.push(
                key,
                format!("environment variable `{variable}` does not hold a master key: {problem}"),
            );
            None
        }
    }
}

/// The section's own keys; the second value says whether `master_key_env` was given, which the
/// check against the entities' retentions needs (`validate::retention_of_entities`).
pub(crate) fn validate(
    raw: RawRetention,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Collector,
) -> (RetentionConfig, bool) {
    let default = retention(raw.mode.as_deref(), raw.days, "retention", errors);
    let master_key = master_key(&raw, env, errors);
    let content_key_dir = raw.content_key_dir.map(|path| {
        if path.trim().is_empty() {
            errors.push("retention.content_key_dir", "must not be empty");
        }
        PathBuf::from(path)
    });
    let raw_usage_days = days_within(
        raw.raw_usage_days,
        MIN_RAW_USAGE_DAYS,
        "retention.raw_usage_days",
        errors,
    );
    let hourly_rollup_days = days_within(
        raw.hourly_rollup_days,
        MIN_HOURLY_ROLLUP_DAYS,
        "retention.hourly_rollup_days",
        errors,
    );
    let config = RetentionConfig {
        default,
        master_key,
        content_key_dir,
        raw_usage_days,
        hourly_rollup_days,
    };
    (config, raw.master_key_env.is_some())
}

/// A number of days at `key`, between `min` and [`MAX_DAYS`].
fn days_within(days: Option<u64>, min: u64, key: &str, errors: &mut Collector) -> Option<u32> {
    let days = days?;
    if (min..=MAX_DAYS).contains(&days) {
        return u32::try_from(days).ok();
    }
    errors.push(
        key,
        format!("must be between {min} and {MAX_DAYS}, found {days}"),
    );
    None
}
