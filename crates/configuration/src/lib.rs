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
//! default and rules of each key are documented on the field it becomes (see [`ServerConfig`],
//! [`RoutingConfig`], [`SimulatorConfig`], [`EndpointConfig`], [`ModelConfig`], [`EntitySeed`],
//! [`AuditConfig`], [`OidcConfig`], [`SeatsConfig`], [`TelemetryConfig`], [`SchedulingConfig`],
//! [`RetentionConfig`], [`AuthorizationConfig`]).
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
//! [audit]
//! signing_key_file = "/etc/fabrique/audit.key"   # or signing_key_env = "FABRIQUE_AUDIT_KEY"
//! checkpoint_every_events = 1000
//! checkpoint_interval_secs = 300
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
//!
//! [authorization]
//! policies = "/etc/fabrique/policies.cedar"      # absent: the default policy set
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

mod data_policy;
mod defaults;
mod error;
mod oidc;
mod raw;
mod retention;
mod scheduling;
mod use_cases;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::{Classification, ClassificationLadder, EndpointKind, Hosting, ModelKind};

pub use error::{ConfigError, ConfigErrors};
pub use oidc::{JwtAlgorithm, MappedRole, OidcConfig, RoleScope, UserNameClaim};
pub use retention::{MasterKeySource, Retention, RetentionConfig};
pub use scheduling::{SchedulingConfig, ShareConfig};
pub use use_cases::{UseCaseConfig, UseCasePolicy};

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
    /// `[telemetry]`: where traces go.
    pub telemetry: TelemetryConfig,
    /// `[scheduling]`: sharing each GPU pool between entities, and placing requests on endpoints.
    pub scheduling: SchedulingConfig,
    /// `[retention]`: what is kept of prompts and completions, and the key that encrypts it.
    pub retention: RetentionConfig,
    /// `[authorization]`: the policy set deciding admin requests.
    pub authorization: AuthorizationConfig,
}

/// Section `[seats]`: seat licensing. The pool and the entities' reserved seats are set at run time
/// through the admin API (`/admin/v1/seats/…`) and kept in the store; this section gives the
/// starting point.
///
/// ```toml
/// [seats]
/// pool = 40000
/// reclaim_after_days = 90
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatsConfig {
    /// Key `pool`: the group's number of seats until a group administrator sets it through
    /// `PUT /admin/v1/seats/pool` (the stored value then wins, across restarts). Absent: unlimited,
    /// so a fresh install works without licensing set up; every user still gets (and is reported
    /// with) a seat.
    pub pool: Option<u64>,
    /// Key `reclaim_after_days`: a seat whose holder made no authenticated request for this many
    /// days (counted from the assignment when never used) is reclaimed by a background job that
    /// runs hourly; the user gets a seat again on their next request if one is free. At least 1.
    /// Default 90.
    pub reclaim_after: Duration,
}

/// The SCIM schema URN of the enterprise user extension.
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The enterprise-extension attributes `scim.entity_from` may name.
pub const ENTERPRISE_ENTITY_ATTRIBUTES: &[&str] =
    &["organization", "division", "department", "costCenter"];

/// Section `[scim]`: how users provisioned over SCIM (`/scim/v2`) are placed in entities.
///
/// ```toml
/// [scim]
/// entity_from = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization"
///
/// [scim.entity_map]
/// "Banque Régionale" = "banque-regionale"
/// "Assurances" = "assurances"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScimConfig {
    /// Key `entity_from`: where a provisioned user's entity comes from. `"token"` (the default): the
    /// entity the SCIM token is bound to. Or an enterprise-extension attribute,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:<attribute>` with `<attribute>`
    /// one of `organization`, `division`, `department`, `costCenter`: its value is looked up in
    /// `entity_map`; a user without the attribute falls back to the token's entity, and a value
    /// missing from the map is refused (SCIM `400 invalidValue` naming it).
    pub entity_from: EntityFrom,
    /// Table `entity_map`: attribute value (exact text) → entity slug. Required, and only allowed,
    /// when `entity_from` names an attribute. Slugs follow the entity slug rule; whether the entity
    /// exists is checked when a user is provisioned, since entities are also created at run time.
    pub entity_map: std::collections::BTreeMap<String, String>,
}

