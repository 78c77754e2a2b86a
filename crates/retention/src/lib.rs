//! Prompt and completion content kept for entities whose retention is `full`:
//! captured by the gateway at its meter stage, handed over through a bounded channel
//! ([`ContentSink`], the `usage` crate's batch writer), sealed and stored in batches off the
//! request path; read back decrypted for investigations; deleted by age ([`ContentStore::purge`]).
//!
//! Keys (`vault`): the configured master key unwraps each entity's data key (created on the
//! entity's first record, cached unwrapped for the process's life); the data key unwraps the
//! owner's content key (created on their first record, unwrapped per batch and dropped after it,
//! so an erasure is never undone by a cache). The wrapped content keys are kept by a
//! [`KeyCustody`]: the database, or a directory outside it (`[retention] content_key_dir`), so
//! that an erasure reaches database backups too. Erasure deletes the content key and the records and
//! writes the owner's tombstone (`erased_at`) in one store transaction
//! (`store::Store::erase_content`); a record captured at or before that instant — a stream still
//! running at the erasure, a batch in flight — is dropped by the writer before any key is read or
//! made, and refused by the insert's own statement if the erasure commits in between.
//!
//! # In detail
//!
//! Content kept for `full` entities. `Captured` (what the gateway hands over) is a `usage::Record`
//! whose target is `ContentStore`; its record's id is given at capture ([`record_id`]), so a batch
//! the writer tries again after its commit's answer was lost is stored once (the store keeps the
//! first record of an id): per batch, each owner's content key is read (or created) and
//! unwrapped once, then dropped — never cached across batches, so an erasure is never undone by a
//! cache; entities' data keys are unwrapped once per process. `read` opens an owner's records (a
//! record that does not open is reported unreadable, not an error); `purge(now, actor)` deletes what
//! is older than each entity's `days`, and everything of entities not (or no longer) `full`; the
//! binary runs it hourly (`fabrique::retention`), group administrators on demand.
//! `RetentionPolicies` answers an entity's mode by slug with one map lookup. **Erasure** is
//! crypto-shredding: the content key's row goes, with the records and a tombstone, in one
//! transaction; content captured up to the tombstone's instant is never written afterwards, under
//! any key. Service accounts' content is kept under their own content key; erasure is per
//! user. **Invariant:** nothing of this runs on the request path; the master key never reaches the
//! store.
//!
//! Usage records are not content: `[retention] raw_usage_days` deletes raw usage records once
//! their hours are rolled up, which the binary's roll-up job does (`fabrique::rollups`,
//! `store::Store::delete_raw_usage`); the roll-ups and the audit chain stay. Likewise
//! `[retention] hourly_rollup_days` (at least 32 days: the console's 30-day charts start inside a
//! day and read its hours) deletes the hourly roll-ups of days already summed into the daily ones
//! (`store::Store::delete_hourly_rollups`); the daily roll-ups and the audit chain stay, reports
//! give the same sums, and one that cuts such a day reads its hours from raw records, or is
//! refused (400) once those are gone too.

mod custody;

use std::collections::HashMap;
use std::sync::Arc;

use configuration::{Config, Retention};
use domain::{EntityId, KeyOwner, Operation, UnixMillis};
use parking_lot::Mutex;
use store::{ContentRecord, Erased, Purged, Store, StoreError};
use vault::{ContentKey, DataKey, MasterKey, RecordBinding};

pub use custody::{InDatabase, KeyCustody, KeyDirectory};

/// Records waiting for the writer; content is large, so the line is shorter than usage's. When
/// it is full the sink drops the record and counts it (`content_records_dropped`).
const QUEUE_CAPACITY: usize = 10_000;

const DAY_MS: i64 = 86_400_000;

/// The actor of the periodic purge.
pub const SYSTEM_ACTOR: &str = "system";

/// One request's content as the gateway captured it.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Its record's id ([`record_id`]), given at capture: a batch the writer tries again (its
    /// commit's answer lost) carries the same ids, and the store keeps the first of each.
    pub id: String,
    pub request_id: String,
    pub at: UnixMillis,
    pub entity_id: EntityId,
    pub owner: KeyOwner,
    pub operation: Operation,
    pub model: String,
    /// The input as the caller sent it, as JSON: chat `messages`, or FIM `{"prompt", "suffix"}`.
    pub input: String,
    /// The completion text relayed to the caller (every choice, in order).
    pub completion: String,
}

