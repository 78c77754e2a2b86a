//! Libraries and their documents: creation, ingestion (read → chunk → data policy on personal
//! data → embed → index → store), search and deletion, over the store and the embedded index.
//!
//! Who may do what is not decided here: the surfaces ask Cedar (`admin`) before calling, and
//! hand in the caller's [`Reader`] tags, which the index applies inside the search.
//!
//! Embeddings are asked of the gateway ([`Embedder`], which the binary implements over the
//! pipeline): as the caller, at `batch` priority when ingesting, labelled with the library's
//! classification, so they are metered, scheduled fairly and only reach cleared endpoints.
//!
//! **Every replica its own index, built from the store.** The store keeps each chunk's text and
//! embedding, so an index is built from it without embedding anything again: [`Libraries::load`]
//! and [`Libraries::sync`] (which a replica runs on each `libraries` change notice, and every
//! full refresh) reload the libraries held in memory, index the stored documents the index lacks
//! and delete from it those the store no longer holds (deleted through another replica, or by
//! its retention). The load compares every stored document; a later sync reads only the store's
//! change log after its cursor (documents added and deleted since), so a notice costs what
//! changed, not the size of the libraries. An index directory lost is rebuilt at the next start. Ingestion, deletion and
//! a sync take one lock for their index-and-store part (never for reading, extracting or
//! embedding, never for a search), so a sync never sees a document in the index that the store
//! is about to hold, and deletes nothing being added. Chunks stored before embeddings were kept
//! have theirs written from the index at load, where this replica's index holds them.
//!
//! With a reranker ([`Reranking`], `[libraries] reranker`), a search takes more candidates from
//! the index than it was asked for and has the reranker ([`Reranker`], also the gateway's, asked
//! the same way as the question's embedding) keep the best, in its order and with its scores.
//! Without one, the index's fused order stands.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use domain::{AuditEvent, now_millis};
use identity::{Directory, Principal};
use policy::{ActionTable, Detector, InputAction, PiiType, Pseudonyms, TypeCounts, rewrite};
use sha2::{Digest, Sha256};
use store::{Store, StoredChunk, StoredDocument, StoredLibrary};

use crate::chunk::chunks;
use crate::extract::{Kind, Unreadable, extract};
use crate::index::{Hit, Index, IndexError, IndexedChunk, Search, Semantic};

/// Texts embedded per call.
const EMBED_BATCH: usize = 32;
/// Chunks indexed per commit when documents are indexed from the store.
const SYNC_BATCH: usize = 2_000;

/// How long the store's change log is kept: far beyond a replica's refresh (30 s), so only a
/// replica out of touch that long compares its index in full again.
pub const CHANGES_KEPT_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Whose credentials an embedding is asked with, and how urgently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Ingestion: the `batch` priority class.
    Batch,
    /// A question's embedding: the caller's own priority.
    Caller,
}

/// Embeddings through the gateway's own models.
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// The embeddings of `texts` by `model`, asked with the caller's `credentials` (their
    /// `Authorization` or session headers) at `urgency`, labelled `classification`.
    async fn embed(
        &self,
        credentials: &http::HeaderMap,
        model: &str,
        classification: &str,
        urgency: Urgency,
        texts: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, String>;
}

/// Reranking through the gateway's own models.
#[async_trait::async_trait]
pub trait Reranker: Send + Sync {
    /// The positions in `documents` of the `top_n` most relevant to `query` by `model`, most
    /// relevant first, each with its score; asked with the caller's `credentials`, labelled
    /// `classification`.
    async fn rerank(
        &self,
        credentials: &http::HeaderMap,
        model: &str,
        classification: &str,
        query: &str,
        documents: Vec<String>,
        top_n: usize,
    ) -> Result<Vec<(usize, f64)>, String>;
}

/// A reranker and how it is used (`[libraries]`).
pub struct Reranking {
    pub reranker: Arc<dyn Reranker>,
    /// The model of kind `rerank` asked.
    pub model: String,
    /// The passages taken from the index for the reranker to score, at least the search's limit.
    pub candidates: usize,
}