/// Where a provisioned user's entity comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EntityFrom {
    #[default]
    Token,
    /// The enterprise-extension attribute of this name, through `entity_map`.
    EnterpriseAttribute(String),
}

/// Section `[admission]`. The limits and budgets themselves are set through the admin API
/// (`/admin/v1/limits`, `/admin/v1/budgets`) and kept in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Key `time_zone`: the IANA time zone in which daily and monthly budgets reset at midnight,
    /// usage reports cut their hour, day and month buckets, and chargeback months begin.
    /// Default `UTC`.
    pub time_zone: String,
    /// Key `default_completion_tokens`: the completion length admission reserves for a request that
    /// sets no `max_tokens`, at least 1. Default 1024. Settlement corrects it with the real count.
    pub default_completion_tokens: u64,
}

/// Section `[authorization]`: who may do what on the admin API.
///
/// ```toml
/// [authorization]
/// policies = "/etc/fabrique/policies.cedar"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationConfig {
    /// Key `policies`: a file of Cedar policies replacing the default set shipped with Fabrique
    /// (docs/authorization.md). It is read and validated against Fabrique's schema when the server
    /// starts; the server refuses to start on any error, listing each with its line. Absent: the
    /// default set.
    pub policies: Option<PathBuf>,
}

/// The standard OpenTelemetry variable read when `telemetry.otlp_endpoint` is not set.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Section `[telemetry]`: OpenTelemetry traces of the request path. Prometheus metrics need no
/// configuration (`GET /metrics`).
///
/// ```toml
/// [telemetry]
/// otlp_endpoint = "http://otel-collector:4318"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// Key `otlp_endpoint`: the base URL of an OpenTelemetry collector's OTLP/HTTP receiver (port
    /// 4318 by convention); spans are sent, protobuf-encoded, to `{otlp_endpoint}/v1/traces`. When
    /// absent, the environment variable `OTEL_EXPORTER_OTLP_ENDPOINT` is used the same way; when
    /// neither is set, no trace is exported and the request path's spans cost nothing. A trace holds
    /// one span per request with a child span per stage, and GenAI attributes (operation, models,
    /// token counts, provider, server address) — never the content of prompts or answers.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Where spans are posted, when traces are exported.
    pub fn otlp_traces_url(&self) -> Option<String> {
        self.otlp_endpoint
            .as_ref()
            .map(|endpoint| format!("{endpoint}/v1/traces"))
    }
}

/// Section `[policy]`: group-wide data-protection rules applied on the request path.
///
/// ```toml
/// [policy]
/// personal_data_classification = "confidential"
/// blocked_terms = ["Projet Orion"]
/// blocked_terms_action = "block"
/// prompt_injection = "flag"
///
/// [policy.actions]
/// IBAN = "pseudonymize"
/// EMAIL = "redact"
/// NIR = "block"
///
/// [policy.output]
/// CREDIT_CARD = "redact"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Key `personal_data_classification`: a level of `classifications`. A request whose input holds
    /// personal data (any type `fabrique policy scan` detects) is classified at least this high, so
    /// it only reaches endpoints cleared for it. Default: none (detection does not raise the level).
    pub personal_data_classification: Option<Classification>,
    /// Every other key of `[policy]`: the group's data policy, which applies to callers of entities
    /// without `[entities.policy]` and gives the keys such an entity does not set.
    pub group: DataPolicy,
}

