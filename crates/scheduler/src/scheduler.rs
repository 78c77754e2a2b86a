//! The set of pools, by name.

use std::collections::HashMap;

use crate::pool::{Pool, WaitObserver};
use crate::settings::{InvalidSettings, PoolSettings};

/// Every pool's scheduling, built once from the configuration's pools. The set of pools is fixed;
/// capacities and shares change at run time through each `Pool`.
#[derive(Debug, Default)]
pub struct Scheduler {
    pools: HashMap<String, Pool>,
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
        Ok(Scheduler { pools: built })
    }

    /// The pool of this name: resolve it once (e.g. per model when the model table is loaded) and
    /// keep the handle, so the request path does no lookup by name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.get(name)
    }

    pub fn pools(&self) -> impl Iterator<Item = &Pool> {
        self.pools.values()
    }
}
