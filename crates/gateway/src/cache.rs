//! Stage 9, cache: an answer this entity was already given for the same request, served again
//! at no GPU cost (`[cache]`, off unless models or use cases are named).
//!
//! The key is the request as the model would receive it — after the use case's composition and
//! the data policy's rewriting — with its top-level fields in any order, under the caller's
//! entity, use case, model and operation (SHA-256 of all of them): an answer is never shared
//! between entities, and a request that differs in anything the model reads misses. A stream is
//! cached as the events the caller received and replayed whole; a whole answer as its body.
//!
//! Not cached: FIM; an answer the policy rewrites on the way back (pseudonyms put back, output
//! rules), since it depends on more than the request; any answer but a complete success; an
//! answer over `max_entry_bytes`. A hit is metered as such (`cache_hit`, no tokens, no cost) and
//! skips admission, scheduling, routing and relaying.
//!
//! The map is in memory, bounded by `max_entries` (least recently used dropped first), each
//! answer served for `ttl_secs`. Its lock is held for one lookup or insertion, never across I/O.
//! Time is given to it (`now`), so expiry is tested exactly.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use configuration::CacheConfig;
use domain::{ModelIdx, Operation};
use identity::Principal;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wire::object::RawObject;

use crate::catalog::Catalog;

/// A request's key: SHA-256 of its entity, use case, model, operation and canonical body.
pub(crate) type Key = [u8; 32];

/// The response cache: what is cached, and the answers held.
#[derive(Debug)]
pub(crate) struct ResponseCache {
    /// `None` when nothing is cached.
    settings: Option<Settings>,
    held: Mutex<Held>,
}

#[derive(Debug)]
struct Settings {
    /// By model position: whether the model's requests are cached.
    models: Vec<bool>,
    use_cases: HashSet<String>,
    ttl: Duration,
    max_entries: usize,
    max_entry_bytes: usize,
}

/// The answers held, with their recency: a counter, not a clock.
#[derive(Debug, Default)]
struct Held {
    entries: HashMap<Key, Entry>,
    /// Stamp → key, oldest first: the eviction order.
    by_use: BTreeMap<u64, Key>,
    next_stamp: u64,
}

#[derive(Debug)]
struct Entry {
    answer: Bytes,
    stored_at: Instant,
    stamp: u64,
}

/// What stage 9 found for a request.
pub(crate) enum Lookup {
    /// The request is not cached.
    Off,
    /// Not held: the answer is kept under this key when it completes.
    Miss(Keeping),
    /// The answer held for the same request: a JSON body, or a stream's events.
    Hit(Bytes),
}

/// Where a missed request's answer goes once complete.
pub(crate) struct Keeping {
    cache: Arc<ResponseCache>,
    key: Key,
}

/// What the cache reads of a request.
pub(crate) struct Request<'a> {
    pub principal: &'a Principal,
    pub use_case: Option<&'a str>,
    pub model: ModelIdx,
    pub operation: Operation,
    pub object: &'a RawObject<'a>,
    /// The policy rewrites the answer on its way back.
    pub answer_filtered: bool,
}

impl ResponseCache {
    /// The cache `[cache]` describes, its model names resolved in the catalog.
    pub fn new(config: &CacheConfig, catalog: &Catalog) -> ResponseCache {
        let settings = config.is_enabled().then(|| {
            let mut models = vec![false; catalog.models().count()];
            for name in &config.models {
                if let Some(slot) = catalog.find(name).and_then(|m| models.get_mut(m.get())) {
                    *slot = true;
                }
            }
            Settings {
                models,
                use_cases: config.use_cases.iter().cloned().collect(),
                ttl: Duration::from_secs(config.ttl_secs),
                max_entries: config.max_entries,
                max_entry_bytes: config.max_entry_bytes,
            }
        });
        ResponseCache {
            settings,
            held: Mutex::new(Held::default()),
        }
    }

    /// Whether any model or use case is cached: when none is, stage 9 is skipped.
    pub fn is_on(&self) -> bool {
        self.settings.is_some()
    }

    /// Stage 9: the answer held for `request`, or where its answer is to be kept.
    pub fn look_up(self: &Arc<Self>, request: &Request<'_>, now: Instant) -> Lookup {
        let Some(settings) = &self.settings else {
            return Lookup::Off;
        };
        if !settings.applies(request) {
            return Lookup::Off;
        }
        let key = key(request);
        match self.get(&key, now) {
            Some(answer) => Lookup::Hit(answer),
            None => Lookup::Miss(Keeping {
                cache: Arc::clone(self),
                key,
            }),
        }
    }

