//! The registry as the request path reads it: every use case's access rules and priority, and its
//! deployed versions, ready to invoke (output schemas compiled). Built from the store's rows by
//! whoever loads them, and swapped whole ([`Live::replace`]) after each change, so a request reads
//! one consistent snapshot without a lock. Loads overlap (the admin API's after each change, the
//! watcher's on its tick), so each takes a [`Reload`] ticket before it reads the store, and a load
//! that began before the installed one is dropped: a slow stale read never undoes a deployment.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use domain::{Classification, ClassificationLadder, Priority};
use serde_json::Value;

use crate::registry::{Allowed, UseCase, Version, VersionSpec, VersionState};
use crate::rollout::{self, Arm};

/// The live registry, shared by the gateway (reads) and the admin API (swaps).
#[derive(Debug, Default)]
pub struct Live {
    current: ArcSwap<Snapshot>,
    /// The deployment's classification ladder, which use cases' levels are read against once, at
    /// load, so a request compares ranks and parses no name.
    ladder: ClassificationLadder,
    /// Tickets handed out, in the order loads began.
    reloads: AtomicU64,
    /// The ticket of the installed snapshot (held only to compare and swap, never across I/O).
    installed: Mutex<u64>,
}

/// Taken before a load reads the store; orders it among overlapping loads.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Reload(u64);

#[derive(Debug, Default)]
struct Snapshot {
    by_slug: HashMap<String, Arc<LiveUseCase>>,
}

/// One use case, as the request path needs it.
#[derive(Debug)]
pub struct LiveUseCase {
    pub slug: Arc<str>,
    /// What people call it (the chat lists it by this name) and what it is for.
    pub name: Arc<str>,
    pub purpose: Arc<str>,
    pub allowed: Allowed,
    pub priority: Option<Priority>,
    /// The level its requests are classified at, at least. A name the ladder no longer holds
    /// reads as its highest level, so a use case never gets less protection than it states.
    pub level: Option<Classification>,
    /// Its data policy as written, which the gateway lays over the caller's entity's.
    pub policy: Option<Arc<Value>>,
    /// Owned by the group (no owning entity): the group's own accounts are its owner's callers.
    pub group_owned: bool,
    /// Declared in `[[use_cases]]`: who may label requests with it is the configuration's to say.
    pub declared: bool,
    /// Deployed versions, by number.
    versions: HashMap<u32, Arc<LiveVersion>>,
    arms: Vec<Arm>,
}

/// A deployed version, ready to invoke.
#[derive(Debug)]
pub struct LiveVersion {
    pub number: u32,
    pub spec: VersionSpec,
    /// The output schema, compiled.
    validator: Option<jsonschema::Validator>,
    /// Only these entities' callers, when the version's rollout names some.
    entities: Option<Vec<String>>,
}

/// A use case and the version a call goes to.
#[derive(Debug, Clone)]
pub struct Invocable {
    pub use_case: Arc<LiveUseCase>,
    pub version: Arc<LiveVersion>,
}

/// Why a call cannot invoke a use case. Every case answers as if the use case did not exist, so
/// callers learn nothing of other entities' use cases nor of versions not in service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not registered, not deployed (to this entity), not allowed to this caller, or a version
    /// that is not in service.
    NotFound,
}

/// Who is calling, as far as the registry's access rules go.
#[derive(Debug, Clone, Copy)]
pub struct CallerView<'a> {
    /// The caller's entity slug; `None` for group-level service accounts.
    pub entity: Option<&'a str>,
    /// Whether the caller's key is scoped to models, and if so whether it names `usecase/<slug>`.
    pub key_scope: KeyScope,
    /// What keeps the caller on one version: the user id, else the key id.
    pub sticky: &'a str,
}

/// A key's model scope, as it concerns one use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    /// The key is not scoped: its entity decides.
    Unscoped,
    /// The key's scope names `usecase/<slug>`.
    Names,
    /// The key is scoped to other models only.
    Excludes,
}

impl LiveUseCase {
    /// Whether the caller may invoke (or label a request with) the use case: a caller of an
    /// allowed entity whose key, if scoped, names it; a group-level key scoped to it; or, as the
    /// owning entity's callers always are, a group-level caller of a use case the group owns
    /// (its evaluation runs call as the group's evaluator account).
    pub fn admits(&self, caller: &CallerView<'_>) -> bool {
        match caller.key_scope {
            KeyScope::Excludes => false,
            KeyScope::Names if caller.entity.is_none() => true,
            KeyScope::Names | KeyScope::Unscoped => {
                self.allowed.admits(caller.entity) || (self.group_owned && caller.entity.is_none())
            }
        }
    }
}

impl LiveVersion {
    /// Checks a structured answer against the version's output schema; the first violation, when
    /// there is one. Versions without a schema accept anything.
    pub fn check_output(&self, answer: &Value) -> Result<(), String> {
        match &self.validator {
            Some(validator) => validator.validate(answer).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    pub fn has_output_schema(&self) -> bool {
        self.validator.is_some()
    }
}

/// Compiles an output schema; the error says what is wrong with it.
pub fn compile_schema(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| e.to_string())
}

impl Live {
    /// An empty registry whose use cases' levels are read against `ladder`.
    pub fn new(ladder: ClassificationLadder) -> Live {
        Live {
            ladder,
            ..Live::default()
        }
    }

