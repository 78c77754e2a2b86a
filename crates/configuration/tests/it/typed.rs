//! Checks on the typed values that a snapshot shows but does not explain: indexes, defaults,
//! rounding, the embedded default, and loading from disk.

use std::path::Path;
use std::time::Duration;

use configuration::{Config, Price};
use domain::{Classification, EndpointKind, Hosting, ModelKind};

use crate::parse;

fn fixture(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

#[test]
fn the_full_example_types_correctly() {
    let text = std::fs::read_to_string(fixture("valid/full-example.toml")).expect("fixture");
    let config = parse(&text).expect("valid");

    let (large_index, large) = config.model("mistral-large").expect("declared");
    let (small_index, small) = config.model("mistral-small").expect("declared");
    assert_eq!((large_index, small_index), (0, 1));
    assert_eq!(large.kind, ModelKind::Chat);
    assert_eq!(large.fallbacks, vec![small_index]);
    assert_eq!(large.upstream_name, "mistralai/Mistral-Large-Instruct-2411");
    assert_eq!(
        small.upstream_name, "mistral-small",
        "defaults to the public name"
    );
    assert_eq!(
        large.price,
        Price {
            input_micros_per_million: 2_000_000,
            output_micros_per_million: 6_000_000
        }
    );
    assert_eq!(
        small.price,
        Price {
            input_micros_per_million: 200_000,
            output_micros_per_million: 600_000
        }
    );
    assert_eq!(large.context_length, Some(131_072));

    let (paris, endpoint) = config.endpoint("gpu-paris-1").expect("declared");
    let (managed, _) = config.endpoint("mistral-api").expect("declared");
    assert_eq!(large.endpoints, vec![paris]);
    assert_eq!(small.endpoints, vec![paris, managed]);
    assert_eq!(endpoint.kind, EndpointKind::Vllm);
    assert_eq!(endpoint.hosting, Hosting::OnPremises);
    assert_eq!(endpoint.clearance, config.classifications.highest());
    assert_eq!(
        endpoint.credential.as_deref(),
        Some("sk-fixture-secret-gpu-paris")
    );
    assert_eq!(config.endpoints[managed].clearance, Classification(1));
    assert_eq!(config.endpoints[managed].health_path, None);

    assert_eq!(
        config.routing.first_byte_timeout,
        Duration::from_millis(15_000)
    );
    assert_eq!(
        config.routing.health_check_interval,
        Some(Duration::from_secs(5))
    );
    assert_eq!(config.server.request_timeout, Duration::from_secs(600));
    assert_eq!(config.entities.len(), 2);
    assert_eq!(
        config.entities[0].models,
        Some(vec!["mistral-large".to_owned()])
    );
    assert_eq!(config.entities[1].models, None);
}

#[test]
fn an_empty_file_is_the_embedded_default() {
    assert_eq!(parse("").expect("valid"), Config::embedded_default());
}

#[test]
fn the_embedded_default_serves_the_builtin_models_on_the_simulator() {
    let config = Config::embedded_default();
    assert!(config.simulator.embedded);
    assert_eq!(config.simulator.ttft, Duration::from_millis(20));
    assert_eq!(config.simulator.capacity, 16);
    assert_eq!(config.endpoints.len(), 1);
    let simulator = &config.endpoints[0];
    assert_eq!(
        (
            simulator.name.as_str(),
            simulator.kind,
            simulator.url.as_deref()
        ),
        ("simulator", EndpointKind::Simulator, None)
    );
    assert_eq!(simulator.clearance, config.classifications.highest());
    assert_eq!(
        (
            simulator.capacity,
            simulator.weight,
            simulator.pool.as_str()
        ),
        (16, 1, "default")
    );
    let kinds: Vec<(&str, ModelKind)> = config
        .models
        .iter()
        .map(|m| (m.name.as_str(), m.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("mistral-small", ModelKind::Chat),
            ("mistral-large", ModelKind::Chat),
            ("mistral-embed", ModelKind::Embeddings),
            ("codestral", ModelKind::Fim),
        ]
    );
    let (small, _) = config.model("mistral-small").expect("built in");
    assert_eq!(
        config.model("mistral-large").expect("built in").1.fallbacks,
        vec![small]
    );
    assert!(config.models.iter().all(|m| m.endpoints == vec![0]));
    assert!(config.entities.is_empty());
}

#[test]
fn errors_are_one_per_line_with_file_and_key() {
    let errors =
        parse("[routing]\nmax_attempts = 0\n[simulator]\ncapacity = 0\n").expect_err("invalid");
    assert_eq!(errors.0.len(), 2);
    assert_eq!(errors.0[0].key, "routing.max_attempts");
    assert_eq!(
        errors.to_string(),
        "test.toml: routing.max_attempts: must be between 1 and 10, found 0\n\
         test.toml: simulator.capacity: must be at least 1"
    );
}

#[test]
fn the_listener_limits_have_defaults_and_bounds() {
    let config = parse("").expect("valid");
    assert_eq!(config.server.max_connections, 10_000);
    assert_eq!(config.server.header_read_timeout, Duration::from_secs(15));
    assert_eq!(config.server.body_read_timeout, Duration::from_secs(60));

    let text = "[server]\nmax_connections = 64\nheader_read_timeout_secs = 5\nbody_read_timeout_secs = 30\n";
    let config = parse(text).expect("valid");
    assert_eq!(
        (
            config.server.max_connections,
            config.server.header_read_timeout,
            config.server.body_read_timeout
        ),
        (64, Duration::from_secs(5), Duration::from_secs(30))
    );

    let text = "[server]\nmax_connections = 0\nheader_read_timeout_secs = 0\nbody_read_timeout_secs = 100000\n";
    assert_eq!(
        parse(text).expect_err("invalid").to_string(),
        "test.toml: server.max_connections: must be at least 1\n\
         test.toml: server.header_read_timeout_secs: must be at least 1\n\
         test.toml: server.body_read_timeout_secs: must be at most 86400 (a day), found 100000"
    );
    let errors = parse("[server]\nmax_connections = 2000000\n").expect_err("invalid");
    assert_eq!(
        errors.to_string(),
        "test.toml: server.max_connections: must be at most 1000000, found 2000000"
    );
}

#[test]
fn load_reads_the_file_and_names_it_in_errors() {
    let path = fixture("valid/server-only.toml");
    let config = Config::load(&path).expect("valid");
    assert_eq!(config.server.listen.port(), 9000);

    let missing = fixture("does-not-exist.toml");
    let errors = Config::load(&missing).expect_err("missing file");
    let text = errors.to_string();
    assert!(
        text.starts_with(&format!(
            "{}: cannot read the configuration file",
            missing.display()
        )),
        "{text}"
    );
}

#[test]
fn the_otlp_endpoint_comes_from_the_file_or_else_the_standard_variable() {
    let from_env = |name: &str| {
        (name == configuration::OTLP_ENDPOINT_ENV).then(|| "http://collector:4318/".to_owned())
    };
    let config = Config::from_toml("", "test.toml", &from_env).expect("valid");
    assert_eq!(
        config.telemetry.otlp_traces_url().as_deref(),
        Some("http://collector:4318/v1/traces")
    );
    let text = "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\n";
    let config = Config::from_toml(text, "test.toml", &from_env).expect("valid");
    assert_eq!(
        config.telemetry.otlp_endpoint.as_deref(),
        Some("http://127.0.0.1:4318")
    );
    let config = parse("").expect("valid");
    assert_eq!(config.telemetry.otlp_traces_url(), None);
    let errors = Config::from_toml("", "test.toml", &|_| Some("collector".to_owned()))
        .expect_err("a bad variable is refused");
    assert!(
        errors.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{errors}"
    );
}
