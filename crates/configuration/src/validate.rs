//! The validation pass: raw structs in, typed [`Config`] out, every broken rule pushed to the
//! collector. It always builds a whole `Config` (with placeholders where a value is wrong) so that one
//! mistake never stops the checks after it; the caller discards the result when any error was found.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use domain::{Classification, ClassificationLadder, EndpointKind};

use crate::defaults;
use crate::error::Collector;
use crate::raw::{
    Items, RawAdmission, RawAudit, RawAuthorization, RawConfig, RawEndpoint, RawEntity, RawModel,
    RawPolicy, RawRouting, RawScim, RawSeats, RawServer, RawSimulator, RawTelemetry, Section,
};
use crate::{
    AdmissionConfig, AuditConfig, AuditKeySource, AuthorizationConfig, Config, DataPolicy,
    ENTERPRISE_ENTITY_ATTRIBUTES, ENTERPRISE_USER_SCHEMA, EndpointConfig, EntityFrom, EntitySeed,
    ModelConfig, PolicyConfig, Price, RoutingConfig, ScimConfig, SeatsConfig, ServerConfig,
    SimulatorConfig, TelemetryConfig,
};

/// The looked-up environment, as given to `Config::from_toml`.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(crate) fn build(raw: RawConfig, env: Env<'_>, errors: &mut Collector) -> Config {
    let (classifications, ladder_is_known) = classifications(raw.classifications, errors);
    let server = server(raw.server.given_or_default(), errors);
    let routing = routing(raw.routing.given_or_default(), errors);
    let simulator = simulator(raw.simulator.given_or_default(), errors);
    let (endpoints, endpoint_names) = endpoints(
        raw.endpoints,
        &simulator,
        &classifications,
        ladder_is_known,
        env,
        errors,
    );
    let (models, model_names) = models(raw.models, &endpoint_names, errors);
    let policy = policy(
        raw.policy.given_or_default(),
        &classifications,
        ladder_is_known,
        errors,
    );
    let mut entities = entities(
        raw.entities,
        &model_names,
        &classifications,
        ladder_is_known,
        &policy.group,
        errors,
    );
    let use_cases = crate::use_cases::validate(raw.use_cases, &entities, &policy.group, errors);
    let admission = admission(raw.admission.given_or_default(), errors);
    let audit = audit(raw.audit.given_or_default(), env, errors);
    let scim = scim(raw.scim.given_or_default(), errors);
    let seats = seats(raw.seats.given_or_default(), errors);
    let oidc = match raw.oidc {
        Section::Given(raw) => Some(crate::oidc::validate(raw, env, errors)),
        Section::Absent | Section::Invalid => None,
    };
    let telemetry = telemetry(raw.telemetry.given_or_default(), env, errors);
    let scheduling =
        crate::scheduling::validate(raw.scheduling.given_or_default(), &endpoints, errors);
    let retention = crate::retention::validate(
        raw.retention.given_or_default(),
        &mut entities,
        &policy.group,
        env,
        errors,
    );
    let authorization = authorization(raw.authorization.given_or_default(), errors);
    Config {
        retention,
        authorization,
        telemetry,
        admission,
        scheduling,
        server,
        routing,
        simulator,
        classifications,
        endpoints,
        models,
        entities,
        use_cases,
        policy,
        audit,
        scim,
        oidc,
        seats,
    }
}

impl<T: Default> Section<T> {
    fn given_or_default(self) -> T {
        match self {
            Section::Given(value) => value,
            Section::Absent | Section::Invalid => T::default(),
        }
    }
}

/// Returns the ladder, and whether clearances can be checked against it (not when the
/// `classifications` key itself could not be read).
fn classifications(
    section: Section<Vec<String>>,
    errors: &mut Collector,
) -> (ClassificationLadder, bool) {
    let names = match section {
        Section::Absent => return (ClassificationLadder::default(), true),
        Section::Invalid => return (ClassificationLadder::default(), false),
        Section::Given(names) => names,
    };
    if names.is_empty() {
        errors.push("classifications", "at least one level is required");
        return (ClassificationLadder::default(), false);
    }
    // A level is stored as a `u8` rank.
    if names.len() > usize::from(u8::MAX) + 1 {
        errors.push(
            "classifications",
            format!("at most 256 levels are allowed, found {}", names.len()),
        );
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, name) in names.iter().enumerate() {
        let key = format!("classifications[{index}]");
        if let Some(message) = name_problem(name, NameRule::Identifier) {
            errors.push(&key, message);
        }
        if let Some(first) = seen.insert(name, index) {
            errors.push(
                &key,
                format!(
                    "duplicate classification level `{name}`, already at classifications[{first}]"
                ),
            );
        }
    }
    (ClassificationLadder::new(names), true)
}

