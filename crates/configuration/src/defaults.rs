//! Default values of every key, and the built-in endpoint and models used when the file declares
//! none. Kept in one place so the documentation in `lib.rs` has one source to agree with.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use domain::{ClassificationLadder, EndpointKind, Hosting, ModelKind};

use crate::{
    AuditConfig, AuditKeySource, Config, EndpointConfig, ModelConfig, Price, RoutingConfig,
    ServerConfig, SimulatorConfig,
};

pub(crate) const LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
pub(crate) const DATA_DIR: &str = "./fabrique-data";
pub(crate) const ADMISSION_TIME_ZONE: &str = "UTC";
pub(crate) const ADMISSION_DEFAULT_COMPLETION_TOKENS: u64 = 1024;
pub(crate) const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
pub(crate) const REQUEST_TIMEOUT_SECS: u64 = 600;
pub(crate) const MAX_CONNECTIONS: u64 = 10_000;
/// `max_connections` ceiling: the listener waits for that many connections at shutdown in one call.
pub(crate) const MAX_CONNECTIONS_CEILING: u64 = 1_000_000;
pub(crate) const HEADER_READ_TIMEOUT_SECS: u64 = 15;
pub(crate) const BODY_READ_TIMEOUT_SECS: u64 = 60;
pub(crate) const SECONDS_PER_DAY: u64 = 86_400;

pub(crate) const MAX_ATTEMPTS: u32 = 3;
/// `max_attempts` bounds: more than ten attempts only lengthens the wait for a failure.
pub(crate) const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u32> = 1..=10;
pub(crate) const DEADLINE_MS: u64 = 30_000;
pub(crate) const FIRST_BYTE_TIMEOUT_MS: u64 = 15_000;
pub(crate) const CONNECT_TIMEOUT_MS: u64 = 2_000;
pub(crate) const CIRCUIT_FAILURES: u32 = 5;
pub(crate) const CIRCUIT_OPEN_MS: u64 = 10_000;
pub(crate) const HEALTH_CHECK_INTERVAL_MS: u64 = 5_000;

pub(crate) const SIMULATOR_EMBEDDED: bool = true;
pub(crate) const SIMULATOR_TTFT_MS: u64 = 20;
pub(crate) const SIMULATOR_TOKENS_PER_SECOND: f64 = 200.0;
pub(crate) const SIMULATOR_CAPACITY: u64 = 16;

pub(crate) const CHECKPOINT_EVERY_EVENTS: u64 = 1_000;
pub(crate) const CHECKPOINT_INTERVAL_SECS: u64 = 300;

pub(crate) const POOL: &str = "default";
pub(crate) const ENDPOINT_CAPACITY: u32 = 32;
pub(crate) const ENDPOINT_WEIGHT: u32 = 1;

/// The name of the built-in endpoint, which the built-in models are served by.
pub(crate) const BUILTIN_ENDPOINT: &str = "simulator";

/// The health path used when `health_path` is absent: the servers that have a dedicated one, or
/// `None` for those that do not (health is then checked with `GET {url}/models`).
pub(crate) fn health_path(kind: EndpointKind) -> Option<String> {
    match kind {
        EndpointKind::Vllm
        | EndpointKind::Tgi
        | EndpointKind::MistralRs
        | EndpointKind::LlamaCpp
        | EndpointKind::Simulator => Some("/health".to_owned()),
        EndpointKind::Openai | EndpointKind::Ollama | EndpointKind::Mistral => None,
    }
}

pub(crate) fn server() -> ServerConfig {
    ServerConfig {
        listen: LISTEN,
        data_dir: PathBuf::from(DATA_DIR),
        database_url: None,
        max_body_bytes: MAX_BODY_BYTES as usize,
        request_timeout: Duration::from_secs(REQUEST_TIMEOUT_SECS),
        max_connections: MAX_CONNECTIONS as usize,
        header_read_timeout: Duration::from_secs(HEADER_READ_TIMEOUT_SECS),
        body_read_timeout: Duration::from_secs(BODY_READ_TIMEOUT_SECS),
    }
}

