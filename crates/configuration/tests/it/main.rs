//! The configuration crate's one integration-test binary.
//!
//! Most cases are fixture files: `tests/fixtures/valid/*.toml` must load, and their `.txt` snapshot is
//! the `Debug` of the typed `Config`; `tests/fixtures/invalid/*.toml` must fail, and their `.txt`
//! snapshot is the full error text. Adding a case is adding a `.toml` file; run with
//! `UPDATE_SNAPSHOTS=1` to write its snapshot, then read the snapshot before committing it.

mod fixtures;
mod typed;

use configuration::Config;

/// Environment variables as the fixtures see them. Values are distinctive so that a test can check
/// none of them ever appears in an error or a `Debug`.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("GPU_PARIS_KEY", "sk-fixture-secret-gpu-paris"),
    ("MISTRAL_API_KEY", "sk-fixture-secret-mistral"),
    ("EMPTY_KEY", ""),
    (
        "AUDIT_SIGNING_KEY",
        "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed",
    ),
    ("AUDIT_NOT_A_KEY", "not-a-key-fixture-secret"),
    ("WITNESS_TOKEN", "fixture-secret-witness"),
    (
        "REDIS_URL",
        "redis://:fixture-secret-redis@cache.internal:6379/0",
    ),
    ("OIDC_CLIENT_SECRET", "fixture-secret-oidc-client"),
    // 32 bytes of 0x5e in base64.
    (
        "FABRIQUE_MASTER_KEY",
        "Xl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl4=",
    ),
    ("SHORT_MASTER_KEY", "c2hvcnQtZml4dHVyZS1zZWNyZXQ="),
    ("METRICS_TOKEN", "fixture-secret-metrics-token"),
];

fn env(name: &str) -> Option<String> {
    ENVIRONMENT
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| (*value).to_owned())
}

/// Parses a snippet with the fixtures' environment, under the source name `test.toml`.
fn parse(text: &str) -> Result<Config, configuration::ConfigErrors> {
    Config::from_toml(text, "test.toml", &env)
}