/// What the personal-data policy does with a document at ingestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonalData {
    /// Index as it is, noting on the document that personal data was found.
    #[default]
    Flag,
    /// Replace each value found by a marker (`[REDACTED_EMAIL]`) before anything is stored.
    Redact,
    /// Refuse a document holding personal data.
    Refuse,
}

impl PersonalData {
    /// The rule as a data policy's actions, one for every type.
    fn actions(self) -> ActionTable<InputAction> {
        let action = match self {
            PersonalData::Flag => InputAction::Flag,
            PersonalData::Redact => InputAction::Redact,
            PersonalData::Refuse => InputAction::Block,
        };
        PiiType::ALL
            .into_iter()
            .map(|kind| (kind, action))
            .collect()
    }
}

/// Why a library operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
    #[error("the document holds personal data that may not be stored ({0})")]
    PersonalData(String),
    #[error("embedding failed: {0}")]
    Embedding(String),
    #[error("reranking failed: {0}")]
    Reranking(String),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("the reading task failed")]
    Task,
}

/// The caller's reader tags: `user:<id>` (or `service_account:<id>`), `team:<id>` of each of
/// their teams, `entity:<id>` and `entity:<slug>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub tags: Vec<String>,
}

impl Reader {
    pub fn of(principal: &Principal, directory: &Directory) -> Reader {
        let mut tags = Vec::new();
        match principal.owner {
            domain::KeyOwner::User(user) => {
                tags.push(format!("user:{user}"));
                for team in directory.teams_of(&user).iter().flat_map(|t| t.iter()) {
                    tags.push(format!("team:{team}"));
                }
            }
            domain::KeyOwner::ServiceAccount(account) => {
                tags.push(format!("service_account:{account}"));
            }
        }
        if let Some(entity) = principal.entity_id {
            tags.push(format!("entity:{entity}"));
        }
        if let Some(slug) = &principal.entity_slug {
            tags.push(format!("entity:{slug}"));
        }
        Reader { tags }
    }

    /// Whether any of `tags` names this reader.
    pub fn is_among(&self, tags: &[String]) -> bool {
        tags.iter().any(|t| self.tags.contains(t))
    }
}

/// The passages an answer was given from libraries, carried on the response (its extensions)
/// by the chat extension, so that a caller in the same process (the web chat) can show where
/// the answer comes from.
#[derive(Debug, Clone)]
pub struct Cited(pub Arc<[Hit]>);

/// A document to add.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub bytes: bytes::Bytes,
    /// Who may read it, narrower than the library's readers; `None`: the library's.
    pub readers: Option<Vec<String>>,
    /// The uploader's rule for personal data, which may only tighten `policy`.
    pub personal_data: PersonalData,
    /// The data policy's action per personal-data type on input, as the API applies it: the
    /// surfaces lay the uploader's entity's and the library's entity's, the stricter of each.
    pub policy: ActionTable<InputAction>,
}

/// The libraries' service: the store, the index, the embedder, and the libraries held in memory
/// (loaded at start, changed here with the store, reloaded by [`Libraries::sync`]) so that a
/// chat request naming libraries reads no database.
pub struct Libraries {
    store: Store,
    index: Arc<Index>,
    embedder: Option<Arc<dyn Embedder>>,
    reranking: Option<Reranking>,
    catalog: RwLock<HashMap<String, StoredLibrary>>,
    /// Held while the index and the store are changed together (see the module's docs), with
    /// the store's change log's number this index was last brought in line with (`None`: never
    /// compared in full yet).
    writing: tokio::sync::Mutex<Option<i64>>,
}

/// What [`Libraries::sync`] did to the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    /// Documents indexed from the store.
    pub indexed: usize,
    /// Documents the store no longer holds, deleted from the index.
    pub deleted: usize,
}

impl Synced {
    pub fn is_empty(&self) -> bool {
        *self == Synced::default()
    }
}

impl std::fmt::Debug for Libraries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Libraries")
    }
}