    /// A ticket for a load about to read the store.
    pub fn begin_reload(&self) -> Reload {
        Reload(self.reloads.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Replaces the snapshot with one built from `use_cases` and their versions, read after
    /// `reload` was taken — unless a load that began later is installed already, whose read is
    /// at least as recent. Returns whether it was installed.
    pub fn replace(&self, reload: Reload, use_cases: &[(UseCase, Vec<Version>)]) -> bool {
        let by_slug = use_cases
            .iter()
            .map(|(use_case, versions)| {
                (
                    use_case.slug.clone(),
                    Arc::new(live_use_case(use_case, versions, &self.ladder)),
                )
            })
            .collect();
        let mut installed = self
            .installed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if reload.0 < *installed {
            return false;
        }
        *installed = reload.0;
        self.current.store(Arc::new(Snapshot { by_slug }));
        true
    }

    /// The registered use case `slug`, deployed or not.
    pub fn use_case(&self, slug: &str) -> Option<Arc<LiveUseCase>> {
        self.current.load().by_slug.get(slug).cloned()
    }

    /// Every use case this caller may invoke now, with the version a call would go to, by slug:
    /// what the chat offers a person as assistants.
    pub fn invocable_by(&self, caller: &CallerView<'_>) -> Vec<Invocable> {
        let snapshot = self.current.load();
        let mut invocable: Vec<Invocable> = snapshot
            .by_slug
            .keys()
            .filter_map(|slug| self.invoke(slug, caller).ok())
            .collect();
        invocable.sort_by(|a, b| a.use_case.slug.cmp(&b.use_case.slug));
        invocable
    }

    /// The version a call to `target` (`<slug>` or `<slug>@<version>`, the model name after
    /// `usecase/`) goes to, for this caller.
    pub fn invoke(&self, target: &str, caller: &CallerView<'_>) -> Result<Invocable, Refusal> {
        let (slug, pinned) = match target.split_once('@') {
            Some((slug, number)) => (
                slug,
                Some(number.parse::<u32>().map_err(|_| Refusal::NotFound)?),
            ),
            None => (target, None),
        };
        let use_case = self.use_case(slug).ok_or(Refusal::NotFound)?;
        if !use_case.admits(caller) {
            return Err(Refusal::NotFound);
        }
        let number = match pinned {
            Some(number) => number,
            None => rollout::choose(&use_case.arms, slug, caller.entity, caller.sticky)
                .ok_or(Refusal::NotFound)?,
        };
        let version = use_case
            .versions
            .get(&number)
            .filter(|v| {
                v.entities
                    .as_ref()
                    .is_none_or(|only| caller.entity.is_some_and(|e| only.iter().any(|s| s == e)))
            })
            .cloned()
            .ok_or(Refusal::NotFound)?;
        Ok(Invocable { use_case, version })
    }
}

fn live_use_case(
    use_case: &UseCase,
    versions: &[Version],
    ladder: &ClassificationLadder,
) -> LiveUseCase {
    let deployed: Vec<&Version> = versions
        .iter()
        .filter(|v| v.state == VersionState::Deployed && !use_case.retired)
        .collect();
    let arms = deployed
        .iter()
        .map(|v| Arm {
            version: v.number,
            weight: v.weight,
            entities: v.rollout_entities.clone(),
        })
        .collect();
    let versions = deployed
        .into_iter()
        .map(|v| {
            let validator = v.spec.output_schema.as_ref().and_then(|schema| {
                // Schemas are checked when a version is saved; one that no longer compiles
                // (a newer validator) is logged by the loader and checks nothing.
                compile_schema(schema).ok()
            });
            let live = LiveVersion {
                number: v.number,
                spec: v.spec.clone(),
                validator,
                entities: v.rollout_entities.clone(),
            };
            (v.number, Arc::new(live))
        })
        .collect();
    LiveUseCase {
        slug: use_case.slug.as_str().into(),
        name: use_case.name.as_str().into(),
        purpose: use_case.purpose.as_str().into(),
        allowed: use_case.allowed.clone(),
        priority: use_case.priority,
        level: use_case
            .classification
            .as_deref()
            .map(|name| ladder.parse(name).unwrap_or(ladder.highest())),
        policy: use_case.policy.clone().map(Arc::new),
        group_owned: use_case.owner_entity.is_none(),
        declared: use_case.source == crate::registry::CONFIGURATION_SOURCE,
        versions,
        arms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_began_before_the_installed_one_is_dropped() {
        let live = Live::new(ClassificationLadder::default());
        let watcher = live.begin_reload();
        let after_deploy = live.begin_reload();
        assert!(live.replace(after_deploy, &[]));
        assert!(
            !live.replace(watcher, &[]),
            "the older read would undo the deployment"
        );
        let next = live.begin_reload();
        assert!(live.replace(next, &[]));
    }
}