    /// The answer under `key` while it lives, made the most recent; an expired one is dropped.
    fn get(&self, key: &Key, now: Instant) -> Option<Bytes> {
        let ttl = self.settings.as_ref()?.ttl;
        let mut held = self.held.lock();
        let entry = held.entries.get(key)?;
        if now.saturating_duration_since(entry.stored_at) >= ttl {
            held.remove(key);
            return None;
        }
        let answer = entry.answer.clone();
        held.touch(key);
        Some(answer)
    }

    /// Keeps `answer` under `key` from `now`, dropping the least recently used past the bound.
    fn put(&self, key: Key, answer: Bytes, now: Instant) {
        let Some(settings) = &self.settings else {
            return;
        };
        if answer.len() > settings.max_entry_bytes {
            return;
        }
        let mut held = self.held.lock();
        held.insert(key, answer, now, settings.max_entries);
    }

    /// How many answers are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.lock().entries.len()
    }
}

impl Settings {
    fn applies(&self, request: &Request<'_>) -> bool {
        let cached_operation = match request.operation {
            Operation::Chat | Operation::Embeddings | Operation::Rerank => true,
            Operation::Fim => false,
        };
        let named = self.models.get(request.model.get()).copied() == Some(true)
            || request.use_case.is_some_and(|u| self.use_cases.contains(u));
        cached_operation && named && !request.answer_filtered
    }
}

impl Held {
    fn insert(&mut self, key: Key, answer: Bytes, now: Instant, max_entries: usize) {
        let stamp = self.stamp();
        let entry = Entry {
            answer,
            stored_at: now,
            stamp,
        };
        if let Some(previous) = self.entries.insert(key, entry) {
            self.by_use.remove(&previous.stamp);
        }
        self.by_use.insert(stamp, key);
        while self.entries.len() > max_entries {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    fn touch(&mut self, key: &Key) {
        let stamp = self.stamp();
        if let Some(entry) = self.entries.get_mut(key) {
            self.by_use.remove(&entry.stamp);
            entry.stamp = stamp;
            self.by_use.insert(stamp, *key);
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_use.remove(&entry.stamp);
        }
    }

    fn stamp(&mut self) -> u64 {
        self.next_stamp += 1;
        self.next_stamp
    }
}

/// The request's key. Top-level fields are taken in name order, so their order in the body does
/// not matter; each is separated by its length, so no two requests hash alike by running
/// together.
fn key(request: &Request<'_>) -> Key {
    let mut hash = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    let entity = request.principal.entity_id.map(|id| id.to_string());
    part(entity.as_deref().unwrap_or("").as_bytes());
    part(request.use_case.unwrap_or("").as_bytes());
    part(&(request.model.get() as u64).to_le_bytes());
    part(request.operation.as_str().as_bytes());
    let mut fields: smallvec::SmallVec<[_; 16]> = request.object.fields().collect();
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (name, value) in fields {
        part(name.as_bytes());
        part(value.get().as_bytes());
    }
    hash.finalize().into()
}

impl Keeping {
    /// Keeps a whole answer that succeeded.
    pub fn keep_whole(self, answer: &Bytes) {
        self.cache.put(self.key, answer.clone(), Instant::now());
    }

    /// Records a stream's events, kept when it ends with `[DONE]`.
    pub fn record(self) -> Recording {
        Recording {
            keeping: self,
            events: BytesMut::new(),
        }
    }
}

/// A stream's events as the caller receives them, kept if it completes within the size bound.
pub(crate) struct Recording {
    keeping: Keeping,
    events: BytesMut,
}

impl Recording {
    /// Adds relayed bytes; `false` once the stream outgrew what the cache keeps (then drop it).
    pub fn add(&mut self, relayed: &[u8]) -> bool {
        let bound = self.keeping.cache.settings.as_ref();
        let room = bound.map_or(0, |s| s.max_entry_bytes);
        if self.events.len() + relayed.len() > room {
            return false;
        }
        self.events.extend_from_slice(relayed);
        true
    }

    /// The stream completed: its events are kept.
    pub fn complete(self) {
        let Keeping { cache, key } = self.keeping;
        cache.put(key, self.events.freeze(), Instant::now());
    }
}

#[cfg(test)]
mod tests;
