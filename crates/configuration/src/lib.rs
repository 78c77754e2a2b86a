//! Configuration file: TOML parsed, validated and typed once, every error reported together.
//!
//! Fabrique reads one TOML file (`fabrique serve --config fabrique.toml`). This crate turns it into a
//! [`Config`] of plain typed values, or into [`ConfigErrors`] listing *every* problem found, one per
//! line, as `<file>: <key path>: <message>`. Nothing above this crate parses configuration text, and
//! nothing here does I/O beyond reading the file and the environment variables it names. Reload goes
//! through the same [`Config::from_toml`] as startup.
//!
//! # The file
//!
//! Every section is optional; with no file at all Fabrique runs [`Config::embedded_default`]. Unknown
//! keys are errors everywhere, so a misspelt key never silently falls back to a default. The meaning,
//! default and rules of each key are documented once, on the field it becomes (see [`ServerConfig`],
//! [`RoutingConfig`], [`SimulatorConfig`], [`EndpointConfig`], [`ModelConfig`], [`EntitySeed`],
//! [`AuditConfig`], [`OidcConfig`], [`SeatsConfig`], [`TelemetryConfig`], [`SchedulingConfig`],
//! [`RetentionConfig`], [`AuthorizationConfig`], [`BatchesConfig`], [`CacheConfig`], [`LibrariesConfig`]).
//!
//! ```toml
//! classifications = ["public", "internal", "confidential", "secret"]   # lowest first; the default
//!
//! [server]
//! listen = "127.0.0.1:8080"
//! data_dir = "./fabrique-data"
//! # database_url = "postgres://fabrique@db/fabrique"
//! max_body_bytes = 4194304
//! request_timeout_secs = 600
//! max_connections = 10000
//! header_read_timeout_secs = 15
//! body_read_timeout_secs = 60
//! drain_timeout_secs = 30        # SIGTERM: /readyz 503, requests in flight finish within this
//! http2 = true                   # HTTP/2 with prior knowledge (h2c) beside HTTP/1.1, same port
//! http2_max_concurrent_streams = 1000
//! # metrics_token_env = "FABRIQUE_METRICS_TOKEN"   # then /metrics needs `Authorization: Bearer …`
//!
//! [routing]
//! max_attempts = 3
//! deadline_ms = 30000
//! first_byte_timeout_ms = 15000
//! connect_timeout_ms = 2000
//! circuit_failures = 5
//! circuit_open_ms = 10000
//! health_check_interval_ms = 5000
//!
//! [simulator]
//! embedded = true
//! ttft_ms = 20
//! tokens_per_second = 200.0
//! capacity = 16
//!
//! [[endpoints]]
//! name = "gpu-paris-1"
//! kind = "vllm"
//! url = "http://10.1.2.3:8000/v1"
//! api_key_env = "GPU_PARIS_KEY"
//! hosting = "on_premises"
//! clearance = "secret"
//! pool = "default"
//! capacity = 64
//! weight = 1
//! health_path = "/health"
//!
//! [[models]]
//! name = "mistral-large"
//! kind = "chat"
//! endpoints = ["gpu-paris-1"]
//! upstream_name = "mistralai/Mistral-Large-Instruct-2411"
//! fallbacks = ["mistral-small"]
//! input_price_per_million = 2.0
//! output_price_per_million = 6.0
//! context_length = 131072
//!
//! [[entities]]
//! slug = "retail-bank"
//! name = "Banque de détail"
//! models = ["mistral-large"]
//! classification = "internal"
//!
//! [entities.policy]
//! prompt_injection = "block"
//! [entities.policy.actions]
//! IBAN = "block"
//! [entities.retention]
//! mode = "full"
//! days = 30
//!
//! [[use_cases]]
//! slug = "kyc-review"
//! entity = "retail-bank"
//! [use_cases.policy.actions]
//! NIR = "flag"
//!
//! [policy]
//! personal_data_classification = "confidential"
//! blocked_terms = ["Projet Orion"]
//! [policy.actions]
//! IBAN = "pseudonymize"
//! EMAIL = "redact"
//! [policy.output]
//! CREDIT_CARD = "redact"
//!
//! [admission]
//! time_zone = "Europe/Paris"
//! default_completion_tokens = 1024
//!
//! [redis]
//! url_env = "FABRIQUE_REDIS_URL"
//! key_prefix = "fabrique"
//! replicas = 3
//!
//! [audit]
//! signing_key_file = "/etc/fabrique/audit.key"   # or signing_key_env = "FABRIQUE_AUDIT_KEY"
//! checkpoint_every_events = 1000
//! checkpoint_interval_secs = 300
//! publish_file = "/mnt/evidence/fabrique-checkpoints.jsonl"
//! witness_url = "https://witness.example.com/checkpoints"
//! witness_token_env = "FABRIQUE_WITNESS_TOKEN"
//!
//! [oidc]
//! issuer = "https://login.example.com/realms/group"
//! client_id = "fabrique"
//! client_secret_env = "FABRIQUE_OIDC_SECRET"
//! redirect_url = "https://fabrique.example.com/auth/callback"
//! user_name_claim = "preferred_username"
//! entity_claim = "entity"
//! roles_claim = "groups"
//! role_map = { "fabrique-admins" = "group_admin" }
//! jit_provisioning = true
//!
//! [seats]
//! pool = 40000
//! reclaim_after_days = 90
//!
//! [telemetry]
//! otlp_endpoint = "http://otel-collector:4318"   # or OTEL_EXPORTER_OTLP_ENDPOINT
//!
//! [retention]
//! mode = "metadata"
//! master_key_env = "FABRIQUE_MASTER_KEY"
//! content_key_dir = "/var/lib/fabrique-keys"    # content keys outside the database
//! raw_usage_days = 90                            # raw usage records kept; roll-ups stay
//! hourly_rollup_days = 400                       # hourly roll-ups kept; daily ones stay
//!
//! [authorization]
//! policies = "/etc/fabrique/policies.cedar"      # absent: the default policy set
//!
//! [batches]
//! file_contents = "database"                     # files' bytes in the store: every replica reads them
//! max_file_bytes = 536870912                     # the largest upload to /v1/files
//! entity_quota_bytes = 10737418240               # files an entity may keep
//! concurrency = 4                                # batch lines run at once per replica
//!
//! [cache]
//! models = ["mistral-embed"]                     # answers served again, per entity; off by default
//! ttl_secs = 300
//!
//! [libraries]
//! reranker = "bge-reranker"                      # a `rerank` model reorders library searches
//! ```
//!
//! ## Built-in endpoints and models
//! A file without any `[[endpoints]]` gets the built-in endpoint `simulator` (the embedded simulator,
//! which then needs `simulator.embedded = true`). A file without any `[[models]]` gets the built-in
//! models `mistral-small`, `mistral-large` (falling back to `mistral-small`), `mistral-embed` and
//! `codestral`, all served by the endpoint named `simulator`: either the built-in one or one the file
//! declares. So a file with only a `[server]` section still gives a working system.
//!
//! ## Top-level keys
//! - `classifications`: the data classification levels, lowest first. Default
//!   `["public", "internal", "confidential", "secret"]`. Names follow the endpoint-name rule
//!   (`[a-z0-9][a-z0-9_-]*`), are unique, and there are between 1 and 256 of them.
//!
//! ## How errors are found
//! The file is first read as TOML: a syntax error, or an unknown top-level key, stops everything and
//! is reported with its line and column (toml stops at the first such error). Then each section and
//! each `[[…]]` item is read on its own, so a wrong type, unknown key or missing key is reported for
//! every item that has one (the first per item), with its key path. Finally every rule (names,
//! references, ranges, URLs, credentials…) is checked on everything that could be read, and all
//! violations are reported.

