//! The file's sections in order: each read on its own, then validated against the names it refers
//! to (models name endpoints, entities name models, shares name pools…), so that the checks that
//! span sections are wired here and nowhere else. It always builds a whole `Config` (with
//! placeholders where a value is wrong) so that one mistake never stops the checks after it; the
//! caller discards the result when any error was found.

use serde::Deserialize;
use toml::Value;

use crate::Config;
use crate::error::Collector;
use crate::read::{self, Items, Section};
use crate::rules::{Env, quoted_list};
use crate::section::entities::EntitySeed;
use crate::section::policy::DataPolicy;
use crate::section::retention::{Retention, RetentionConfig};
use crate::section::{
    admission, audit, authorization, batches, cache, classifications, endpoints, entities,
    libraries, models, oidc, policy, redis, retention, routing, scheduling, scim, seats, server,
    sessions, simulator, telemetry, use_cases,
};

/// The top level. Sections stay untyped here and are deserialized one by one in [`read`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    classifications: Option<Value>,
    server: Option<Value>,
    routing: Option<Value>,
    simulator: Option<Value>,
    endpoints: Option<Value>,
    models: Option<Value>,
    entities: Option<Value>,
    policy: Option<Value>,
    admission: Option<Value>,
    audit: Option<Value>,
    scim: Option<Value>,
    oidc: Option<Value>,
    seats: Option<Value>,
    sessions: Option<Value>,
    telemetry: Option<Value>,
    scheduling: Option<Value>,
    use_cases: Option<Value>,
    retention: Option<Value>,
    authorization: Option<Value>,
    batches: Option<Value>,
    cache: Option<Value>,
    libraries: Option<Value>,
    redis: Option<Value>,
}

/// Everything read from the file, before any rule is checked.
pub(crate) struct RawConfig {
    pub classifications: Section<Vec<String>>,
    pub server: Section<server::RawServer>,
    pub routing: Section<routing::RawRouting>,
    pub simulator: Section<simulator::RawSimulator>,
    /// `None` when the file has no `endpoints` key at all (built-in endpoints apply).
    pub endpoints: Option<Items<endpoints::RawEndpoint>>,
    pub models: Option<Items<models::RawModel>>,
    pub entities: Option<Items<entities::RawEntity>>,
    pub policy: Section<policy::RawPolicy>,
    pub admission: Section<admission::RawAdmission>,
    pub audit: Section<audit::RawAudit>,
    pub scim: Section<scim::RawScim>,
    pub oidc: Section<oidc::RawOidc>,
    pub seats: Section<seats::RawSeats>,
    pub sessions: Section<sessions::RawSessions>,
    pub telemetry: Section<telemetry::RawTelemetry>,
    pub scheduling: Section<scheduling::RawScheduling>,
    pub use_cases: Option<Items<use_cases::RawUseCase>>,
    pub retention: Section<retention::RawRetention>,
    pub authorization: Section<authorization::RawAuthorization>,
    pub batches: Section<batches::RawBatches>,
    pub cache: Section<cache::RawCache>,
    pub libraries: Section<libraries::RawLibraries>,
    pub redis: Section<redis::RawRedis>,
}

/// Reads the file into raw structs, pushing every shape error. `None` only when the document itself
/// is not TOML (or has an unknown top-level key), since nothing else can then be trusted.
impl RawConfig {
    /// An empty file: every section absent.
    pub(crate) fn empty() -> RawConfig {
        RawConfig {
            classifications: Section::Absent,
            server: Section::Absent,
            routing: Section::Absent,
            simulator: Section::Absent,
            endpoints: None,
            models: None,
            entities: None,
            policy: Section::Absent,
            admission: Section::Absent,
            audit: Section::Absent,
            scim: Section::Absent,
            oidc: Section::Absent,
            seats: Section::Absent,
            sessions: Section::Absent,
            telemetry: Section::Absent,
            scheduling: Section::Absent,
            use_cases: None,
            retention: Section::Absent,
            authorization: Section::Absent,
            batches: Section::Absent,
            cache: Section::Absent,
            libraries: Section::Absent,
            redis: Section::Absent,
        }
    }
}