fn server(raw: RawServer, errors: &mut Collector) -> ServerConfig {
    let listen = match raw.listen {
        None => defaults::LISTEN,
        Some(text) => text.parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(
                "server.listen",
                format!("`{text}` is not a socket address; write `ip:port`, e.g. `127.0.0.1:8080` or `[::]:8080`"),
            );
            defaults::LISTEN
        }),
    };
    let data_dir = raw
        .data_dir
        .unwrap_or_else(|| defaults::DATA_DIR.to_owned());
    if data_dir.trim().is_empty() {
        errors.push("server.data_dir", "must not be empty");
    }
    if let Some(url) = &raw.database_url {
        let known = ["postgres://", "postgresql://", "sqlite:"];
        if !known.iter().any(|prefix| url.starts_with(prefix)) {
            // The URL is not echoed: it may carry a database password.
            errors.push(
                "server.database_url",
                "must start with `postgres://`, `postgresql://` or `sqlite:`",
            );
        }
    }
    let max_body_bytes = at_least_one(
        raw.max_body_bytes,
        defaults::MAX_BODY_BYTES,
        "server.max_body_bytes",
        errors,
    );
    let max_body_bytes = usize::try_from(max_body_bytes).unwrap_or_else(|_| {
        errors.push("server.max_body_bytes", "is too large for this machine");
        usize::MAX
    });
    let max_connections = at_least_one(
        raw.max_connections,
        defaults::MAX_CONNECTIONS,
        "server.max_connections",
        errors,
    );
    if max_connections > defaults::MAX_CONNECTIONS_CEILING {
        errors.push(
            "server.max_connections",
            format!(
                "must be at most {}, found {max_connections}",
                defaults::MAX_CONNECTIONS_CEILING
            ),
        );
    }
    let seconds = |value, default, key, errors: &mut Collector| {
        Duration::from_secs(at_least_one(value, default, key, errors))
    };
    // A deadline is an instant: a day keeps every `now + timeout` far from overflowing.
    let seconds_within_a_day = |value: Option<u64>, default, key, errors: &mut Collector| {
        if let Some(value) = value.filter(|&v| v > defaults::SECONDS_PER_DAY) {
            errors.push(
                key,
                format!(
                    "must be at most {} (a day), found {value}",
                    defaults::SECONDS_PER_DAY
                ),
            );
            return Duration::from_secs(default);
        }
        seconds(value, default, key, errors)
    };
    let request_timeout = seconds(
        raw.request_timeout_secs,
        defaults::REQUEST_TIMEOUT_SECS,
        "server.request_timeout_secs",
        errors,
    );
    ServerConfig {
        listen,
        data_dir: PathBuf::from(data_dir),
        database_url: raw.database_url,
        max_body_bytes,
        request_timeout,
        max_connections: max_connections.min(defaults::MAX_CONNECTIONS_CEILING) as usize,
        header_read_timeout: seconds_within_a_day(
            raw.header_read_timeout_secs,
            defaults::HEADER_READ_TIMEOUT_SECS,
            "server.header_read_timeout_secs",
            errors,
        ),
        body_read_timeout: seconds_within_a_day(
            raw.body_read_timeout_secs,
            defaults::BODY_READ_TIMEOUT_SECS,
            "server.body_read_timeout_secs",
            errors,
        ),
    }
}