/// The request path's handle: never waits.
pub type ContentSink = usage::Sink<Captured>;

/// A new content record's id, `cnt_` and a UUIDv7: unique, and bound into the record's sealing.
pub fn record_id() -> String {
    format!("cnt_{}", uuid::Uuid::now_v7().simple())
}

impl usage::Record for Captured {
    const KIND: &'static str = "content";
    const QUEUE_CAPACITY: usize = QUEUE_CAPACITY;
    type Target = Arc<ContentStore>;
    fn write(
        target: &Arc<ContentStore>,
        batch: &[Self],
        // Content is never journaled: it would put prompts on disk unsealed.
        _: Option<usage::Through>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        target.write(batch)
    }
}

/// Each entity's retention, looked up by slug without a scan.
#[derive(Debug, Clone, Default)]
pub struct RetentionPolicies {
    default: Retention,
    by_entity: HashMap<String, Retention>,
}

impl RetentionPolicies {
    pub fn new(config: &Config) -> Self {
        RetentionPolicies {
            default: config.retention.default,
            by_entity: config
                .entities
                .iter()
                .filter_map(|seed| Some((seed.slug.clone(), seed.retention?)))
                .collect(),
        }
    }

    /// The entity's retention; callers without an entity (group service accounts) get the
    /// group's default.
    pub fn of(&self, entity_slug: Option<&str>) -> Retention {
        entity_slug
            .and_then(|slug| self.by_entity.get(slug))
            .copied()
            .unwrap_or(self.default)
    }
}

/// A record read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadContent {
    pub id: String,
    pub request_id: String,
    pub created_at: UnixMillis,
    pub operation: Operation,
    pub model: String,
    /// `{"input": …, "completion": "…"}`, or `None` when it no longer opens.
    pub content: Option<serde_json::Value>,
}

/// Seals, stores, reads and purges content.
pub struct ContentStore {
    store: Store,
    master: Option<MasterKey>,
    policies: RetentionPolicies,
    data_keys: Mutex<HashMap<EntityId, DataKey>>,
    /// Where the owners' content keys are kept: the database, or `[retention] content_key_dir`.
    keys: Box<dyn KeyCustody>,
}