/// A data policy: what the gateway does about personal data, blocked terms and suspected prompt
/// injection in what it relays. In `[policy]` for the group, in `[entities.policy]` for an entity;
/// an entity's key replaces the group's key of the same name as a whole (an entity's `actions` table
/// is the entity's whole table), keys it does not give are the group's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPolicy {
    /// Table `actions`: personal-data type → action on a request's input. Types are the names of
    /// `fabrique policy scan` (`EMAIL`, `PHONE_FR`, `IBAN`, `NIR`, `SIREN`, `SIRET`,
    /// `CREDIT_CARD`, `IPV4`, `IPV6`); actions are `redact` (the value becomes `[REDACTED_IBAN]`),
    /// `pseudonymize` (it becomes `[IBAN_1]` for the model, and the caller's answer gets the value
    /// back, streaming included), `block` (400 `personal_data_blocked`, naming the types found) or
    /// `flag` (passed unchanged, audited as `policy.flagged` with types and counts). A type not
    /// listed passes unchanged. Default: empty.
    pub actions: policy::ActionTable<policy::InputAction>,
    /// Table `output`: personal-data type → action on completions, `redact` or `flag`, streamed
    /// answers included. Values the request itself pseudonymized are the caller's own and are put
    /// back after this check, so they are never redacted. Default: empty.
    pub output: policy::ActionTable<policy::OutputAction>,
    /// Key `blocked_terms`: words or phrases (case-insensitive, whole words) that must not reach a
    /// model; none blank. Default: none.
    pub blocked_terms: Vec<String>,
    /// Key `blocked_terms_action`: `block` (400 `blocked_term`, naming the term) or `flag`
    /// (audited as `policy.flagged`). Default `block`.
    pub blocked_terms_action: policy::ContentAction,
    /// Key `prompt_injection`: the prompt-injection heuristic (a few phrases such as "ignore
    /// previous instructions", "you are now…", requests for the system prompt), `block` (400
    /// `prompt_injection_suspected`) or `flag`. Default: off (`None`).
    pub prompt_injection: Option<policy::ContentAction>,
    /// Key `trace_content`: `true` lets the request's root span carry its input as it was sent to
    /// the model (after redaction and pseudonymization), as `gen_ai.input.messages` (chat), or the
    /// embedding input or FIM prompt — for an entity that wants its prompts in its traces. Only
    /// when traces are exported (`[telemetry]`). Default `false`: no prompt content in traces.
    pub trace_content: bool,
}

impl Default for DataPolicy {
    fn default() -> Self {
        DataPolicy {
            actions: policy::ActionTable::default(),
            output: policy::ActionTable::default(),
            blocked_terms: Vec::new(),
            blocked_terms_action: policy::ContentAction::Block,
            prompt_injection: None,
            trace_content: false,
        }
    }
}

/// Section `[server]`: how Fabrique listens and where it keeps its data.
#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    /// Key `listen`: the socket address to serve on, as `ip:port` (`[::1]:8080` for IPv6; host names
    /// are not accepted). Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Key `data_dir`: the directory for local state; the SQLite database lives here unless
    /// `database_url` says otherwise. Default `./fabrique-data`. Must not be empty.
    pub data_dir: PathBuf,
    /// Key `database_url`: optional; a `postgres://`, `postgresql://` or `sqlite:` URL. Default: a
    /// SQLite file under `data_dir`.
    pub database_url: Option<String>,
    /// Key `max_body_bytes`: the largest request body accepted, in bytes, at least 1. Default 4 MiB
    /// (4194304).
    pub max_body_bytes: usize,
    /// Key `request_timeout_secs`: the total time one inference request may take, streaming included,
    /// in seconds, at least 1. Default 600.
    pub request_timeout: Duration,
    /// Key `max_connections`: the most client connections served at once, 1 to 1,000,000. Default
    /// 10000. Past it the listener stops accepting: new connections wait in the kernel's backlog
    /// until one closes, so a flood of sockets cannot exhaust file descriptors or tasks. The
    /// process's open-file limit (`ulimit -n`, systemd `LimitNOFILE`) must be above it, with room
    /// for the database and backend connections.
    pub max_connections: usize,
    /// Key `header_read_timeout_secs`: how long a connection may go without sending a complete
    /// request head, in seconds, 1 to 86400. Default 15. It runs from the moment the connection
    /// opens and again from the end of each response, so it is also the idle timeout of keep-alive
    /// connections: a client that trickles header bytes (slowloris) or keeps a socket open without
    /// asking anything is disconnected when it runs out. Keep clients' pooled-connection expiry
    /// below it.
    pub header_read_timeout: Duration,
    /// Key `body_read_timeout_secs`: the time a request body has to arrive whole, counted from the
    /// end of its head, in seconds, 1 to 86400. Default 60. A body still incomplete then is answered
    /// `408 request_timeout` and its connection closed, so slow bodies cannot pin memory.
    pub body_read_timeout: Duration,
}

