//! `SIGHUP`: the configuration file read again, and what can change under a running server put in
//! force without dropping a request in flight.
//!
//! The file goes through the same [`configuration::Config::load`] as at start. A file that does
//! not read or validate (a bad endpoint URL, a model naming an unknown endpoint, …), whose
//! endpoints the gateway cannot call, or whose `[authorization] policies` file does not validate,
//! is refused with one log line listing its errors, and the running configuration is kept whole:
//! everything is compiled before anything is put in force.
//!
//! Put in force at once:
//! - the request path's sections: `[[endpoints]]`, `[[models]]`, the data
//!   policies (`[policy]`), the entities' models, classification and data policy
//!   (`[[entities]]`), `[cache]`, `[routing]` (attempts, deadlines, the connect timeout — a new
//!   connection pool when it changes —, the circuits' policy and the health checks' interval),
//!   `[admission] default_completion_tokens`, the scheduling settings (`[scheduling]`: the
//!   queue bound, token weights, maximum waits, batch headroom, prefix affinity and priority
//!   forwarding) and the declared use cases (`[[use_cases]]`, their rules and policies, and
//!   their entries in the registry, registered and kept in step as at start). The gateway
//!   compiles them into a new configuration that the requests arriving from then on read from
//!   start to end, while requests and streams in flight finish on the one they started with
//!   (`gateway::Gateway::prepare`). An endpoint that keeps its name keeps its circuit and its
//!   requests in flight, a new one starts fresh, a removed one takes no new request while the
//!   streams on it finish — not even a request that began before the reload and waited in its
//!   pool's line meanwhile: that one goes to an endpoint still configured, or is answered 503
//!   `no_endpoint_available` when none is left. A GPU pool that is still named keeps its
//!   scheduler and the requests waiting in it, with its new capacity and settings: a request
//!   waiting keeps its deadline, one dispatched is settled with the token weights it was
//!   charged with.
//! - the admin API's authorization policies (`[authorization]`, swapped whole, so a request is
//!   decided by the old set or the new one) and the GPU pools' configured entity shares
//!   (`[[scheduling.shares]]`, applied before the stored ones, which still take precedence, as at
//!   start; a pool new in the file gets its shares too).
//!
//! Everything else needs a restart: the listener, the store, Redis, sign-in, the other settings
//! read once at start — and, for reasons of their own:
//! - an entity new in the file (it is created in the store at start) or an entity's retention
//!   (it decides whether the content writer runs); a use case naming an entity the server does
//!   not have yet holds `[[use_cases]]` back with it;
//! - `[admission] time_zone`: it cuts the budgets' days and months, which every replica and
//!   the counters in Redis must cut alike, and the usage roll-ups' hours;
//! - `[scheduling] enabled`: whether requests wait in the gateway at all, which the replicas'
//!   sharing of endpoints' capacity is started with; turned off under a running server, the
//!   requests holding sequences would outlive the pools that count them.
//!
//! A changed `classifications` ladder also holds back the sections read against it (the request
//! path's, and the use cases' levels and policies). A reload that finds such a change keeps the
//! running values, says which sections in a log line ([`changed_sections`]), and a rolling
//! restart of the replicas (each draining its streams, see `listener`) puts them in force
//! without dropping one. The admin API checks keys' and use cases' models and data policies
//! against those in force ([`AdminChecks`]); the web chat and the admin API read the
//! classification ladder as it was at start.
//!
//! The configuration in force ([`Running`]) is shared with `cluster`, so another replica's share
//! change re-applies this file's shares, not those of the file read at start.

use std::sync::Arc;

use arc_swap::ArcSwap;
use configuration::{Config, DataPolicies, EntitySeed, SchedulingConfig, UseCaseConfig};
use domain::EndpointKind;
use parking_lot::RwLock;
use store::Store;

/// The configuration in force: the file read at start, with what reloads changed.
pub type Running = Arc<RwLock<Arc<Config>>>;