impl std::fmt::Debug for ContentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentStore")
            .field("master", &self.master.as_ref().map(|_| "<configured>"))
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl ContentStore {
    /// The content store, its keys kept where `[retention] content_key_dir` says; keys still
    /// in the database move to that directory first.
    pub async fn open(store: Store, config: &Config) -> Result<Arc<ContentStore>, StoreError> {
        let keys: Box<dyn KeyCustody> = match &config.retention.content_key_dir {
            Some(dir) => {
                let directory = KeyDirectory::open(dir)?;
                let moved = directory.take_over_from(&store).await?;
                if moved > 0 {
                    tracing::info!(moved, dir = %dir.display(), "content keys moved out of the database");
                }
                Box::new(directory)
            }
            None => Box::new(InDatabase(store.clone())),
        };
        Ok(Arc::new(ContentStore {
            store,
            master: config.retention.master_key.as_ref().map(|m| m.key.clone()),
            policies: RetentionPolicies::new(config),
            data_keys: Mutex::new(HashMap::new()),
            keys,
        }))
    }

    /// Starts the batch writer; the sink goes to the gateway, `on_loss` counts what is lost.
    pub fn start_writer(self: &Arc<Self>, on_loss: usage::OnLoss) -> (ContentSink, usage::Writer) {
        usage::start_writer(Arc::clone(self), on_loss)
    }

    pub fn policies(&self) -> &RetentionPolicies {
        &self.policies
    }

    /// Seals and stores a batch, all or nothing.
    pub async fn write(&self, batch: &[Captured]) -> Result<(), StoreError> {
        let Some(master) = &self.master else {
            // Configuration refuses `full` without a master key, so this is not reached.
            tracing::error!(
                records = batch.len(),
                "content dropped: no master key configured"
            );
            return Ok(());
        };
        let mut content_keys: HashMap<KeyOwner, ContentKey> = HashMap::new();
        let mut erased: HashMap<KeyOwner, Option<UnixMillis>> = HashMap::new();
        let mut records = Vec::with_capacity(batch.len());
        for captured in batch {
            // Captured before its owner's erasure (a stream that outlived it): never written, and
            // no key is made for it. The insert checks again, in its own statement.
            let erased_at = match erased.get(&captured.owner) {
                Some(at) => *at,
                None => {
                    let at = self.store.content_erased_at(captured.owner).await?;
                    *erased.entry(captured.owner).or_insert(at)
                }
            };
            if erased_at.is_some_and(|erased_at| captured.at <= erased_at) {
                continue;
            }
            let key = match content_keys.get(&captured.owner) {
                Some(key) => key.clone(),
                None => {
                    let key = self
                        .content_key_for_writing(master, captured.owner, captured.entity_id)
                        .await?;
                    content_keys.insert(captured.owner, key.clone());
                    key
                }
            };
            records.push(seal(&key, captured));
        }
        self.store.insert_content(&records).await
    }

    /// The owner's records in `[from, to)`, opened; at most `limit`.
    pub async fn read(
        &self,
        owner: KeyOwner,
        from: UnixMillis,
        to: UnixMillis,
        limit: u32,
    ) -> Result<Vec<ReadContent>, StoreError> {
        let records = self.store.content_of(owner, from, to, limit).await?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let key = match (&self.master, self.keys.get(owner).await?) {
            (Some(master), Some((entity, wrapped))) => {
                let data_key = self.data_key(master, entity).await?;
                data_key
                    .unwrap(&entity.to_string(), &owner_label(owner), &wrapped)
                    .inspect_err(|error| tracing::warn!(%error, "a content key does not open"))
                    .ok()
            }
            _ => None,
        };
        Ok(records
            .into_iter()
            .map(|record| {
                let content = key.as_ref().and_then(|key| open(key, &record));
                ReadContent {
                    id: record.id,
                    request_id: record.request_id,
                    created_at: record.created_at,
                    operation: record.operation,
                    model: record.model,
                    content,
                }
            })
            .collect())
    }

    /// Deletes content past its entity's retention at `now`: older than `days` for `full`
    /// entities, all of it for entities that no longer keep content. Audited as
    /// `retention.purge` by `actor` (`system` for the periodic job, audited only when it deleted
    /// something). Content a legal hold covers is kept, and counted.
    pub async fn purge(&self, now: UnixMillis, actor: &str) -> Result<Purged, StoreError> {
        let cutoffs: Vec<(EntityId, UnixMillis)> = self
            .store
            .list_entities()
            .await?
            .into_iter()
            .map(|entity| {
                let before = match self.policies.of(Some(&entity.slug)) {
                    Retention::Full { days } => now.saturating_sub(i64::from(days) * DAY_MS),
                    Retention::None | Retention::Metadata => UnixMillis::MAX,
                };
                (entity.id, before)
            })
            .collect();
        let audit = domain::AuditEvent {
            at: domain::now_millis(),
            actor: actor.to_owned(),
            action: domain::AuditAction::RetentionPurge,
            entity_id: None,
            target: "content".to_owned(),
            outcome: domain::Outcome::Success,
            detail: String::new(),
        };
        let purged = self
            .store
            .purge_content(&cutoffs, &audit, actor != SYSTEM_ACTOR)
            .await?;
        if purged.deleted > 0 || purged.held > 0 {
            tracing::info!(
                deleted = purged.deleted,
                held = purged.held,
                "content past its retention deleted, but for what legal holds keep"
            );
        }
        Ok(purged)
    }

    /// Erases the owner's content: their content key wherever it is kept, then their records,
    /// conversations and tombstone in one store transaction with `audit`
    /// (`Store::erase_content`). The key goes first so that a failure in between leaves records
    /// nobody can open, never a key; erasing again finds nothing more and succeeds.
    pub async fn erase(
        &self,
        owner: KeyOwner,
        audit: &domain::AuditEvent,
    ) -> Result<Erased, StoreError> {
        let destroyed = self.keys.destroy(owner).await?;
        self.store
            .erase_content(owner, u64::from(destroyed), audit)
            .await
    }

    /// The owner's content key to seal with, created on first use; `None` without a master key.
    /// The chat seals conversations with it, so erasing the owner erases them too.
    pub async fn sealing_key(
        &self,
        owner: KeyOwner,
        entity: EntityId,
    ) -> Result<Option<ContentKey>, StoreError> {
        match &self.master {
            Some(master) => Ok(Some(
                self.content_key_for_writing(master, owner, entity).await?,
            )),
            None => Ok(None),
        }
    }

    /// The owner's content key to open with; `None` when it was erased (or never made) or no
    /// master key is configured.
    pub async fn opening_key(&self, owner: KeyOwner) -> Result<Option<ContentKey>, StoreError> {
        let (Some(master), Some((entity, wrapped))) = (&self.master, self.keys.get(owner).await?)
        else {
            return Ok(None);
        };
        let data_key = self.data_key(master, entity).await?;
        Ok(data_key
            .unwrap(&entity.to_string(), &owner_label(owner), &wrapped)
            .ok())
    }

    async fn content_key_for_writing(
        &self,
        master: &MasterKey,
        owner: KeyOwner,
        entity: EntityId,
    ) -> Result<ContentKey, StoreError> {
        let (entity, wrapped) = match self.keys.get(owner).await? {
            Some(stored) => stored,
            None => {
                let data_key = self.data_key(master, entity).await?;
                let wrapped = data_key.wrap(
                    &entity.to_string(),
                    &owner_label(owner),
                    &ContentKey::generate(),
                );
                self.keys
                    .create(owner, entity, &wrapped, domain::now_millis())
                    .await?
            }
        };
        self.data_key(master, entity)
            .await?
            .unwrap(&entity.to_string(), &owner_label(owner), &wrapped)
            .map_err(|error| {
                StoreError::Corrupt(format!("content key of {}: {error}", owner_label(owner)))
            })
    }

    /// The entity's data key, unwrapped once and cached; created on first use.
    async fn data_key(&self, master: &MasterKey, entity: EntityId) -> Result<DataKey, StoreError> {
        if let Some(key) = self.data_keys.lock().get(&entity) {
            return Ok(key.clone());
        }
        let wrapped = match self.store.entity_data_key(entity).await? {
            Some(wrapped) => wrapped,
            None => {
                let wrapped = master.wrap(&entity.to_string(), &DataKey::generate());
                self.store
                    .create_entity_data_key(entity, &wrapped, domain::now_millis())
                    .await?
            }
        };
        let key = master.unwrap(&entity.to_string(), &wrapped).map_err(|error| {
            StoreError::Corrupt(format!(
                "the data key of entity {entity} does not open under the configured master key: {error}"
            ))
        })?;
        self.data_keys.lock().insert(entity, key.clone());
        Ok(key)
    }
}

