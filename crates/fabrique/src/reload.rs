//! `SIGHUP`: the configuration file read again, and what can change under a running server put in
//! force without dropping a request in flight.
//!
//! The file goes through the same [`configuration::Config::load`] as at start. A file that does
//! not read or validate, or whose `[authorization] policies` file does not, is refused with one
//! log line listing every error, and the running configuration is kept whole.
//!
//! Put in force at once: the admin API's authorization policies (`[authorization]`, swapped
//! whole, so a request is decided by the old set or the new one) and the GPU pools' configured
//! entity shares (`[[scheduling.shares]]`, applied before the stored ones, which still take
//! precedence, as at start). Every other section is compiled into the request path's state
//! (endpoints, models and their indices, data policies, the listener) and changes with a restart:
//! a reload that finds them changed keeps them, says which in a log line, and a rolling restart
//! of the replicas (each draining its streams, see `listener`) puts them in force without
//! dropping one.
//!
//! The configuration in force ([`Running`]) is shared with `cluster`, so another replica's share
//! change re-applies this file's shares, not those of the file read at start.

use std::sync::Arc;

use configuration::Config;
use parking_lot::RwLock;
use store::Store;

/// The configuration in force: the file read at start, with what reloads changed.
pub type Running = Arc<RwLock<Arc<Config>>>;

/// What a reload did.
#[derive(Debug)]
pub struct Reloaded {
    /// The sections that changed in the file but need a restart, as named in the file.
    pub needs_restart: Vec<&'static str>,
}

/// Puts `new` in force as far as a running server can: the authorization policies and the pools'
/// shares. An invalid policy file refuses the whole reload, nothing changed.
pub async fn apply(
    running: &Running,
    store: &Store,
    gateway: &gateway::Gateway,
    mut new: Config,
) -> anyhow::Result<Reloaded> {
    let old = Arc::clone(&running.read());
    crate::server::install_policies(&new)?;
    let mut in_force = (*old).clone();
    in_force.authorization = new.authorization.clone();
    in_force.scheduling.shares = new.scheduling.shares.clone();
    let in_force = Arc::new(in_force);
    *running.write() = Arc::clone(&in_force);
    crate::scheduling::apply_shares(store, &in_force, &gateway.scheduling).await?;
    keep_embedded_simulator(&old, &mut new);
    Ok(Reloaded {
        needs_restart: changed_sections(&in_force, &new),
    })
}

/// Endpoints served by the embedded simulator have its address filled in at start: the file's
/// empty URL for them is no change.
fn keep_embedded_simulator(old: &Config, new: &mut Config) {
    for endpoint in new.endpoints.iter_mut().filter(|e| e.url.is_none()) {
        if let Some(running) = old.endpoints.iter().find(|e| e.name == endpoint.name) {
            endpoint.url.clone_from(&running.url);
        }
    }
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