/// What the admin API checks requests against in the configuration file — the models a key or
/// a use case may name, the data policies a use case may only tighten and a library upload
/// applies — swapped with the request path's.
#[derive(Debug, Clone)]
pub struct AdminChecks {
    pub model_names: Arc<ArcSwap<Vec<String>>>,
    pub data_policies: Arc<ArcSwap<DataPolicies>>,
}

impl AdminChecks {
    pub fn new(config: &Config) -> AdminChecks {
        AdminChecks {
            model_names: Arc::new(ArcSwap::from_pointee(model_names(config))),
            data_policies: Arc::new(ArcSwap::from_pointee(DataPolicies::new(config))),
        }
    }

    fn put_in_force(&self, config: &Config) {
        self.model_names.store(Arc::new(model_names(config)));
        self.data_policies
            .store(Arc::new(DataPolicies::new(config)));
    }
}

fn model_names(config: &Config) -> Vec<String> {
    config.models.iter().map(|m| m.name.clone()).collect()
}

/// What a reload did.
#[derive(Debug)]
pub struct Reloaded {
    /// The sections that changed in the file but need a restart, as named in the file.
    pub needs_restart: Vec<&'static str>,
}

/// Puts `new` in force as far as a running server can. `embedded` is the embedded simulator's
/// address, when one runs: the file's `simulator` endpoints without a URL mean it. Any error
/// refuses the whole reload, nothing changed.
pub async fn apply(
    running: &Running,
    store: &Store,
    (gateway, admin): (&gateway::Gateway, &AdminChecks),
    embedded: Option<&str>,
    mut new: Config,
) -> anyhow::Result<Reloaded> {
    let old = Arc::clone(&running.read());
    point_at_embedded_simulator(embedded, &mut new);
    let in_force = Arc::new(in_force(&old, &new));
    let prepared = gateway
        .prepare(Arc::clone(&in_force))
        .map_err(|error| anyhow::anyhow!("endpoints refused: {error}"))?;
    crate::server::install_policies(&new)?;
    prepared.put_in_force();
    admin.put_in_force(&in_force);
    *running.write() = Arc::clone(&in_force);
    crate::scheduling::apply_shares(store, &in_force, &gateway.scheduling).await?;
    if in_force.use_cases != old.use_cases {
        crate::factory::register(store, &in_force, &gateway.factory).await?;
    }
    Ok(Reloaded {
        needs_restart: changed_sections(&in_force, &new),
    })
}

/// `simulator` endpoints without a URL are served by the embedded simulator, whose address is
/// filled in at start: the same here, so an unchanged one is no change.
fn point_at_embedded_simulator(embedded: Option<&str>, new: &mut Config) {
    let Some(url) = embedded else {
        return;
    };
    let served = new
        .endpoints
        .iter_mut()
        .filter(|e| e.kind == EndpointKind::Simulator && e.url.is_none());
    for endpoint in served {
        endpoint.url = Some(url.to_owned());
    }
}

/// The configuration to put in force: `old`, with what a running server can change taken from
/// `new` — the authorization policies, `[routing]`, what admission reserves, the scheduling
/// settings but whether it is on, and the request path's sections and use cases when the
/// classification ladder they are read against is the same.
fn in_force(old: &Config, new: &Config) -> Config {
    let mut in_force = old.clone();
    in_force.authorization = new.authorization.clone();
    in_force.routing = new.routing.clone();
    in_force.admission.default_completion_tokens = new.admission.default_completion_tokens;
    in_force.scheduling = SchedulingConfig {
        enabled: old.scheduling.enabled,
        ..new.scheduling.clone()
    };
    if old.classifications == new.classifications {
        in_force.endpoints = new.endpoints.clone();
        in_force.models = new.models.clone();
        in_force.policy = new.policy.clone();
        in_force.cache = new.cache.clone();
        in_force.entities = live_entities(&old.entities, &new.entities);
        if new
            .use_cases
            .iter()
            .all(|u| names_live_entities(u, &in_force.entities))
        {
            in_force.use_cases = new.use_cases.clone();
        }
    }
    in_force
}