/// The owner as bound into the sealing: `user:usr_…` or `service_account:sa_…`.
fn owner_label(owner: KeyOwner) -> String {
    match owner {
        KeyOwner::User(id) => format!("user:{id}"),
        KeyOwner::ServiceAccount(id) => format!("service_account:{id}"),
    }
}

fn seal(key: &ContentKey, captured: &Captured) -> ContentRecord {
    let id = captured.id.clone();
    let entity = captured.entity_id.to_string();
    let owner = owner_label(captured.owner);
    let binding = RecordBinding {
        record_id: &id,
        entity_id: &entity,
        owner: &owner,
    };
    // `input` is a JSON value as the caller sent it; only the completion needs quoting.
    let completion = serde_json::Value::String(captured.completion.clone());
    let plain = format!(
        r#"{{"input":{},"completion":{completion}}}"#,
        captured.input
    );
    ContentRecord {
        sealed: key.seal(&binding, plain.as_bytes()),
        id,
        request_id: captured.request_id.clone(),
        created_at: captured.at,
        entity_id: captured.entity_id,
        owner: captured.owner,
        operation: captured.operation,
        model: captured.model.clone(),
    }
}

fn open(key: &ContentKey, record: &ContentRecord) -> Option<serde_json::Value> {
    let entity = record.entity_id.to_string();
    let owner = owner_label(record.owner);
    let binding = RecordBinding {
        record_id: &record.id,
        entity_id: &entity,
        owner: &owner,
    };
    let plain = key
        .open(&binding, &record.sealed)
        .inspect_err(
            |error| tracing::warn!(record = %record.id, %error, "a content record does not open"),
        )
        .ok()?;
    serde_json::from_slice(&plain).ok()
}