/// The caller's credentials among `headers` (`Authorization`, `Cookie`), which embeddings are
/// asked with, so they are charged to the caller.
pub fn credentials(headers: &http::HeaderMap) -> http::HeaderMap {
    let mut kept = http::HeaderMap::new();
    for name in [http::header::AUTHORIZATION, http::header::COOKIE] {
        for value in headers.get_all(&name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// The tag standing for a library's own readers in the index.
pub fn library_tag(library: &str) -> String {
    format!("library:{library}")
}

/// A check of reader and editor tags: `kind:id`, the kind one of `user`, `team`, `entity`,
/// `service_account`, the id without spaces or line breaks.
pub fn valid_tag(tag: &str) -> bool {
    let Some((kind, id)) = tag.split_once(':') else {
        return false;
    };
    matches!(kind, "user" | "team" | "entity" | "service_account")
        && !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Libraries {
    /// The service, with the stored libraries loaded and the index brought in line with the
    /// store ([`Libraries::sync`]), after writing to the store the embeddings of chunks stored
    /// without them that this index holds.
    pub async fn load(
        store: Store,
        index: Arc<Index>,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Self, LibraryError> {
        let libraries = Libraries {
            store,
            index,
            embedder,
            reranking: None,
            catalog: RwLock::new(HashMap::new()),
            writing: tokio::sync::Mutex::new(None),
        };
        libraries.keep_vectors().await?;
        let synced = libraries.sync().await?;
        if !synced.is_empty() {
            tracing::info!(?synced, "knowledge index brought in line with the store");
        }
        Ok(libraries)
    }

    /// Writes to the store the embeddings, from this index, of chunks stored without them.
    async fn keep_vectors(&self) -> Result<(), LibraryError> {
        for document in self.store.documents_without_vectors().await? {
            let (index, id) = (Arc::clone(&self.index), document.clone());
            let vectors = blocking(move || index.document_vectors(&id)).await??;
            if !vectors.is_empty() {
                self.store.fill_chunk_vectors(&document, &vectors).await?;
            }
        }
        Ok(())
    }

    /// Reloads the libraries held in memory and brings the index in line with the store: the
    /// stored documents it lacks are indexed from their stored chunks and embeddings (nothing
    /// is embedded again), and those the store no longer holds are deleted from it.
    ///
    /// The first sync (at load) compares every stored document with the index; later ones read
    /// only the store's change log after the cursor the last one left, unless it was pruned
    /// past it (a replica long out of touch), when they compare in full again.
    pub async fn sync(&self) -> Result<Synced, LibraryError> {
        let cursor = self.writing.lock().await;
        self.sync_from(cursor).await
    }

    /// [`Libraries::sync`] comparing every stored document with the index, as at load.
    pub async fn sync_in_full(&self) -> Result<Synced, LibraryError> {
        let mut cursor = self.writing.lock().await;
        *cursor = None;
        self.sync_from(cursor).await
    }

    async fn sync_from(
        &self,
        mut cursor: tokio::sync::MutexGuard<'_, Option<i64>>,
    ) -> Result<Synced, LibraryError> {
        let libraries: HashMap<String, StoredLibrary> = self
            .store
            .libraries()
            .await?
            .into_iter()
            .map(|l| (l.id.clone(), l))
            .collect();
        if let Ok(mut catalog) = self.catalog.write() {
            catalog.clone_from(&libraries);
        }
        let changes = match *cursor {
            Some(after) => self.store.library_changes_since(after).await?,
            None => None,
        };
        let (synced, through) = match changes {
            Some(changes) => (
                self.apply_changes(&libraries, changes.added, changes.deleted)
                    .await?,
                changes.through,
            ),
            None => self.compare_in_full(&libraries).await?,
        };
        *cursor = Some(through);
        Ok(synced)
    }

    /// Every stored document compared with the index; the change log's cursor read first, so
    /// that what changes meanwhile is read again next time (indexing and deleting are
    /// idempotent).
    async fn compare_in_full(
        &self,
        libraries: &HashMap<String, StoredLibrary>,
    ) -> Result<(Synced, i64), LibraryError> {
        let through = self.store.library_change_cursor().await?;
        let documents = self.store.all_library_documents().await?;
        let indexed = self.index.documents()?;
        let stored: std::collections::HashSet<&str> =
            documents.iter().map(|d| d.id.as_str()).collect();
        let gone: Vec<(String, String)> = indexed
            .iter()
            .filter(|(document, _)| !stored.contains(document.as_str()))
            .map(|(document, library)| (library.clone(), document.clone()))
            .collect();
        let lacking = documents
            .into_iter()
            .filter(|d| !indexed.contains_key(&d.id))
            .collect();
        Ok((self.apply(libraries, lacking, gone).await?, through))
    }

    /// The documents added and deleted after the cursor, applied where the index differs.
    async fn apply_changes(
        &self,
        libraries: &HashMap<String, StoredLibrary>,
        added: Vec<StoredDocument>,
        deleted: Vec<(String, String)>,
    ) -> Result<Synced, LibraryError> {
        let mut lacking = Vec::new();
        for document in added {
            if !self.index.holds(&document.id)? {
                lacking.push(document);
            }
        }
        let mut gone = Vec::new();
        for (library, document) in deleted {
            if self.index.holds(&document)? {
                gone.push((library, document));
            }
        }
        self.apply(libraries, lacking, gone).await
    }

    /// Deletes `gone` (`(library, document)`) from the index and indexes `lacking` from their
    /// stored chunks.
    async fn apply(
        &self,
        libraries: &HashMap<String, StoredLibrary>,
        lacking: Vec<StoredDocument>,
        gone: Vec<(String, String)>,
    ) -> Result<Synced, LibraryError> {
        let mut synced = Synced {
            deleted: gone.len(),
            ..Synced::default()
        };
        if !gone.is_empty() {
            let index = Arc::clone(&self.index);
            blocking(move || index.delete_documents(&gone)).await??;
        }
        let mut batch = Vec::new();
        for document in lacking {
            let Some(library) = libraries.get(&document.library_id) else {
                continue;
            };
            // A scan has no passage: nothing to index, ever.
            if document.chunks == 0 {
                continue;
            }
            let stored = self.store.library_chunks(&document.id).await?;
            batch.extend(indexed_chunks(library, &document, stored));
            synced.indexed += 1;
            if batch.len() >= SYNC_BATCH {
                self.index_batch(std::mem::take(&mut batch)).await?;
            }
        }
        self.index_batch(batch).await?;
        Ok(synced)
    }

    async fn index_batch(&self, chunks: Vec<IndexedChunk>) -> Result<(), LibraryError> {
        if chunks.is_empty() {
            return Ok(());
        }
        let index = Arc::clone(&self.index);
        blocking(move || index.add(&chunks)).await??;
        Ok(())
    }

    /// The service, its searches reranked by `reranking`.
    pub fn with_reranking(self, reranking: Reranking) -> Self {
        Libraries {
            reranking: Some(reranking),
            ..self
        }
    }

    /// The library `id`, from memory.
    pub fn library(&self, id: &str) -> Option<StoredLibrary> {
        self.catalog.read().ok()?.get(id).cloned()
    }

    /// Every library, from memory, oldest first.
    pub fn all(&self) -> Vec<StoredLibrary> {
        let mut all: Vec<StoredLibrary> = self
            .catalog
            .read()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stores a new library.
    pub async fn create(
        &self,
        library: &StoredLibrary,
        audit: &AuditEvent,
    ) -> Result<(), LibraryError> {
        let _writing = self.writing.lock().await;
        self.store.create_library(library, audit).await?;
        if let Ok(mut catalog) = self.catalog.write() {
            catalog.insert(library.id.clone(), library.clone());
        }
        Ok(())
    }

    /// Deletes a library: its rows, then its index entries (files merged).
    pub async fn delete(&self, library: &str, audit: &AuditEvent) -> Result<bool, LibraryError> {
        let _writing = self.writing.lock().await;
        if !self.store.delete_library(library, audit).await? {
            return Ok(false);
        }
        if let Ok(mut catalog) = self.catalog.write() {
            catalog.remove(library);
        }
        let (index, id) = (Arc::clone(&self.index), library.to_owned());
        blocking(move || index.delete_library(&id)).await??;
        Ok(true)
    }

    /// Reads, chunks, applies the personal-data rule, embeds, indexes and stores a document;
    /// `credentials` are the uploader's, whom the embeddings are charged to.
    ///
    /// A document of the same name already in the library is the same document changed: when
    /// its bytes and readers are the same, it stays as it is (nothing is read or embedded
    /// again; the attempt is audited all the same, `unchanged`); otherwise the new version is stored, then the old one deleted for real, rows and
    /// index entries (`library.document.delete`, `replaced_by` the new one), so a search never
    /// finds both, nor neither.
    pub async fn add_document(
        &self,
        library: &StoredLibrary,
        upload: Upload,
        credentials: &http::HeaderMap,
        audit: &AuditEvent,
    ) -> Result<StoredDocument, LibraryError> {
        let sha256 = hex::encode(Sha256::digest(&upload.bytes));
        let mut previous = self.store.library_documents(&library.id).await?;
        previous.retain(|d| d.name == upload.name);
        if let Some(same) = previous
            .iter()
            .find(|d| d.sha256 == sha256 && d.readers == upload.readers)
        {
            let kept = AuditEvent {
                target: same.id.clone(),
                detail:
                    serde_json::json!({"library": library.id, "name": same.name, "unchanged": true})
                        .to_string(),
                ..audit.clone()
            };
            self.store.append_audit(&kept).await?;
            return Ok(same.clone());
        }
        let document = self
            .ingest(library, upload, sha256, credentials, audit)
            .await?;
        for old in previous {
            let replaced = AuditEvent {
                action: domain::AuditAction::LibraryDocumentDelete,
                target: old.id.clone(),
                detail: format!(r#"{{"replaced_by":"{}"}}"#, document.id),
                ..audit.clone()
            };
            self.delete_document(library, &old.id, &replaced).await?;
        }
        Ok(document)
    }

    /// Deletes the documents older than their library's retention (`retention_days`) at `now`,
    /// for real, each with its `library.document.delete` event by `actor`, and the store's
    /// change log older than [`CHANGES_KEPT_MILLIS`]; how many documents went.
    pub async fn purge_expired(
        &self,
        now: domain::UnixMillis,
        actor: &str,
    ) -> Result<usize, LibraryError> {
        let mut purged = 0;
        for library in self.all() {
            let Some(days) = library.retention_days else {
                continue;
            };
            let cutoff = now.saturating_sub(i64::from(days).saturating_mul(86_400_000));
            for document in self.store.library_documents(&library.id).await? {
                if document.added_at >= cutoff {
                    continue;
                }
                let audit = AuditEvent {
                    at: now,
                    actor: actor.to_owned(),
                    action: domain::AuditAction::LibraryDocumentDelete,
                    entity_id: library.entity_id,
                    target: document.id.clone(),
                    outcome: domain::Outcome::Success,
                    detail: format!(r#"{{"reason":"retention","retention_days":{days}}}"#),
                };
                if self.delete_document(&library, &document.id, &audit).await? {
                    purged += 1;
                }
            }
        }
        let kept_from = now.saturating_sub(CHANGES_KEPT_MILLIS);
        self.store.prune_library_changes(kept_from).await?;
        Ok(purged)
    }

    /// [`Libraries::add_document`]'s reading, embedding, indexing and storing of a new document.
    async fn ingest(
        &self,
        library: &StoredLibrary,
        upload: Upload,
        sha256: String,
        credentials: &http::HeaderMap,
        audit: &AuditEvent,
    ) -> Result<StoredDocument, LibraryError> {
        let kind = Kind::of_name(&upload.name).ok_or(Unreadable::Kind)?;
        let bytes = upload.bytes.clone();
        let extracted = blocking(move || extract(kind, &bytes)).await??;
        let mut pieces = chunks(&extracted);
        let personal_data = apply_personal_data(upload.personal_data, &upload.policy, &mut pieces)?;
        let texts: Vec<String> = pieces.iter().map(|c| c.text.clone()).collect();
        let vectors = match &library.embedding_model {
            Some(model) if !texts.is_empty() => {
                self.embed_all(credentials, model, &library.classification, texts)
                    .await?
            }
            _ => vec![Vec::new(); pieces.len()],
        };
        let document = StoredDocument {
            id: format!("doc_{}", uuid::Uuid::now_v7().simple()),
            library_id: library.id.clone(),
            name: upload.name.clone(),
            kind: kind.as_str().to_owned(),
            bytes: upload.bytes.len() as u64,
            sha256,
            pages: extracted.pages,
            chunks: u32::try_from(pieces.len()).unwrap_or(u32::MAX),
            scanned: extracted.scanned,
            personal_data: personal_data.to_owned(),
            readers: upload.readers.clone(),
            added_by: audit.actor.clone(),
            added_at: now_millis(),
        };
        let stored: Vec<StoredChunk> = pieces
            .into_iter()
            .zip(vectors)
            .map(|(c, vector)| StoredChunk {
                ordinal: c.ordinal,
                page: c.page,
                text: c.text,
                vector,
            })
            .collect();
        let indexed = indexed_chunks(library, &document, stored.clone());
        let audit = AuditEvent {
            target: document.id.clone(),
            ..audit.clone()
        };
        let _writing = self.writing.lock().await;
        let index = Arc::clone(&self.index);
        blocking(move || index.add(&indexed)).await??;
        let written = self
            .store
            .add_library_document(&document, &stored, library.entity_id, &audit)
            .await;
        if let Err(error) = written {
            // The index must not hold what the store does not: take it out again.
            let (index, library_id, id) = (
                Arc::clone(&self.index),
                library.id.clone(),
                document.id.clone(),
            );
            blocking(move || index.delete_document(&library_id, &id)).await??;
            return Err(error.into());
        }
        Ok(document)
    }

    async fn embed_all(
        &self,
        credentials: &http::HeaderMap,
        model: &str,
        classification: &str,
        texts: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, LibraryError> {
        let embedder = self
            .embedder
            .as_ref()
            .ok_or_else(|| LibraryError::Embedding("no embedder in this set-up".into()))?;
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(EMBED_BATCH) {
            let got = embedder
                .embed(
                    credentials,
                    model,
                    classification,
                    Urgency::Batch,
                    batch.to_vec(),
                )
                .await
                .map_err(LibraryError::Embedding)?;
            if got.len() != batch.len() {
                return Err(LibraryError::Embedding(format!(
                    "{} embeddings for {} texts",
                    got.len(),
                    batch.len()
                )));
            }
            vectors.extend(got);
        }
        Ok(vectors)
    }

    /// Deletes a document: its rows, then its index entries (files merged).
    pub async fn delete_document(
        &self,
        library: &StoredLibrary,
        document: &str,
        audit: &AuditEvent,
    ) -> Result<bool, LibraryError> {
        let _writing = self.writing.lock().await;
        let deleted = self
            .store
            .delete_library_document(&library.id, document, library.entity_id, audit)
            .await?;
        if deleted {
            let (index, library_id, id) = (
                Arc::clone(&self.index),
                library.id.clone(),
                document.to_owned(),
            );
            blocking(move || index.delete_document(&library_id, &id)).await??;
        }
        Ok(deleted)
    }

    /// The `limit` best passages of `libraries` (which the caller may read: the surfaces asked)
    /// for `question`, among the documents `reader` may read; the question is embedded with
    /// each embedding model the libraries use, as the caller. With a reranker, the index's best
    /// candidates are reranked as the caller, and the reranker's `limit` best returned, each
    /// with its score.
    pub async fn search(
        &self,
        libraries: &[StoredLibrary],
        reader: &Reader,
        credentials: &http::HeaderMap,
        question: &str,
        limit: usize,
    ) -> Result<Vec<Hit>, LibraryError> {
        let mut tags = reader.tags.clone();
        tags.extend(libraries.iter().map(|l| library_tag(&l.id)));
        let ids: Vec<String> = libraries.iter().map(|l| l.id.clone()).collect();
        let mut semantic: Vec<(Vec<String>, Vec<f32>)> = Vec::new();
        for (model, group) in by_model(libraries) {
            let classification = highest_classification(&group);
            let vector = match &self.embedder {
                Some(embedder) => embedder
                    .embed(
                        credentials,
                        &model,
                        &classification,
                        Urgency::Caller,
                        vec![question.to_owned()],
                    )
                    .await
                    .map_err(LibraryError::Embedding)?
                    .pop()
                    .unwrap_or_default(),
                None => continue,
            };
            semantic.push((group.iter().map(|l| l.id.clone()).collect(), vector));
        }
        let candidates = match &self.reranking {
            Some(reranking) => reranking.candidates.max(limit),
            None => limit,
        };
        let (index, asked) = (Arc::clone(&self.index), question.to_owned());
        let found = blocking(move || {
            let semantic: Vec<Semantic<'_>> = semantic
                .iter()
                .map(|(libraries, vector)| Semantic { libraries, vector })
                .collect();
            index.search(&Search {
                libraries: &ids,
                tags: &tags,
                text: &asked,
                semantic: &semantic,
                limit: candidates,
            })
        })
        .await??;
        match &self.reranking {
            Some(reranking) if !found.is_empty() => {
                let classification = highest_classification(&libraries.iter().collect::<Vec<_>>());
                rerank(
                    reranking,
                    credentials,
                    &classification,
                    question,
                    found,
                    limit,
                )
                .await
            }
            _ => Ok(found),
        }
    }
}

/// The reranker's `limit` best of the index's `found`, in its order and with its scores.
async fn rerank(
    reranking: &Reranking,
    credentials: &http::HeaderMap,
    classification: &str,
    question: &str,
    found: Vec<Hit>,
    limit: usize,
) -> Result<Vec<Hit>, LibraryError> {
    let documents = found.iter().map(|hit| hit.text.clone()).collect();
    let ranked = reranking
        .reranker
        .rerank(
            credentials,
            &reranking.model,
            classification,
            question,
            documents,
            limit,
        )
        .await
        .map_err(LibraryError::Reranking)?;
    let mut found: Vec<Option<Hit>> = found.into_iter().map(Some).collect();
    let mut reranked = Vec::with_capacity(limit.min(ranked.len()));
    for (position, score) in ranked.into_iter().take(limit) {
        let hit = found
            .get_mut(position)
            .and_then(Option::take)
            .ok_or_else(|| {
                LibraryError::Reranking(format!(
                    "the reranker named passage {position} of {}, or named it twice",
                    found.len()
                ))
            })?;
        reranked.push(Hit { score, ..hit });
    }
    Ok(reranked)
}

/// A stored document's chunks as the index holds them: readable by the document's own readers,
/// else by the library's.
fn indexed_chunks(
    library: &StoredLibrary,
    document: &StoredDocument,
    chunks: Vec<StoredChunk>,
) -> Vec<IndexedChunk> {
    let readers = match &document.readers {
        Some(readers) => readers.clone(),
        None => vec![library_tag(&library.id)],
    };
    chunks
        .into_iter()
        .map(|chunk| IndexedChunk {
            id: format!("{}:{}", document.id, chunk.ordinal),
            library: library.id.clone(),
            document: document.id.clone(),
            title: document.name.clone(),
            page: chunk.page,
            readers: readers.clone(),
            text: chunk.text,
            vector: chunk.vector,
        })
        .collect()
}

/// Libraries grouped by their embedding model (those without one are searched by words only).
fn by_model(libraries: &[StoredLibrary]) -> Vec<(String, Vec<&StoredLibrary>)> {
    let mut groups: Vec<(String, Vec<&StoredLibrary>)> = Vec::new();
    for library in libraries {
        let Some(model) = &library.embedding_model else {
            continue;
        };
        match groups.iter_mut().find(|(m, _)| m == model) {
            Some((_, group)) => group.push(library),
            None => groups.push((model.clone(), vec![library])),
        }
    }
    groups
}

/// The classification a question about `libraries` is labelled with: the first one's; the
/// surfaces raise the request's level to the highest through the ladder they hold.
fn highest_classification(libraries: &[&StoredLibrary]) -> String {
    libraries
        .first()
        .map(|l| l.classification.clone())
        .unwrap_or_default()
}

/// Applies the document's personal-data actions to every chunk — `rule` laid over `policy`,
/// the stricter of each type — and says what the document's record keeps of it: `none`,
/// `flagged`, `pseudonymized` or `redacted` (the strongest rewrite done).
///
/// A type to `block` refuses the document, naming the types. `redact` puts a marker in place
/// of each value (`[REDACTED_EMAIL]`); `pseudonymize` a numbered placeholder (`[EMAIL_1]`), the
/// same one for the same value throughout the document, so that passages still tell who is
/// who; the values are never kept, so unlike on the API no answer gets them back.
fn apply_personal_data(
    rule: PersonalData,
    policy: &ActionTable<InputAction>,
    pieces: &mut [crate::Chunk],
) -> Result<&'static str, LibraryError> {
    let actions = rule.actions().stricter(policy);
    let detector = Detector::all();
    let (mut found, mut blocked) = (TypeCounts::default(), TypeCounts::default());
    let mut pseudonyms = Pseudonyms::default();
    for piece in pieces.iter_mut() {
        let spans = detector.scan(&piece.text);
        for span in &spans {
            found.add(span.kind);
            if actions.get(span.kind) == Some(InputAction::Block) {
                blocked.add(span.kind);
            }
        }
        if blocked.is_empty()
            && let Some(rewritten) = rewrite(&piece.text, &spans, &actions, &mut pseudonyms)
        {
            piece.text = rewritten;
        }
    }
    if !blocked.is_empty() {
        return Err(LibraryError::PersonalData(blocked.names()));
    }
    let done = |wanted: InputAction| {
        found
            .iter()
            .any(|(kind, _)| actions.get(kind) == Some(wanted))
    };
    Ok(if found.is_empty() {
        "none"
    } else if done(InputAction::Redact) {
        "redacted"
    } else if done(InputAction::Pseudonymize) {
        "pseudonymized"
    } else {
        "flagged"
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LibraryError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| LibraryError::Task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(texts: &[&str]) -> Vec<crate::Chunk> {
        texts
            .iter()
            .zip(0..)
            .map(|(text, ordinal)| crate::Chunk {
                ordinal,
                page: 1,
                heading: None,
                text: (*text).to_owned(),
            })
            .collect()
    }

    fn policy(pairs: &[(PiiType, InputAction)]) -> ActionTable<InputAction> {
        pairs.iter().copied().collect()
    }

    const IBAN: &str = "FR76 3000 6000 0112 3456 7890 189";

    #[test]
    fn the_policy_pseudonymizes_a_value_alike_in_every_passage() {
        let iban = policy(&[(PiiType::Iban, InputAction::Pseudonymize)]);
        let mut chunks = pieces(&[
            &format!("Virement sur {IBAN}."),
            &format!("Le compte {IBAN} reste ouvert ; écrire à jean@example.fr."),
        ]);
        let done = apply_personal_data(PersonalData::Flag, &iban, &mut chunks).unwrap();
        assert_eq!(done, "pseudonymized");
        assert_eq!(chunks[0].text, "Virement sur [IBAN_1].");
        assert_eq!(
            chunks[1].text, "Le compte [IBAN_1] reste ouvert ; écrire à jean@example.fr.",
            "a type the policy does not name is only flagged"
        );
    }

    #[test]
    fn the_uploaders_rule_only_tightens_the_policy() {
        let iban = policy(&[(PiiType::Iban, InputAction::Pseudonymize)]);
        let mut chunks = pieces(&[&format!("{IBAN} et jean@example.fr")]);
        let done = apply_personal_data(PersonalData::Redact, &iban, &mut chunks).unwrap();
        assert_eq!(done, "redacted");
        assert_eq!(chunks[0].text, "[REDACTED_IBAN] et [REDACTED_EMAIL]");

        let mut chunks = pieces(&["écrire à jean@example.fr", &format!("payer {IBAN}")]);
        let blocked = policy(&[(PiiType::Iban, InputAction::Block)]);
        let refused = apply_personal_data(PersonalData::Flag, &blocked, &mut chunks);
        assert!(
            matches!(&refused, Err(LibraryError::PersonalData(types)) if types == "IBAN"),
            "{refused:?}"
        );
        let mut chunks = pieces(&["rien de personnel"]);
        let none = apply_personal_data(PersonalData::Refuse, &blocked, &mut chunks);
        assert_eq!(none.unwrap(), "none");
    }
}