fn routing(raw: RawRouting, errors: &mut Collector) -> RoutingConfig {
    let max_attempts = raw.max_attempts.unwrap_or(defaults::MAX_ATTEMPTS);
    if !defaults::MAX_ATTEMPTS_RANGE.contains(&max_attempts) {
        errors.push(
            "routing.max_attempts",
            format!(
                "must be between {} and {}, found {max_attempts}",
                defaults::MAX_ATTEMPTS_RANGE.start(),
                defaults::MAX_ATTEMPTS_RANGE.end()
            ),
        );
    }
    let millis = |value: Option<u64>, default: u64, key: &str, errors: &mut Collector| {
        Duration::from_millis(at_least_one(value, default, key, errors))
    };
    let circuit_failures = at_least_one(
        raw.circuit_failures.map(u64::from),
        u64::from(defaults::CIRCUIT_FAILURES),
        "routing.circuit_failures",
        errors,
    );
    RoutingConfig {
        max_attempts,
        deadline: millis(
            raw.deadline_ms,
            defaults::DEADLINE_MS,
            "routing.deadline_ms",
            errors,
        ),
        first_byte_timeout: millis(
            raw.first_byte_timeout_ms,
            defaults::FIRST_BYTE_TIMEOUT_MS,
            "routing.first_byte_timeout_ms",
            errors,
        ),
        connect_timeout: millis(
            raw.connect_timeout_ms,
            defaults::CONNECT_TIMEOUT_MS,
            "routing.connect_timeout_ms",
            errors,
        ),
        circuit_failures: u32::try_from(circuit_failures).unwrap_or(u32::MAX),
        circuit_open: millis(
            raw.circuit_open_ms,
            defaults::CIRCUIT_OPEN_MS,
            "routing.circuit_open_ms",
            errors,
        ),
        // Zero is the documented way to turn active health checks off.
        health_check_interval: match raw
            .health_check_interval_ms
            .unwrap_or(defaults::HEALTH_CHECK_INTERVAL_MS)
        {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
    }
}

fn simulator(raw: RawSimulator, errors: &mut Collector) -> SimulatorConfig {
    let tokens_per_second = raw
        .tokens_per_second
        .unwrap_or(defaults::SIMULATOR_TOKENS_PER_SECOND);
    if !(tokens_per_second.is_finite() && tokens_per_second > 0.0) {
        errors.push(
            "simulator.tokens_per_second",
            format!("must be a finite number above 0, found {tokens_per_second}"),
        );
    }
    let capacity = at_least_one(
        raw.capacity,
        defaults::SIMULATOR_CAPACITY,
        "simulator.capacity",
        errors,
    );
    SimulatorConfig {
        embedded: raw.embedded.unwrap_or(defaults::SIMULATOR_EMBEDDED),
        ttft: Duration::from_millis(raw.ttft_ms.unwrap_or(defaults::SIMULATOR_TTFT_MS)),
        tokens_per_second,
        capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
    }
}

fn endpoints(
    items: Option<Items<RawEndpoint>>,
    simulator: &SimulatorConfig,
    ladder: &ClassificationLadder,
    ladder_is_known: bool,
    env: Env<'_>,
    errors: &mut Collector,
) -> (Vec<EndpointConfig>, Names) {
    let Some(items) = items else {
        if !simulator.embedded {
            errors.push(
                "endpoints",
                "no `[[endpoints]]` are declared, and the built-in `simulator` endpoint needs `simulator.embedded = true`",
            );
        }
        let endpoints = vec![defaults::builtin_endpoint(simulator, ladder)];
        let names = Names::of_builtin(endpoints.iter().map(|e| e.name.as_str()));
        return (endpoints, names);
    };
    let mut names = Names::new(items.invalid_names, items.wholly_invalid);
    let mut endpoints = Vec::new();
    for (index, raw) in items.given {
        let key = format!("endpoints[{index}]");
        if let Some(first) = names.declare(&raw.name, endpoints.len(), &key) {
            errors.push(
                format!("{key}.name"),
                format!(
                    "duplicate endpoint name `{}`, already used by {first}",
                    raw.name
                ),
            );
        }
        endpoints.push(endpoint(
            raw,
            &key,
            simulator,
            ladder,
            ladder_is_known,
            env,
            errors,
        ));
    }
    (endpoints, names)
}

fn endpoint(
    raw: RawEndpoint,
    key: &str,
    simulator: &SimulatorConfig,
    ladder: &ClassificationLadder,
    ladder_is_known: bool,
    env: Env<'_>,
    errors: &mut Collector,
) -> EndpointConfig {
    if let Some(message) = name_problem(&raw.name, NameRule::Identifier) {
        errors.push(format!("{key}.name"), message);
    }
    let url = match raw.url {
        Some(url) => {
            if let Some(message) = url_problem(&url) {
                errors.push(format!("{key}.url"), message);
            }
            // Callers append paths such as `/chat/completions`; a trailing slash would double it.
            Some(url.trim_end_matches('/').to_owned())
        }
        None if raw.kind == EndpointKind::Simulator => {
            if !simulator.embedded {
                errors.push(
                    format!("{key}.url"),
                    "required key is missing: without `url`, a `simulator` endpoint means the embedded simulator, but `simulator.embedded` is false",
                );
            }
            None
        }
        None => {
            errors.push(
                format!("{key}.url"),
                format!("required key is missing for kind `{}`", raw.kind.as_str()),
            );
            None
        }
    };
    let credential = raw
        .api_key_env
        .and_then(|variable| credential(&variable, &format!("{key}.api_key_env"), env, errors));
    let clearance = level(
        &raw.clearance,
        &format!("{key}.clearance"),
        ladder,
        ladder_is_known,
        errors,
    )
    .unwrap_or(Classification(0));
    let pool = raw.pool.unwrap_or_else(|| defaults::POOL.to_owned());
    if let Some(message) = name_problem(&pool, NameRule::Identifier) {
        errors.push(format!("{key}.pool"), message);
    }
    let capacity = at_least_one(
        raw.capacity.map(u64::from),
        u64::from(defaults::ENDPOINT_CAPACITY),
        &format!("{key}.capacity"),
        errors,
    );
    let weight = at_least_one(
        raw.weight.map(u64::from),
        u64::from(defaults::ENDPOINT_WEIGHT),
        &format!("{key}.weight"),
        errors,
    );
    let health_path = match raw.health_path {
        Some(path) => {
            if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                errors.push(
                    format!("{key}.health_path"),
                    format!("`{path}` must be a path starting with `/`, without spaces"),
                );
            }
            Some(path)
        }
        None => defaults::health_path(raw.kind),
    };
    EndpointConfig {
        name: raw.name,
        kind: raw.kind,
        url,
        credential,
        hosting: raw.hosting,
        clearance,
        pool,
        capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
        weight: u32::try_from(weight).unwrap_or(u32::MAX),
        health_path,
    }
}

