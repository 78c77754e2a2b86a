//! The set of pools, by name.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::pool::{Pool, WaitObserver};
use crate::settings::{InvalidSettings, PoolSettings};

/// Every pool's scheduling, built from the configuration's pools. A reloaded configuration adds
/// the pools it names for the first time and forgets those it no longer names; capacities and
/// shares change at run time through each `Pool`.
#[derive(Debug, Default)]
pub struct Scheduler {
    pools: RwLock<HashMap<String, Pool>>,
}

impl Scheduler {
    /// One pool per `(name, settings)`; `observer`, when given, hears every dispatched request's wait.
    pub fn new(
        pools: impl IntoIterator<Item = (String, PoolSettings)>,
        observer: Option<WaitObserver>,
    ) -> Result<Self, InvalidSettings> {
        let mut built = HashMap::new();
        for (name, settings) in pools {
            if built.contains_key(&name) {
                return Err(InvalidSettings::DuplicatePool(name));
            }
            let pool = Pool::new(name.clone(), settings, observer.clone())?;
            built.insert(name, pool);
        }
        Ok(Scheduler {
            pools: RwLock::new(built),
        })
    }

    /// The pool of this name: resolve it once (e.g. per model when the model table is loaded) and
    /// keep the handle, so the request path does no lookup by name.
    pub fn pool(&self, name: &str) -> Option<Pool> {
        self.pools.read().get(name).cloned()
    }

    /// The set of pools becomes `pools`, for a reloaded configuration: a pool it keeps is the same
    /// (its line, shares and counters whole). A pool it drops is only forgotten here: the requests
    /// that hold or wait for one of its sequences keep their handle, and are served and released
    /// there as before.
    pub fn replace(&self, pools: impl IntoIterator<Item = Pool>) {
        let pools = pools
            .into_iter()
            .map(|pool| (pool.name().to_owned(), pool))
            .collect();
        *self.pools.write() = pools;
    }

    /// Every pool, in no particular order.
    pub fn pools(&self) -> Vec<Pool> {
        self.pools.read().values().cloned().collect()
    }
}
