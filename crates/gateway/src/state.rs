//! The gateway's state: the request path's configuration in force (`configured`, swapped whole
//! by a reload), and the parts that live as long as the server — the key directory, seats, the
//! AI Factory's registry, limits and their counters, the GPU pools' schedulers, the sinks,
//! the metrics. Everything the request path reads is here, in memory; each stage is handed only
//! its part.

use std::sync::Arc;

use arc_swap::ArcSwap;
use configuration::Config;
use identity::Directory;
use parking_lot::{Mutex, MutexGuard};
use telemetry::Metrics;

pub use crate::catalog::InvalidEndpoints;
use crate::configured::{Compiled, Configured};
use crate::meter::{Meter, Sinks};
use crate::schedule::Scheduling;

/// Everything the inference routes share.
#[derive(Debug)]
pub struct Gateway {
    /// The request path's configuration in force: each request loads it once, as it arrives.
    configured: ArcSwap<Configured>,
    /// The endpoint set in force, for the surfaces beside the request path that show it (the
    /// admin API's pools); swapped with `configured`.
    endpoints: Arc<ArcSwap<routing::Endpoints>>,
    /// One reload at a time.
    reloading: Mutex<()>,
    /// Told when a reload is put in force, for the background tasks that follow `[routing]`.
    pub(crate) reloaded: tokio::sync::Notify,
    /// Who is the caller (authenticate) and in which teams (attribute).
    pub(crate) directory: Arc<Directory>,
    /// Sign-in with the identity provider, when `[oidc]` is configured: access tokens and session
    /// cookies authenticate besides API keys.
    pub(crate) sign_in: Option<Arc<dyn access::SignIn>>,
    /// Who holds a seat (license), shared with the admin API and SCIM that change it.
    pub(crate) seats: Arc<seats::Seats>,
    /// The AI Factory's live registry: who may name or invoke each use case (stages 3 and 5),
    /// its priority class, its deployed versions. Swapped whole by the admin API.
    pub factory: Arc<factory::Live>,
    /// Rate limits and budgets, shared with the admin API that sets them.
    pub admission: Arc<admission::Admission>,
    /// Where they are counted (count, admit, meter): here, or once for all replicas in Redis.
    pub(crate) counters: counters::Counters,
    /// The GPU pools' schedulers (schedule).
    pub scheduling: Scheduling,
    /// Where usage, audit events and kept content leave the request path (meter).
    pub(crate) sinks: Sinks,
    pub(crate) metrics: Arc<Metrics>,
}

impl Gateway {
    /// Builds the state. Every endpoint must have a URL by now (the binary fills in the embedded
    /// simulator's address before calling this).
    #[expect(
        clippy::too_many_arguments,
        reason = "the shared parts the binary builds and hands over, one each"
    )]
    pub fn new(
        config: Arc<Config>,
        directory: Arc<Directory>,
        sign_in: Option<Arc<dyn access::SignIn>>,
        seats: Arc<seats::Seats>,
        sinks: Sinks,
        metrics: Arc<Metrics>,
        counters: counters::Counters,
        factory: Arc<factory::Live>,
    ) -> Result<Arc<Self>, InvalidEndpoints> {
        let no_endpoints = routing::Endpoints::new(
            Vec::new(),
            routing::CircuitPolicy {
                failures: config.routing.circuit_failures,
                open_for: config.routing.circuit_open,
            },
        );
        let scheduling = Scheduling::new(&config, &metrics, no_endpoints);
        let Compiled { configured, sizing } =
            Configured::compile(config, None, &scheduling, &metrics)?;
        scheduling.resize(sizing);
        Ok(Arc::new(Gateway {
            endpoints: Arc::new(ArcSwap::new(Arc::clone(&configured.routing.health))),
            configured: ArcSwap::from_pointee(configured),
            reloading: Mutex::new(()),
            reloaded: tokio::sync::Notify::new(),
            scheduling,
            factory,
            admission: Arc::clone(counters.admission()),
            counters,
            sinks,
            directory,
            sign_in,
            seats,
            metrics,
        }))
    }

    /// Compiles `config` for the requests that will arrive once it is put in force
    /// ([`Prepared::put_in_force`]): endpoints, models, model access, classification, data
    /// policies and use cases, retention, the response cache, `[routing]` and the scheduling
    /// settings, whole. An endpoint that cannot be called
    /// refuses it all, and nothing changes; dropping what this returns changes nothing either.
    /// One reload at a time: another waits until this one is put in force or dropped.
    pub fn prepare(&self, config: Arc<Config>) -> Result<Prepared<'_>, InvalidEndpoints> {
        let one_at_a_time = self.reloading.lock();
        let previous = self.configured.load_full();
        let compiled =
            Configured::compile(config, Some(&previous), &self.scheduling, &self.metrics)?;
        Ok(Prepared {
            gateway: self,
            compiled,
            _one_at_a_time: one_at_a_time,
        })
    }

    /// The request path's configuration in force (one atomic load).
    pub(crate) fn configured(&self) -> Arc<Configured> {
        self.configured.load_full()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.configured.load().config)
    }

    /// The endpoints' live state (health, circuits, requests in flight), shared read-only with
    /// the surfaces that show it (the admin API's pools): the set in force, which a reload swaps;
    /// they read snapshots, `Endpoints::status`.
    pub fn endpoints(&self) -> &Arc<ArcSwap<routing::Endpoints>> {
        &self.endpoints
    }

    /// Where rate limits and budgets are counted.
    pub fn counters(&self) -> &counters::Counters {
        &self.counters
    }

    /// Where records leave the request path: the surfaces beside it (the libraries' chat
    /// extension) hand their request-path audit events to the same sink.
    pub fn sinks(&self) -> &Sinks {
        &self.sinks
    }

    /// What the meter writes to, for a request of `configured`.
    pub(crate) fn meter<'a>(&'a self, configured: &'a Configured) -> Meter<'a> {
        Meter {
            sinks: &self.sinks,
            metrics: &self.metrics,
            counters: &self.counters,
            catalog: &configured.catalog,
            classifier: &configured.classifier,
        }
    }
}

/// A compiled configuration, not yet in force.
pub struct Prepared<'a> {
    gateway: &'a Gateway,
    compiled: Compiled,
    _one_at_a_time: MutexGuard<'a, ()>,
}

impl std::fmt::Debug for Prepared<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").finish_non_exhaustive()
    }
}

impl Prepared<'_> {
    /// Puts the configuration in force for the requests that arrive from now on. Requests in
    /// flight finish on the configuration they started with (see `configured`), but none is
    /// sent to an endpoint this one removed.
    pub fn put_in_force(self) {
        let Compiled { configured, sizing } = self.compiled;
        let gateway = self.gateway;
        gateway
            .endpoints
            .store(Arc::clone(&configured.routing.health));
        let next = Arc::clone(&configured.routing.health);
        let previous = gateway.configured.swap(Arc::new(configured));
        // A request that waited for a sequence under the previous configuration routes on it,
        // but never to an endpoint this one removed.
        previous.routing.health.retire_absent(&next);
        gateway.scheduling.resize(sizing);
        gateway.reloaded.notify_waiters();
    }
}