/// Whether every entity `use_case` names is one the server has.
fn names_live_entities(use_case: &UseCaseConfig, live: &[EntitySeed]) -> bool {
    let allowed = use_case.allowed.iter().flat_map(|a| &a.entities);
    let mut named = use_case.entity.iter().chain(allowed);
    named.all(|slug| live.iter().any(|seed| seed.slug == *slug))
}

/// The entities `new` declares that the store has had since start, with what the request path
/// reads of them from `new` (models, classification, data policy) and their retention from
/// `old`.
fn live_entities(old: &[EntitySeed], new: &[EntitySeed]) -> Vec<EntitySeed> {
    new.iter()
        .filter_map(|seed| {
            let running = old.iter().find(|o| o.slug == seed.slug)?;
            Some(EntitySeed {
                retention: running.retention,
                ..seed.clone()
            })
        })
        .collect()
}

/// The sections of `new` that differ from those in force; every field is named, so a section
/// added to `Config` must be placed here.
fn changed_sections(in_force: &Config, new: &Config) -> Vec<&'static str> {
    let Config {
        server,
        routing,
        simulator,
        classifications,
        endpoints,
        models,
        entities,
        use_cases,
        audit,
        policy,
        admission,
        scim,
        oidc,
        seats,
        sessions,
        telemetry,
        scheduling,
        retention,
        authorization,
        batches,
        redis,
        cache,
        libraries,
    } = new;
    let a = in_force;
    [
        ("server", a.server == *server),
        ("routing", a.routing == *routing),
        ("simulator", a.simulator == *simulator),
        ("classifications", a.classifications == *classifications),
        ("endpoints", a.endpoints == *endpoints),
        ("models", a.models == *models),
        ("entities", a.entities == *entities),
        ("use_cases", a.use_cases == *use_cases),
        ("audit", a.audit == *audit),
        ("policy", a.policy == *policy),
        ("admission", a.admission == *admission),
        ("scim", a.scim == *scim),
        ("oidc", a.oidc == *oidc),
        ("seats", a.seats == *seats),
        ("sessions", a.sessions == *sessions),
        ("telemetry", a.telemetry == *telemetry),
        ("scheduling", a.scheduling == *scheduling),
        ("retention", a.retention == *retention),
        ("authorization", a.authorization == *authorization),
        ("batches", a.batches == *batches),
        ("redis", a.redis == *redis),
        ("cache", a.cache == *cache),
        ("libraries", a.libraries == *libraries),
    ]
    .into_iter()
    .filter_map(|(name, same)| (!same).then_some(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration of top-level keys `top`, one endpoint, and `tables`.
    fn config(top: &str, tables: &str) -> Config {
        let endpoint = "[[endpoints]]\nname = \"gpu\"\nkind = \"vllm\"\n\
                        url = \"http://127.0.0.1:9/v1\"\nhosting = \"on_premises\"\nclearance = \"public\"\n";
        let text = format!("{top}\n{endpoint}\n{tables}");
        Config::from_toml(&text, "test.toml", &|_| None).unwrap()
    }

    const MODEL: &str = "[[models]]\nname = \"m\"\nkind = \"chat\"\nendpoints = [\"gpu\"]\n";
    const ACME: &str = "[[entities]]\nslug = \"acme\"\nname = \"Acme\"\n";

    #[test]
    fn the_request_paths_sections_are_put_in_force_and_the_rest_waits_for_a_restart() {
        let old = config("", &format!("{MODEL}\n{ACME}"));
        let new = config(
            "",
            &format!(
                "{MODEL}\n[[models]]\nname = \"n\"\nkind = \"chat\"\nendpoints = [\"gpu\"]\n\
                 \n{ACME}models = [\"n\"]\n\n[server]\nmax_body_bytes = 1000\n"
            ),
        );
        let in_force = in_force(&old, &new);
        assert_eq!(in_force.models.len(), 2);
        assert_eq!(in_force.entities[0].models, Some(vec!["n".to_owned()]));
        assert_eq!(in_force.server, old.server);
        assert_eq!(changed_sections(&in_force, &new), ["server"]);
    }

    #[test]
    fn a_new_entity_and_an_entitys_retention_need_a_restart() {
        let old = config("", &format!("{MODEL}\n{ACME}"));
        let new = config(
            "",
            &format!(
                "{MODEL}\n{ACME}[entities.retention]\nmode = \"none\"\n\
                 \n[[entities]]\nslug = \"globex\"\nname = \"Globex\"\n"
            ),
        );
        let in_force = in_force(&old, &new);
        assert_eq!(in_force.entities, old.entities);
        assert_eq!(changed_sections(&in_force, &new), ["entities"]);
    }

    #[test]
    fn routing_admission_scheduling_and_use_cases_are_put_in_force_but_for_what_waits() {
        let old = config("", &format!("{MODEL}\n{ACME}"));
        let changed = "[routing]\nmax_attempts = 2\n\n[admission]\ndefault_completion_tokens = 9\n\
                       time_zone = \"Europe/Paris\"\n\n[scheduling]\nenabled = false\n\
                       batch_headroom = 0.3\n\n[[use_cases]]\nslug = \"kyc\"\nentity = \"acme\"\n";
        let new = config("", &format!("{MODEL}\n{ACME}\n{changed}"));
        let in_force = in_force(&old, &new);
        assert_eq!(in_force.routing, new.routing);
        assert_eq!(in_force.admission.default_completion_tokens, 9);
        assert_eq!(in_force.admission.time_zone, old.admission.time_zone);
        assert_eq!(in_force.scheduling.batch_headroom, 0.3);
        assert!(in_force.scheduling.enabled);
        assert_eq!(in_force.use_cases, new.use_cases);
        assert_eq!(
            changed_sections(&in_force, &new),
            ["admission", "scheduling"]
        );
    }

    #[test]
    fn a_use_case_of_an_entity_new_in_the_file_waits_for_it() {
        let old = config("", &format!("{MODEL}\n{ACME}"));
        let new = config(
            "",
            &format!(
                "{MODEL}\n{ACME}\n[[entities]]\nslug = \"globex\"\nname = \"Globex\"\n\
                 \n[[use_cases]]\nslug = \"kyc\"\nallowed_entities = [\"acme\", \"globex\"]\n"
            ),
        );
        let in_force = in_force(&old, &new);
        assert!(in_force.use_cases.is_empty());
        assert_eq!(changed_sections(&in_force, &new), ["entities", "use_cases"]);
    }

    #[test]
    fn a_changed_ladder_holds_back_the_sections_read_against_it() {
        let old = config("", MODEL);
        let ladder = "classifications = [\"public\", \"internal\", \"restricted\"]";
        let new = config(
            ladder,
            &format!("{MODEL}\n[policy]\nblocked_terms = [\"x\"]\n"),
        );
        let in_force = in_force(&old, &new);
        assert_eq!(in_force.policy, old.policy);
        let changed = changed_sections(&in_force, &new);
        assert!(changed.contains(&"classifications"), "{changed:?}");
        assert!(changed.contains(&"policy"), "{changed:?}");
    }

    #[test]
    fn simulator_endpoints_without_a_url_are_the_embedded_simulators() {
        let mut new = Config::embedded_default();
        point_at_embedded_simulator(Some("http://127.0.0.1:7/v1"), &mut new);
        let mut simulated = new
            .endpoints
            .iter()
            .filter(|e| e.kind == EndpointKind::Simulator);
        assert!(simulated.clone().count() > 0);
        assert!(simulated.all(|e| e.url.as_deref() == Some("http://127.0.0.1:7/v1")));
    }
}