fn audit(raw: RawAudit, env: Env<'_>, errors: &mut Collector) -> AuditConfig {
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
        defaults::CHECKPOINT_EVERY_EVENTS,
        "audit.checkpoint_every_events",
        errors,
    );
    let checkpoint_interval_secs = at_least_one(
        raw.checkpoint_interval_secs,
        defaults::CHECKPOINT_INTERVAL_SECS,
        "audit.checkpoint_interval_secs",
        errors,
    );
    AuditConfig {
        signing_key,
        checkpoint_every_events,
        checkpoint_interval: Duration::from_secs(checkpoint_interval_secs),
    }
}

/// Resolves `api_key_env`. Messages name the variable and never show its value.
pub(crate) fn credential(
    variable: &str,
    key: &str,
    env: Env<'_>,
    errors: &mut Collector,
) -> Option<String> {
    let valid_name = variable
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && variable
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        errors.push(
            key,
            format!("`{variable}` is not an environment variable name (letters, digits and `_`, not starting with a digit); put the credential in that variable, not in the file"),
        );
        return None;
    }
    match env(variable) {
        None => {
            errors.push(key, format!("environment variable `{variable}` is not set"));
            None
        }
        Some(value) if value.trim().is_empty() => {
            errors.push(key, format!("environment variable `{variable}` is empty"));
            None
        }
        Some(value) => Some(value),
    }
}

