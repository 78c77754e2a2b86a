//! Unit tests of what the fixture-driven integration tests cannot see: redaction in `Debug`, and
//! an embedded default that needs no file, the configuration the deployment manifests ship.

use crate::Config;

#[test]
fn debug_of_an_endpoint_does_not_show_its_credential() {
    let text = r#"
        [[endpoints]]
        name = "gpu-paris-1"
        kind = "vllm"
        url = "http://10.1.2.3:8000/v1"
        api_key_env = "GPU_PARIS_KEY"
        hosting = "on_premises"
        clearance = "secret"

        [[models]]
        name = "mistral-large"
        kind = "chat"
        endpoints = ["gpu-paris-1"]
    "#;
    let secret = "sk-very-secret-value";
    let env = |name: &str| (name == "GPU_PARIS_KEY").then(|| secret.to_owned());
    let config = match Config::from_toml(text, "test.toml", &env) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let endpoint = &config.endpoints[0];
    assert_eq!(endpoint.credential.as_deref(), Some(secret));
    let debug = format!("{endpoint:?} {endpoint:#?} {config:?}");
    assert!(!debug.contains(secret), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

#[test]
fn debug_of_the_server_does_not_show_a_database_password() {
    let text = "[server]\ndatabase_url = \"postgres://fabrique:hunter2@db/fabrique\"\n";
    let config = Config::from_toml(text, "test.toml", &|_| None).expect("valid");
    let debug = format!("{:?}", config.server);
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(
        debug.contains("postgres://<redacted>@db/fabrique"),
        "{debug}"
    );
    assert_eq!(
        config.server.database_url.as_deref(),
        Some("postgres://fabrique:hunter2@db/fabrique")
    );
}

#[test]
fn the_embedded_default_raises_no_error() {
    let mut errors = crate::error::Collector::new("the embedded default");
    let config =
        crate::validate::build(crate::validate::RawConfig::empty(), &|_| None, &mut errors);
    assert!(errors.is_empty(), "{}", errors.into_errors());
    assert_eq!(config, Config::embedded_default());
}

/// The configuration the Kubernetes manifests ship validates, with the variables its Secrets
/// fill; the drain fits in the pod's grace period.
#[test]
fn the_deployments_configuration_validates() {
    let text = include_str!("../../../deploy/base/fabrique.toml");
    let env = |name: &str| match name {
        "FABRIQUE_AUDIT_SIGNING_KEY" => Some("11".repeat(32)),
        "FABRIQUE_REDIS_URL" => Some("redis://redis:6379".to_owned()),
        "FABRIQUE_METRICS_TOKEN" => Some("a-secret-value".to_owned()),
        _ => None,
    };
    let config = match Config::from_toml(text, "deploy/base/fabrique.toml", &env) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    assert!(config.server.drain_timeout.as_secs() < 45);
    assert!(config.redis.is_some());
}