//!
//! ## Where things are
//! One file per section under `section/`: the typed struct whose field docs are the user
//! documentation, the raw struct as written (serde, unknown keys refused), the section's defaults
//! and its `validate`. `read.rs` reads the file in two steps; `validate.rs` runs the sections in
//! order, each against the names it refers to; `rules.rs` and `names.rs` hold what sections share.
//! `policies.rs` lays a data policy written elsewhere (the admin API's, for a use case) over the
//! file's, says how one policy is softer than another, and which policy applies to a caller of an
//! entity naming a use case (`DataPolicies::effective`, for the gateway and the admin API alike).

mod error;
mod names;
mod policies;
mod read;
mod rules;
mod section;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

use domain::ClassificationLadder;

pub use error::{ConfigError, ConfigErrors};
pub use policies::{DataPolicies, Effective, PolicySource};
pub use section::admission::AdmissionConfig;
pub use section::audit::{AuditConfig, AuditKeySource, Witness};
pub use section::authorization::AuthorizationConfig;
pub use section::batches::{BatchesConfig, FileContents};
pub use section::cache::CacheConfig;
pub use section::endpoints::EndpointConfig;
pub use section::entities::EntitySeed;
pub use section::libraries::LibrariesConfig;
pub use section::models::{ModelConfig, Price};
pub use section::oidc::{JwtAlgorithm, MappedRole, OidcConfig, RoleScope, UserNameClaim};
pub use section::policy::{DataPolicy, PolicyConfig};
pub use section::redis::RedisConfig;
pub use section::retention::{MasterKeySource, Retention, RetentionConfig};
pub use section::routing::RoutingConfig;
pub use section::scheduling::{SchedulingConfig, ShareConfig};
pub use section::scim::{
    ENTERPRISE_ENTITY_ATTRIBUTES, ENTERPRISE_USER_SCHEMA, EntityFrom, ScimConfig,
};
pub use section::seats::SeatsConfig;
pub use section::server::ServerConfig;
pub use section::sessions::SessionsConfig;
pub use section::simulator::SimulatorConfig;
pub use section::telemetry::{OTLP_ENDPOINT_ENV, TelemetryConfig};
pub use section::use_cases::{UseCaseAllowed, UseCaseConfig, UseCasePolicy};