fn models(
    items: Option<Items<RawModel>>,
    endpoint_names: &Names,
    errors: &mut Collector,
) -> (Vec<ModelConfig>, Names) {
    let Some(items) = items else {
        let endpoint = match endpoint_names.resolve(defaults::BUILTIN_ENDPOINT) {
            Resolved::Found(index) => index,
            Resolved::Unverifiable => 0,
            Resolved::Unknown => {
                errors.push(
                    "models",
                    "no `[[models]]` are declared, and the built-in models need an endpoint named `simulator`, which is not declared",
                );
                0
            }
        };
        let models = defaults::builtin_models(endpoint);
        let names = Names::of_builtin(models.iter().map(|m| m.name.as_str()));
        return (models, names);
    };

    // First pass: everything but fallbacks, which need every model's name and kind.
    let mut names = Names::new(items.invalid_names, items.wholly_invalid);
    let mut models = Vec::new();
    let mut pending_fallbacks = Vec::new();
    let mut keys = Vec::new();
    for (index, raw) in items.given {
        let key = format!("models[{index}]");
        if let Some(first) = names.declare(&raw.name, models.len(), &key) {
            errors.push(
                format!("{key}.name"),
                format!(
                    "duplicate model name `{}`, already used by {first}",
                    raw.name
                ),
            );
        }
        pending_fallbacks.push(raw.fallbacks.clone().unwrap_or_default());
        models.push(model(raw, &key, endpoint_names, errors));
        keys.push(key);
    }

    for (position, fallbacks) in pending_fallbacks.into_iter().enumerate() {
        let mut resolved = Vec::new();
        for (index, fallback) in fallbacks.iter().enumerate() {
            let key = format!("{}.fallbacks[{index}]", keys[position]);
            let model = &models[position];
            if *fallback == model.name {
                errors.push(
                    key,
                    format!("model `{fallback}` cannot fall back to itself"),
                );
                continue;
            }
            match names.resolve(fallback) {
                Resolved::Found(target) if resolved.contains(&target) => {
                    errors.push(key, format!("model `{fallback}` is listed twice"));
                }
                Resolved::Found(target) if models[target].kind != model.kind => errors.push(
                    key,
                    format!(
                        "fallback `{fallback}` has kind `{}`, but `{}` has kind `{}`",
                        models[target].kind.as_str(),
                        model.name,
                        model.kind.as_str()
                    ),
                ),
                Resolved::Found(target) => resolved.push(target),
                Resolved::Unknown => errors.push(key, format!("unknown model `{fallback}`")),
                Resolved::Unverifiable => {}
            }
        }
        models[position].fallbacks = resolved;
    }
    report_fallback_cycles(&models, &keys, errors);
    (models, names)
}

fn model(raw: RawModel, key: &str, endpoint_names: &Names, errors: &mut Collector) -> ModelConfig {
    if raw.name.is_empty()
        || raw
            .name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        errors.push(
            format!("{key}.name"),
            format!(
                "`{}` is not a valid model name: it must be non-empty, without spaces",
                raw.name
            ),
        );
    }
    if raw.endpoints.is_empty() {
        errors.push(
            format!("{key}.endpoints"),
            "at least one endpoint is required",
        );
    }
    let mut endpoints = Vec::new();
    for (index, name) in raw.endpoints.iter().enumerate() {
        let item_key = format!("{key}.endpoints[{index}]");
        match endpoint_names.resolve(name) {
            Resolved::Found(endpoint) if endpoints.contains(&endpoint) => {
                errors.push(item_key, format!("endpoint `{name}` is listed twice"));
            }
            Resolved::Found(endpoint) => endpoints.push(endpoint),
            Resolved::Unknown => errors.push(item_key, format!("unknown endpoint `{name}`")),
            Resolved::Unverifiable => {}
        }
    }
    let upstream_name = match raw.upstream_name {
        Some(upstream) => {
            if upstream.trim().is_empty() {
                errors.push(format!("{key}.upstream_name"), "must not be empty");
            }
            upstream
        }
        None => raw.name.clone(),
    };
    if raw.context_length == Some(0) {
        errors.push(format!("{key}.context_length"), "must be at least 1");
    }
    ModelConfig {
        name: raw.name,
        kind: raw.kind,
        endpoints,
        upstream_name,
        fallbacks: Vec::new(),
        price: Price {
            input_micros_per_million: micros(
                raw.input_price_per_million,
                &format!("{key}.input_price_per_million"),
                errors,
            ),
            output_micros_per_million: micros(
                raw.output_price_per_million,
                &format!("{key}.output_price_per_million"),
                errors,
            ),
        },
        context_length: raw.context_length,
    }
}

/// A price in currency units to integer millionths, so that costs add up exactly.
fn micros(price: Option<f64>, key: &str, errors: &mut Collector) -> u64 {
    let Some(price) = price else { return 0 };
    let micros = (price * 1_000_000.0).round();
    if !price.is_finite() {
        errors.push(key, format!("must be a finite number, found {price}"));
        0
    } else if price < 0.0 {
        errors.push(key, format!("must not be negative, found {price}"));
        0
    } else if micros >= u64::MAX as f64 {
        errors.push(key, "is too large");
        0
    } else {
        micros as u64
    }
}