/// Section `[routing]`: how a request finds a backend, retries and avoids failing ones.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingConfig {
    /// Key `max_attempts`: how many endpoints are tried for one request, counting the endpoints of
    /// fallback models too; 1 to 10. Default 3.
    pub max_attempts: u32,
    /// Key `deadline_ms`: the total time allowed to get the first byte from some backend, across all
    /// attempts, in milliseconds, at least 1. Default 30000.
    pub deadline: Duration,
    /// Key `first_byte_timeout_ms`: per attempt, the time allowed until response headers, in
    /// milliseconds, at least 1. Default 15000.
    pub first_byte_timeout: Duration,
    /// Key `connect_timeout_ms`: per attempt, the time allowed to open the connection, in
    /// milliseconds, at least 1. Default 2000.
    pub connect_timeout: Duration,
    /// Key `circuit_failures`: consecutive failures that open an endpoint's circuit, at least 1.
    /// Default 5.
    pub circuit_failures: u32,
    /// Key `circuit_open_ms`: how long a circuit stays open before one half-open probe request, in
    /// milliseconds, at least 1. Default 10000.
    pub circuit_open: Duration,
    /// Key `health_check_interval_ms`: the period of active health checks, in milliseconds; `0`
    /// disables them (`None`). Default 5000.
    pub health_check_interval: Option<Duration>,
}

/// Section `[simulator]`: Fabrique's in-process GPU-backend simulator, for trials and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// Key `embedded`: start the simulator in-process; endpoints of kind `simulator` without a `url`
    /// are served by it. Default `true`.
    pub embedded: bool,
    /// Key `ttft_ms`: simulated time to first token, in milliseconds. Default 20.
    pub ttft: Duration,
    /// Key `tokens_per_second`: simulated decoding speed per sequence; finite and above 0.
    /// Default 200.0.
    pub tokens_per_second: f64,
    /// Key `capacity`: sequences the simulated GPU decodes at once, at least 1. Default 16. Also the
    /// capacity of the built-in `simulator` endpoint.
    pub capacity: usize,
}

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

/// One `[[endpoints]]` item: an inference server speaking the OpenAI-compatible protocol.
#[derive(Clone, PartialEq)]
pub struct EndpointConfig {
    /// Key `name`: required, unique, `[a-z0-9][a-z0-9_-]*`. Appears in metrics, usage and audit.
    pub name: String,
    /// Key `kind`: required; `openai`, `vllm`, `tgi`, `mistral_rs`, `llama_cpp`, `ollama`, `mistral`
    /// or `simulator`.
    pub kind: EndpointKind,
    /// Key `url`: the base URL including the `/v1` prefix (e.g. `http://10.1.2.3:8000/v1`), `http` or
    /// `https`; a trailing `/` is removed. Required, except for kind `simulator` when
    /// `simulator.embedded = true`: then an absent `url` (`None`) means the embedded simulator.
    pub url: Option<String>,
    /// Key `api_key_env`: optional, the *name* of an environment variable holding the bearer
    /// credential sent to the endpoint (never the credential itself, which does not belong in a file).
    /// The variable must be set when the configuration is loaded. Here: the resolved value, which
    /// `Debug` redacts.
    pub credential: Option<String>,
    /// Key `hosting`: required; `on_premises`, `sovereign_cloud`, `eu_cloud` or `non_eu_cloud`.
    pub hosting: Hosting,
    /// Key `clearance`: required; the highest classification level (one of `classifications`) this
    /// endpoint may receive.
    pub clearance: Classification,
    /// Key `pool`: the GPU pool the endpoint belongs to, `[a-z0-9][a-z0-9_-]*`. Default `default`.
    pub pool: String,
    /// Key `capacity`: concurrent sequences the endpoint serves, at least 1. Default 32.
    pub capacity: u32,
    /// Key `weight`: relative share of traffic for load balancing, at least 1. Default 1.
    pub weight: u32,
    /// Key `health_path`: optional, a path starting with `/`, relative to the URL's origin (not to the
    /// `/v1` prefix). Default `/health` for `vllm`, `tgi`, `mistral_rs`, `llama_cpp` and `simulator`;
    /// none otherwise, meaning health is checked with `GET {url}/models`.
    pub health_path: Option<String>,
}