pub(crate) fn routing() -> RoutingConfig {
    RoutingConfig {
        max_attempts: MAX_ATTEMPTS,
        deadline: Duration::from_millis(DEADLINE_MS),
        first_byte_timeout: Duration::from_millis(FIRST_BYTE_TIMEOUT_MS),
        connect_timeout: Duration::from_millis(CONNECT_TIMEOUT_MS),
        circuit_failures: CIRCUIT_FAILURES,
        circuit_open: Duration::from_millis(CIRCUIT_OPEN_MS),
        health_check_interval: Some(Duration::from_millis(HEALTH_CHECK_INTERVAL_MS)),
    }
}

pub(crate) fn simulator() -> SimulatorConfig {
    SimulatorConfig {
        embedded: SIMULATOR_EMBEDDED,
        ttft: Duration::from_millis(SIMULATOR_TTFT_MS),
        tokens_per_second: SIMULATOR_TOKENS_PER_SECOND,
        capacity: SIMULATOR_CAPACITY as usize,
    }
}

pub(crate) fn audit() -> AuditConfig {
    AuditConfig {
        signing_key: AuditKeySource::Generated,
        checkpoint_every_events: CHECKPOINT_EVERY_EVENTS,
        checkpoint_interval: Duration::from_secs(CHECKPOINT_INTERVAL_SECS),
    }
}

/// The built-in endpoint: the embedded simulator, cleared for every level since its data never
/// leaves the process.
pub(crate) fn builtin_endpoint(
    simulator: &SimulatorConfig,
    ladder: &ClassificationLadder,
) -> EndpointConfig {
    EndpointConfig {
        name: BUILTIN_ENDPOINT.to_owned(),
        kind: EndpointKind::Simulator,
        url: None,
        credential: None,
        hosting: Hosting::OnPremises,
        clearance: ladder.highest(),
        pool: POOL.to_owned(),
        capacity: u32::try_from(simulator.capacity).unwrap_or(u32::MAX),
        weight: ENDPOINT_WEIGHT,
        health_path: health_path(EndpointKind::Simulator),
    }
}

/// The built-in models, all served by the endpoint at `endpoint`. Prices are plausible internal
/// prices per million tokens, in the spirit of the public Mistral list prices.
pub(crate) fn builtin_models(endpoint: usize) -> Vec<ModelConfig> {
    let model =
        |name: &str, kind, fallbacks: Vec<usize>, input, output, context_length| ModelConfig {
            name: name.to_owned(),
            kind,
            endpoints: vec![endpoint],
            upstream_name: name.to_owned(),
            fallbacks,
            price: Price {
                input_micros_per_million: input,
                output_micros_per_million: output,
            },
            context_length: Some(context_length),
        };
    // Indexes below follow this order: mistral-large falls back to mistral-small at index 0.
    vec![
        model(
            "mistral-small",
            ModelKind::Chat,
            vec![],
            200_000,
            600_000,
            32_768,
        ),
        model(
            "mistral-large",
            ModelKind::Chat,
            vec![0],
            2_000_000,
            6_000_000,
            131_072,
        ),
        model(
            "mistral-embed",
            ModelKind::Embeddings,
            vec![],
            100_000,
            0,
            8_192,
        ),
        model(
            "codestral",
            ModelKind::Fim,
            vec![],
            300_000,
            900_000,
            32_768,
        ),
    ]
}

/// `[seats] reclaim_after_days`: a quarter without use.
pub(crate) const SEATS_RECLAIM_AFTER_DAYS: u64 = 90;

pub(crate) fn embedded_default() -> Config {
    let simulator = simulator();
    let classifications = ClassificationLadder::default();
    let endpoints = vec![builtin_endpoint(&simulator, &classifications)];
    Config {
        server: server(),
        routing: routing(),
        simulator,
        classifications,
        endpoints,
        models: builtin_models(0),
        entities: Vec::new(),
        use_cases: Vec::new(),
        policy: crate::PolicyConfig::default(),
        admission: crate::AdmissionConfig {
            time_zone: ADMISSION_TIME_ZONE.to_owned(),
            default_completion_tokens: ADMISSION_DEFAULT_COMPLETION_TOKENS,
        },
        audit: audit(),
        scim: crate::ScimConfig::default(),
        oidc: None,
        seats: crate::SeatsConfig {
            pool: None,
            reclaim_after: std::time::Duration::from_secs(SEATS_RECLAIM_AFTER_DAYS * 86_400),
        },
        telemetry: crate::TelemetryConfig::default(),
        scheduling: crate::SchedulingConfig::default(),
        retention: crate::RetentionConfig::default(),
        authorization: crate::AuthorizationConfig::default(),
    }
}