/// Reports each cycle among resolved fallbacks once, at the first model of the cycle in file order.
fn report_fallback_cycles(models: &[ModelConfig], keys: &[String], errors: &mut Collector) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Unvisited,
        OnPath,
        Done,
    }
    fn visit(
        node: usize,
        models: &[ModelConfig],
        state: &mut [State],
        path: &mut Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        state[node] = State::OnPath;
        path.push(node);
        for &next in &models[node].fallbacks {
            match state[next] {
                State::Unvisited => visit(next, models, state, path, cycles),
                State::OnPath => {
                    if let Some(start) = path.iter().position(|&n| n == next) {
                        cycles.push(path[start..].to_vec());
                    }
                }
                State::Done => {}
            }
        }
        path.pop();
        state[node] = State::Done;
    }

    let mut state = vec![State::Unvisited; models.len()];
    let mut cycles = Vec::new();
    for start in 0..models.len() {
        if state[start] == State::Unvisited {
            visit(start, models, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    for mut cycle in cycles {
        let Some(first) = cycle
            .iter()
            .enumerate()
            .min_by_key(|(_, model)| **model)
            .map(|(i, _)| i)
        else {
            continue;
        };
        cycle.rotate_left(first);
        let mut names: Vec<String> = cycle
            .iter()
            .map(|&m| format!("`{}`", models[m].name))
            .collect();
        names.push(format!("`{}`", models[cycle[0]].name));
        errors.push(
            format!("{}.fallbacks", keys[cycle[0]]),
            format!("fallbacks form a cycle: {}", names.join(" → ")),
        );
    }
}

fn entities(
    items: Option<Items<RawEntity>>,
    model_names: &Names,
    ladder: &ClassificationLadder,
    ladder_is_known: bool,
    group_policy: &DataPolicy,
    errors: &mut Collector,
) -> Vec<EntitySeed> {
    let Some(items) = items else {
        return Vec::new();
    };
    let mut slugs = Names::new(Vec::new(), false);
    let mut entities = Vec::new();
    for (index, raw) in items.given {
        let key = format!("entities[{index}]");
        if let Some(message) = name_problem(&raw.slug, NameRule::Slug) {
            errors.push(format!("{key}.slug"), message);
        }
        if let Some(first) = slugs.declare(&raw.slug, entities.len(), &key) {
            errors.push(
                format!("{key}.slug"),
                format!(
                    "duplicate entity slug `{}`, already used by {first}",
                    raw.slug
                ),
            );
        }
        if raw.name.trim().is_empty() {
            errors.push(format!("{key}.name"), "must not be blank");
        }
        let mut seen = HashSet::new();
        for (position, model) in raw.models.iter().flatten().enumerate() {
            let item_key = format!("{key}.models[{position}]");
            if !seen.insert(model) {
                errors.push(item_key, format!("model `{model}` is listed twice"));
            } else if model_names.resolve(model) == Resolved::Unknown {
                errors.push(item_key, format!("unknown model `{model}`"));
            }
        }
        let classification = raw.classification.as_deref().and_then(|name| {
            level(
                name,
                &format!("{key}.classification"),
                ladder,
                ladder_is_known,
                errors,
            )
        });
        // `none` keeps no content anywhere: an explicit `trace_content = true` contradicts it.
        let retention = raw.retention.map(|retention| {
            crate::retention::retention(
                retention.mode.as_deref(),
                retention.days,
                &format!("{key}.retention"),
                errors,
            )
        });
        if retention == Some(crate::Retention::None)
            && raw.policy.as_ref().and_then(|p| p.trace_content) == Some(true)
        {
            errors.push(
                format!("{key}.policy.trace_content"),
                "contradicts `retention.mode = \"none\"`, which keeps no content, traces included",
            );
        }
        let policy = raw.policy.map(|raw| {
            crate::data_policy::validate(raw, group_policy, &format!("{key}.policy"), errors)
        });
        entities.push(EntitySeed {
            slug: raw.slug,
            name: raw.name,
            models: raw.models,
            classification,
            policy,
            retention,
        });
    }
    entities
}

fn admission(raw: RawAdmission, errors: &mut Collector) -> AdmissionConfig {
    let time_zone = raw
        .time_zone
        .unwrap_or_else(|| defaults::ADMISSION_TIME_ZONE.to_owned());
    if jiff::tz::TimeZone::get(&time_zone).is_err() {
        errors.push(
            "admission.time_zone",
            format!(
                "unknown time zone `{time_zone}` (expected an IANA name such as `Europe/Paris`)"
            ),
        );
    }
    let default_completion_tokens = at_least_one(
        raw.default_completion_tokens,
        defaults::ADMISSION_DEFAULT_COMPLETION_TOKENS,
        "admission.default_completion_tokens",
        errors,
    );
    AdmissionConfig {
        time_zone,
        default_completion_tokens,
    }
}

fn seats(raw: RawSeats, errors: &mut Collector) -> SeatsConfig {
    let days = at_least_one(
        raw.reclaim_after_days,
        defaults::SEATS_RECLAIM_AFTER_DAYS,
        "seats.reclaim_after_days",
        errors,
    );
    SeatsConfig {
        pool: raw.pool,
        reclaim_after: Duration::from_secs(days.saturating_mul(86_400)),
    }
}

fn authorization(raw: RawAuthorization, errors: &mut Collector) -> AuthorizationConfig {
    let policies = raw.policies.and_then(|path| {
        if path.trim().is_empty() {
            errors.push(
                "authorization.policies",
                "must name a file of Cedar policies (or be left out for the default set)",
            );
            None
        } else {
            Some(PathBuf::from(path))
        }
    });
    AuthorizationConfig { policies }
}

/// The OTLP endpoint from the file, or else from the standard environment variable.
fn telemetry(raw: RawTelemetry, env: Env<'_>, errors: &mut Collector) -> TelemetryConfig {
    let (endpoint, key) = match raw.otlp_endpoint {
        Some(endpoint) => (Some(endpoint), "telemetry.otlp_endpoint"),
        None => (
            env(crate::OTLP_ENDPOINT_ENV).filter(|value| !value.trim().is_empty()),
            crate::OTLP_ENDPOINT_ENV,
        ),
    };
    let otlp_endpoint = endpoint.and_then(|endpoint| match url_problem(&endpoint) {
        Some(problem) => {
            errors.push(key, problem);
            None
        }
        None => Some(endpoint.trim_end_matches('/').to_owned()),
    });
    TelemetryConfig { otlp_endpoint }
}

fn policy(
    raw: RawPolicy,
    ladder: &ClassificationLadder,
    known: bool,
    errors: &mut Collector,
) -> PolicyConfig {
    let (personal_data_classification, data) = raw.split();
    let personal_data_classification = personal_data_classification.as_deref().and_then(|name| {
        level(
            name,
            "policy.personal_data_classification",
            ladder,
            known,
            errors,
        )
    });
    PolicyConfig {
        personal_data_classification,
        group: crate::data_policy::validate(data, &DataPolicy::default(), "policy", errors),
    }
}

/// A level of the ladder by name; an unknown name is reported at `key` (unless the ladder itself
/// could not be read, whose error is already reported).
fn level(
    name: &str,
    key: &str,
    ladder: &ClassificationLadder,
    ladder_is_known: bool,
    errors: &mut Collector,
) -> Option<Classification> {
    let found = ladder.parse(name);
    if found.is_none() && ladder_is_known {
        errors.push(
            key,
            format!(
                "unknown classification level `{name}`; expected one of {}",
                quoted_list(ladder.names())
            ),
        );
    }
    found
}

fn scim(raw: RawScim, errors: &mut Collector) -> ScimConfig {
    let entity_from = match raw.entity_from.as_deref() {
        None | Some("token") => EntityFrom::Token,
        Some(other) => match other
            .strip_prefix(ENTERPRISE_USER_SCHEMA)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|name| {
                ENTERPRISE_ENTITY_ATTRIBUTES
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(name))
            }) {
            Some(name) => EntityFrom::EnterpriseAttribute((*name).to_owned()),
            None => {
                errors.push(
                    "scim.entity_from",
                    format!(
                        "expected `token` or `{ENTERPRISE_USER_SCHEMA}:<attribute>` with <attribute> one of {}, found `{other}`",
                        ENTERPRISE_ENTITY_ATTRIBUTES.join(", ")
                    ),
                );
                EntityFrom::Token
            }
        },
    };
    let entity_map = raw.entity_map.unwrap_or_default();
    for (value, slug) in &entity_map {
        if let Some(message) = name_problem(slug, NameRule::Slug) {
            errors.push(format!("scim.entity_map.\"{value}\""), message);
        }
    }
    let named_attribute = matches!(entity_from, EntityFrom::EnterpriseAttribute(_))
        // An unreadable `entity_from` is already reported; its map is not a second mistake.
        || raw.entity_from.as_deref().is_some_and(|v| v != "token");
    if entity_map.is_empty() && matches!(entity_from, EntityFrom::EnterpriseAttribute(_)) {
        errors.push(
            "scim.entity_map",
            "required when `entity_from` names an attribute: map each of its values to an entity slug",
        );
    }
    if !entity_map.is_empty() && !named_attribute {
        errors.push(
            "scim.entity_map",
            "only read when `entity_from` names an attribute, but it is `token` (the default)",
        );
    }
    ScimConfig {
        entity_from,
        entity_map,
    }
}