/// One `[[models]]` item: a public model name and what serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Key `name`: required, unique; the public name callers put in `model`. No whitespace.
    pub name: String,
    /// Key `kind`: required; `chat`, `embeddings` or `fim` (fill-in-the-middle).
    pub kind: ModelKind,
    /// Key `endpoints`: required, at least one endpoint name, each declared, none twice. Here:
    /// indexes into [`Config::endpoints`].
    pub endpoints: Vec<usize>,
    /// Key `upstream_name`: the name the backends know the model by. Default: `name`.
    pub upstream_name: String,
    /// Key `fallbacks`: optional model names tried in order when every endpoint of this model failed.
    /// Each must be declared, of the same kind, not this model, and fallbacks must not form a cycle.
    /// Here: indexes into [`Config::models`].
    pub fallbacks: Vec<usize>,
    /// Keys `input_price_per_million` and `output_price_per_million`.
    pub price: Price,
    /// Key `context_length`: optional, the model's context window in tokens, at least 1.
    pub context_length: Option<u32>,
}

/// A model's internal price, derived from the GPU cost, in the group's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    /// Key `input_price_per_million`: price per million input tokens, a finite number ≥ 0, default 0.
    /// Here: in millionths of the currency unit, rounded (2.0 → 2_000_000).
    pub input_micros_per_million: u64,
    /// Key `output_price_per_million`: the same for output tokens.
    pub output_micros_per_million: u64,
}

/// One `[[entities]]` item: an entity created at start when no entity has this slug yet. Existing
/// entities are never modified from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitySeed {
    /// Key `slug`: required, unique, `[a-z0-9][a-z0-9-]*`.
    pub slug: String,
    /// Key `name`: required, the display name; not blank.
    pub name: String,
    /// Key `models`: optional, the models this entity may use, each declared. Default (`None`): all.
    pub models: Option<Vec<String>>,
    /// Key `classification`: optional, a level of `classifications`: the least classification of
    /// every request from this entity. Default (`None`): the lowest level.
    pub classification: Option<Classification>,
    /// Table `policy` (`[entities.policy]`): the entity's data policy, with the same keys as
    /// `[policy]` apart from `personal_data_classification`. Here: already merged with the group's
    /// (see [`DataPolicy`]); `None` when the entity gives none, so the group's applies.
    pub policy: Option<DataPolicy>,
    /// Table `retention` (`[entities.retention]`): keys `mode` and `days`, as in `[retention]`
    /// (see [`Retention`]). `None`: the group's default.
    pub retention: Option<Retention>,
}

impl Config {
    /// The retention of the entity with this slug: its own, else the group's default.
    pub fn retention_of(&self, entity_slug: Option<&str>) -> Retention {
        entity_slug
            .and_then(|slug| self.entities.iter().find(|seed| seed.slug == slug))
            .and_then(|seed| seed.retention)
            .unwrap_or(self.retention.default)
    }

    /// Parses and validates configuration text. `source` names it in error messages (usually the file
    /// name); `env` looks up the variables named by `api_key_env` (pass `&|name| std::env::var(name).ok()`
    /// for the process environment).
    pub fn from_toml(
        text: &str,
        source: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut errors = error::Collector::new(source);
        let Some(raw) = raw::read(text, &mut errors) else {
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
        defaults::embedded_default()
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

impl fmt::Debug for EndpointConfig {
    /// Written by hand so that the credential never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .field("hosting", &self.hosting)
            .field("clearance", &self.clearance)
            .field("pool", &self.pool)
            .field("capacity", &self.capacity)
            .field("weight", &self.weight)
            .field("health_path", &self.health_path)
            .finish()
    }
}

impl fmt::Debug for ServerConfig {
    /// Written by hand so that a password in `database_url` never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_user_info),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("max_connections", &self.max_connections)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://<redacted>@host/db`.
fn redact_user_info(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<redacted>{}", &rest[at..]),
        None => url.to_owned(),
    }
}