pub(crate) fn read(text: &str, errors: &mut Collector) -> Option<RawConfig> {
    let document: RawDocument = match toml::from_str(text) {
        Ok(document) => document,
        Err(error) => {
            read::report_document_error(text, &error, errors);
            return None;
        }
    };
    Some(RawConfig {
        classifications: read::section(document.classifications, "classifications", errors),
        server: read::section(document.server, "server", errors),
        routing: read::section(document.routing, "routing", errors),
        simulator: read::section(document.simulator, "simulator", errors),
        endpoints: read::items(document.endpoints, "endpoints", "name", errors),
        models: read::items(document.models, "models", "name", errors),
        entities: read::items(document.entities, "entities", "slug", errors),
        policy: read::section(document.policy, "policy", errors),
        admission: read::section(document.admission, "admission", errors),
        audit: read::section(document.audit, "audit", errors),
        scim: read::section(document.scim, "scim", errors),
        oidc: read::section(document.oidc, "oidc", errors),
        seats: read::section(document.seats, "seats", errors),
        sessions: read::section(document.sessions, "sessions", errors),
        telemetry: read::section(document.telemetry, "telemetry", errors),
        scheduling: read::section(document.scheduling, "scheduling", errors),
        use_cases: read::items(document.use_cases, "use_cases", "slug", errors),
        retention: read::section(document.retention, "retention", errors),
        authorization: read::section(document.authorization, "authorization", errors),
        batches: read::section(document.batches, "batches", errors),
        cache: read::section(document.cache, "cache", errors),
        libraries: read::section(document.libraries, "libraries", errors),
        redis: read::section(document.redis, "redis", errors),
    })
}

pub(crate) fn build(raw: RawConfig, env: Env<'_>, errors: &mut Collector) -> Config {
    let (classifications, ladder_is_known) = classifications::validate(raw.classifications, errors);
    let server = server::validate(raw.server.given_or_default(), env, errors);
    let routing = routing::validate(raw.routing.given_or_default(), errors);
    let simulator = simulator::validate(raw.simulator.given_or_default(), errors);
    let (endpoints, endpoint_names) = endpoints::validate(
        raw.endpoints,
        &simulator,
        &classifications,
        ladder_is_known,
        env,
        errors,
    );
    let (models, model_names) = models::validate(raw.models, &endpoint_names, errors);
    let policy = policy::validate(
        raw.policy.given_or_default(),
        &classifications,
        ladder_is_known,
        errors,
    );
    let mut entities = entities::validate(
        raw.entities,
        &model_names,
        &classifications,
        ladder_is_known,
        &policy.group,
        errors,
    );
    let use_cases = use_cases::validate(raw.use_cases, &entities, &policy.group, errors);
    let admission = admission::validate(raw.admission.given_or_default(), errors);
    let audit = audit::validate(raw.audit.given_or_default(), env, errors);
    let scim = scim::validate(raw.scim.given_or_default(), errors);
    let seats = seats::validate(raw.seats.given_or_default(), errors);
    let sessions = sessions::validate(raw.sessions.given_or_default(), errors);
    let oidc = match raw.oidc {
        Section::Given(raw) => Some(oidc::validate(raw, env, errors)),
        Section::Absent | Section::Invalid => None,
    };
    let telemetry = telemetry::validate(raw.telemetry.given_or_default(), env, errors);
    let scheduling = scheduling::validate(raw.scheduling.given_or_default(), &endpoints, errors);
    let (retention, master_key_named) =
        retention::validate(raw.retention.given_or_default(), env, errors);
    retention_of_entities(
        &retention,
        master_key_named,
        &mut entities,
        &policy.group,
        errors,
    );
    let authorization = authorization::validate(raw.authorization.given_or_default(), errors);
    let batches = batches::validate(raw.batches.given_or_default(), errors);
    let cache = cache::validate(raw.cache.given_or_default(), &models, &model_names, errors);
    let raw_libraries = raw.libraries.given_or_default();
    let libraries = libraries::validate(raw_libraries, &models, &model_names, errors);
    let redis = match raw.redis {
        Section::Given(raw) => Some(redis::validate(raw, env, errors)),
        Section::Absent | Section::Invalid => None,
    };
    Config {
        batches,
        cache,
        libraries,
        redis,
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
        sessions,
    }
}

/// `[retention]` against the entities': a master key is required as soon as anything keeps
/// content, and `none` takes content out of the entity's traces.
fn retention_of_entities(
    retention: &RetentionConfig,
    master_key_named: bool,
    entities: &mut [EntitySeed],
    group_policy: &DataPolicy,
    errors: &mut Collector,
) {
    let default = retention.default;
    let keeping: Vec<String> = entities
        .iter()
        .filter(|seed| seed.retention.unwrap_or(default).keeps_content())
        .map(|seed| seed.slug.clone())
        .collect();
    if !master_key_named && (default.keeps_content() || !keeping.is_empty()) {
        let who = if default.keeps_content() {
            "the group's default retention is `full`".to_owned()
        } else {
            format!(
                "entities {} keep content (`mode = \"full\"`)",
                quoted_list(&keeping)
            )
        };
        errors.push(
            "retention.master_key_env",
            format!("required: {who}, and stored content is encrypted under a master key; name an environment variable holding 32 bytes in base64"),
        );
    }
    for seed in entities.iter_mut() {
        if seed.retention.unwrap_or(default) != Retention::None {
            continue;
        }
        match &mut seed.policy {
            Some(policy) => policy.trace_content = false,
            None if group_policy.trace_content => {
                seed.policy = Some(DataPolicy {
                    trace_content: false,
                    ..group_policy.clone()
                });
            }
            None => {}
        }
    }
}