/// The whole configuration, validated: every name is unique, every reference resolved to an index.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub routing: RoutingConfig,
    pub simulator: SimulatorConfig,
    /// Key `classifications`: the ordered data levels, lowest first.
    pub classifications: ClassificationLadder,
    /// `[[endpoints]]`, in file order (or the built-in `simulator` endpoint).
    pub endpoints: Vec<EndpointConfig>,
    /// `[[models]]`, in file order (or the built-in models).
    pub models: Vec<ModelConfig>,
    /// `[[entities]]`, in file order.
    pub entities: Vec<EntitySeed>,
    /// `[[use_cases]]`, in file order: declared use cases' entities and data policies.
    pub use_cases: Vec<UseCaseConfig>,
    pub audit: AuditConfig,
    /// `[policy]`: what the gateway does about what it finds in requests.
    pub policy: PolicyConfig,
    /// `[admission]`: how rate limits and budgets count.
    pub admission: AdmissionConfig,
    pub scim: ScimConfig,
    /// `[oidc]`: sign-in with the group's identity provider; `None` when the section is absent.
    pub oidc: Option<OidcConfig>,
    /// `[seats]`: the seat pool's default size and when idle seats are reclaimed.
    pub seats: SeatsConfig,
    /// `[sessions]`: web sessions' timeouts, how long provider-granted roles hold, the cookie.
    pub sessions: SessionsConfig,
    /// `[telemetry]`: where traces go.
    pub telemetry: TelemetryConfig,
    /// `[scheduling]`: sharing each GPU pool between entities, and placing requests on endpoints.
    pub scheduling: SchedulingConfig,
    /// `[retention]`: what is kept of prompts and completions, and the key that encrypts it.
    pub retention: RetentionConfig,
    /// `[authorization]`: the policy set deciding admin requests.
    pub authorization: AuthorizationConfig,
    /// `[batches]`: uploaded files, each entity's quota, the batch runner.
    pub batches: BatchesConfig,
    /// `[cache]`: the response cache — what is cached, for how long, how much; off by default.
    pub cache: CacheConfig,
    /// `[libraries]`: the reranker of library searches; none by default.
    pub libraries: LibrariesConfig,
    /// `[redis]`: where replicas share rate limits and budgets; `None` (the section absent): this
    /// process counts alone, in memory.
    pub redis: Option<RedisConfig>,
}

impl Config {
    /// Parses and validates configuration text. `source` names it in error messages (usually the file
    /// name); `env` looks up the variables named by `api_key_env` (pass `&|name| std::env::var(name).ok()`
    /// for the process environment).
    pub fn from_toml(
        text: &str,
        source: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut errors = error::Collector::new(source);
        let Some(raw) = validate::read(text, &mut errors) else {
            return Err(errors.into_errors());
        };
        let config = validate::build(raw, env, &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors.into_errors())
        }
    }

    /// Reads and validates the file at `path`, resolving credentials from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let source = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Config::from_toml(&text, &source, &|name| std::env::var(name).ok()),
            Err(error) => {
                let mut errors = error::Collector::new(&source);
                errors.push("", format!("cannot read the configuration file: {error}"));
                Err(errors.into_errors())
            }
        }
    }

    /// What `fabrique serve` runs with no file: the embedded simulator as the only endpoint, serving
    /// the built-in models; no entities. Identical to parsing an empty file.
    pub fn embedded_default() -> Config {
        // An empty file raises no error (a unit test holds it to that); were one raised, the
        // placeholders built in its stead are the defaults too.
        let mut errors = error::Collector::new("the embedded default");
        validate::build(validate::RawConfig::empty(), &|_| None, &mut errors)
    }

    /// The model callers name `name`, with its index in [`Config::models`].
    pub fn model(&self, name: &str) -> Option<(usize, &ModelConfig)> {
        self.models
            .iter()
            .enumerate()
            .find(|(_, model)| model.name == name)
    }

    /// The endpoint named `name`, with its index in [`Config::endpoints`].
    pub fn endpoint(&self, name: &str) -> Option<(usize, &EndpointConfig)> {
        self.endpoints
            .iter()
            .enumerate()
            .find(|(_, endpoint)| endpoint.name == name)
    }
}