/// The names declared in one list (endpoints, models, slugs), for duplicate and reference checks.
struct Names {
    /// Name → (position in the typed list, key path of its declaration). The first one wins.
    declared: HashMap<String, (usize, String)>,
    /// Names of items that could not be read: references to them are not reported again.
    unreadable: HashSet<String>,
    /// The whole list could not be read: no reference into it can be checked.
    all_unreadable: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    Found(usize),
    Unknown,
    /// The name may exist in an item that could not be read; its error is already reported.
    Unverifiable,
}

impl Names {
    fn new(unreadable: Vec<String>, all_unreadable: bool) -> Self {
        Names {
            declared: HashMap::new(),
            unreadable: unreadable.into_iter().collect(),
            all_unreadable,
        }
    }

    fn of_builtin<'a>(names: impl Iterator<Item = &'a str>) -> Self {
        let mut declared = Names::new(Vec::new(), false);
        for (position, name) in names.enumerate() {
            declared.declare(name, position, "built-in");
        }
        declared
    }

    /// Declares `name`; on a duplicate, returns the key of the first declaration.
    fn declare(&mut self, name: &str, position: usize, key: &str) -> Option<String> {
        match self.declared.get(name) {
            Some((_, first)) => Some(first.clone()),
            None => {
                self.declared
                    .insert(name.to_owned(), (position, key.to_owned()));
                None
            }
        }
    }

    fn resolve(&self, name: &str) -> Resolved {
        match self.declared.get(name) {
            Some((position, _)) => Resolved::Found(*position),
            None if self.all_unreadable || self.unreadable.contains(name) => Resolved::Unverifiable,
            None => Resolved::Unknown,
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum NameRule {
    /// `[a-z0-9][a-z0-9_-]*`: endpoint, pool and classification names.
    Identifier,
    /// `[a-z0-9][a-z0-9-]*`: entity slugs, which appear in URLs.
    Slug,
}

/// Hand-written rather than a regex: two character classes do not justify a dependency.
pub(crate) fn name_problem(name: &str, rule: NameRule) -> Option<String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = name.chars().all(|c| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '-'
            || (c == '_' && matches!(rule, NameRule::Identifier))
    });
    if first_ok && rest_ok {
        return None;
    }
    let allowed = match rule {
        NameRule::Identifier => "lowercase letters, digits, `-` and `_`",
        NameRule::Slug => "lowercase letters, digits and `-`",
    };
    Some(format!(
        "`{name}` is not a valid name: use {allowed}, starting with a letter or digit"
    ))
}

/// Why `url` is not a usable base URL, if it is not.
pub(crate) fn url_problem(url: &str) -> Option<String> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Some(format!("`{url}` is not an http:// or https:// URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        // Not echoed: the part before `@` is a credential.
        return Some("credentials do not belong in the URL; use `api_key_env`".to_owned());
    }
    if authority.is_empty() {
        return Some(format!("`{url}` has no host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!("`{url}` contains whitespace"));
    }
    if url.contains('?') || url.contains('#') {
        return Some(format!(
            "`{url}` must not have a query or fragment: request paths are appended to it"
        ));
    }
    None
}

/// A number that must be at least 1, or its default when absent. Reports and returns the default
/// when it is 0.
fn at_least_one(value: Option<u64>, default: u64, key: &str, errors: &mut Collector) -> u64 {
    match value {
        None => default,
        Some(0) => {
            errors.push(key, "must be at least 1");
            default
        }
        Some(value) => value,
    }
}

pub(crate) fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
