//! Replicas' indexes built from one store: a document ingested through one replica is found
//! through another once it syncs, without embedding it again (the vectors come from the store:
//! a search whose words match nothing still finds it by its vector); a document or a library
//! deleted through one leaves the other's index; an index directory lost is rebuilt at load.
//! On SQLite, and on PostgreSQL when `FABRIQUE_TEST_POSTGRES_URL` is set.

#![expect(clippy::unwrap_used, reason = "test bodies fail by panicking")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use domain::{AuditAction, AuditEvent, Outcome, now_millis};
use knowledge::{Embedder, Index, Libraries, PersonalData, Reader, Synced, Upload, Urgency};
use store::testing::store_of_its_own;
use store::{Store, StoredLibrary};

/// Embeds each text as four numbers drawn from its bytes, counting the texts asked.
#[derive(Default)]
struct Counting {
    texts: AtomicUsize,
}

#[async_trait::async_trait]
impl Embedder for Counting {
    async fn embed(
        &self,
        _credentials: &http::HeaderMap,
        _model: &str,
        _classification: &str,
        _urgency: Urgency,
        texts: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, String> {
        self.texts.fetch_add(texts.len(), Ordering::Relaxed);
        Ok(texts
            .iter()
            .map(|text| {
                let mut vector = [1.0f32; 4];
                for (i, byte) in text.bytes().enumerate() {
                    vector[i % 4] += f32::from(byte % 7);
                }
                vector.to_vec()
            })
            .collect())
    }
}

impl Counting {
    fn texts(&self) -> usize {
        self.texts.load(Ordering::Relaxed)
    }
}

async fn replica(store: &Store, dir: &Path, embedder: &Arc<Counting>) -> Libraries {
    let index = Arc::new(Index::open(dir).unwrap());
    let embedder = Arc::clone(embedder) as Arc<dyn Embedder>;
    Libraries::load(store.clone(), index, Some(embedder))
        .await
        .unwrap()
}

fn audit(action: AuditAction) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: "user_test".into(),
        action,
        entity_id: None,
        target: String::new(),
        outcome: Outcome::Success,
        detail: "{}".into(),
    }
}

fn library(name: &str) -> StoredLibrary {
    StoredLibrary {
        id: format!("lib_{}", domain::KeyId::generate().0.simple()),
        entity_id: None,
        name: name.into(),
        description: String::new(),
        classification: "internal".into(),
        retention_days: None,
        readers: vec!["entity:acme".into()],
        editors: vec!["entity:acme".into()],
        embedding_model: Some("mistral-embed".into()),
        created_by: "user_test".into(),
        created_at: now_millis(),
    }
}

fn upload(name: &str, text: &str) -> Upload {
    Upload {
        name: name.into(),
        bytes: bytes::Bytes::copy_from_slice(text.as_bytes()),
        readers: None,
        personal_data: PersonalData::Flag,
        policy: Default::default(),
    }
}

/// The names of the documents `libraries` finds for `question` in `library`.
async fn found(libraries: &Libraries, library: &StoredLibrary, question: &str) -> Vec<String> {
    let reader = Reader {
        tags: vec!["user:someone".into()],
    };
    let credentials = http::HeaderMap::new();
    let hits = libraries
        .search(
            std::slice::from_ref(library),
            &reader,
            &credentials,
            question,
            5,
        )
        .await
        .unwrap();
    let mut names: Vec<String> = hits.into_iter().map(|hit| hit.title).collect();
    names.dedup();
    names
}

/// The names of every document `libraries` finds in `library` (each matches any question by its
/// vectors), at most five, sorted.
async fn held(libraries: &Libraries, library: &StoredLibrary) -> Vec<String> {
    let mut names = found(libraries, library, "zzz").await;
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn on_sqlite_replicas_build_their_indexes_from_the_store() {
    replicas_build_their_indexes_from_the_store(false).await;
}

#[tokio::test]
async fn on_postgres_replicas_build_their_indexes_from_the_store() {
    replicas_build_their_indexes_from_the_store(true).await;
}

async fn replicas_build_their_indexes_from_the_store(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = store_of_its_own(dir.path(), postgres, "k").await.unwrap() else {
        return;
    };
    let (embed_a, embed_b) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
    let a = replica(&store, &dir.path().join("index-a"), &embed_a).await;
    let b = replica(&store, &dir.path().join("index-b"), &embed_b).await;

    let rh = library("Politiques RH");
    a.create(&rh, &audit(AuditAction::LibraryCreate))
        .await
        .unwrap();
    let text = "# Congés\n\nLes congés payés sont de vingt-cinq jours ouvrés par an.\n\n\
                # Télétravail\n\nDeux jours de télétravail par semaine sont possibles.";
    let added = audit(AuditAction::LibraryDocumentAdd);
    let credentials = http::HeaderMap::new();
    let document = a
        .add_document(&rh, upload("charte.md", text), &credentials, &added)
        .await
        .unwrap();
    assert!(embed_a.texts() > 0, "ingestion embeds the passages");
    assert!(b.library(&rh.id).is_none(), "not known before it syncs");

    let synced = b.sync().await.unwrap();
    assert_eq!(
        synced,
        Synced {
            indexed: 1,
            deleted: 0
        }
    );
    assert_eq!(
        b.sync().await.unwrap(),
        Synced::default(),
        "nothing more to do"
    );
    assert_eq!(embed_b.texts(), 0, "nothing is embedded again");
    assert_eq!(found(&b, &rh, "congés payés").await, vec!["charte.md"]);
    // Words that match nothing: found by its vectors alone, which came from the store.
    assert_eq!(found(&b, &rh, "zzz").await, vec!["charte.md"]);
    assert_eq!(embed_b.texts(), 2, "only the questions were embedded");

    // An index lost is rebuilt from the store when the service loads.
    let embed_c = Arc::new(Counting::default());
    let c = replica(&store, &dir.path().join("index-c"), &embed_c).await;
    assert_eq!(found(&c, &rh, "zzz").await, vec!["charte.md"]);
    assert_eq!(embed_c.texts(), 1, "only the question was embedded");

    // Deleted through one replica, gone from the other's index once it syncs.
    let deleted = audit(AuditAction::LibraryDocumentDelete);
    assert!(
        a.delete_document(&rh, &document.id, &deleted)
            .await
            .unwrap()
    );
    assert_eq!(
        b.sync().await.unwrap(),
        Synced {
            indexed: 0,
            deleted: 1
        }
    );
    assert_eq!(found(&b, &rh, "congés payés").await, Vec::<String>::new());
    assert_eq!(found(&b, &rh, "zzz").await, Vec::<String>::new());

    // A library deleted through one replica: gone from the other's memory and index.
    let notes = library("Notes");
    a.create(&notes, &audit(AuditAction::LibraryCreate))
        .await
        .unwrap();
    a.add_document(
        &notes,
        upload("notes.txt", "Réunion du comité mardi."),
        &credentials,
        &added,
    )
    .await
    .unwrap();
    assert_eq!(
        c.sync().await.unwrap(),
        Synced {
            indexed: 1,
            deleted: 1
        }
    );
    assert_eq!(found(&c, &notes, "comité").await, vec!["notes.txt"]);
    assert!(
        a.delete(&notes.id, &audit(AuditAction::LibraryDelete))
            .await
            .unwrap()
    );
    assert_eq!(
        c.sync().await.unwrap(),
        Synced {
            indexed: 0,
            deleted: 1
        }
    );
    assert!(c.library(&notes.id).is_none());
    assert_eq!(found(&c, &notes, "comité").await, Vec::<String>::new());
    store.close().await;
}

#[tokio::test]
async fn on_sqlite_a_sync_reads_what_changed_since_the_last() {
    a_sync_reads_what_changed_since_the_last(false).await;
}

#[tokio::test]
async fn on_postgres_a_sync_reads_what_changed_since_the_last() {
    a_sync_reads_what_changed_since_the_last(true).await;
}

/// Re-ingested through one replica: the other finds the new version only; several changes
/// between two syncs (notices missed, the refresh catches up) come in one; a change log pruned
/// past a replica's cursor makes it compare in full, and it still ends in line.
async fn a_sync_reads_what_changed_since_the_last(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = store_of_its_own(dir.path(), postgres, "k").await.unwrap() else {
        return;
    };
    let embed = Arc::new(Counting::default());
    let a = replica(&store, &dir.path().join("index-a"), &embed).await;
    let b = replica(&store, &dir.path().join("index-b"), &embed).await;
    let rh = library("Politiques RH");
    a.create(&rh, &audit(AuditAction::LibraryCreate))
        .await
        .unwrap();
    let (added, credentials) = (
        audit(AuditAction::LibraryDocumentAdd),
        http::HeaderMap::new(),
    );
    let add = |name: &'static str, text: &'static str| {
        a.add_document(&rh, upload(name, text), &credentials, &added)
    };
    add("charte.md", "Les congés payés sont de vingt-cinq jours.")
        .await
        .unwrap();
    add("note.txt", "La cantine ferme le vendredi.")
        .await
        .unwrap();
    let (indexed, deleted) = (2, 0);
    assert_eq!(b.sync().await.unwrap(), Synced { indexed, deleted });
    assert_eq!(held(&b, &rh).await, ["charte.md", "note.txt"]);

    // Re-ingested: the new version stored, the old one deleted; and a document added then
    // deleted before the sync is neither indexed nor counted.
    add("charte.md", "Les congés payés sont de trente jours.")
        .await
        .unwrap();
    let brief = add("brève.txt", "Une brève vite retirée.").await.unwrap();
    let gone = audit(AuditAction::LibraryDocumentDelete);
    assert!(a.delete_document(&rh, &brief.id, &gone).await.unwrap());
    let (indexed, deleted) = (1, 1);
    assert_eq!(b.sync().await.unwrap(), Synced { indexed, deleted });
    assert_eq!(b.sync().await.unwrap(), Synced::default());
    let hits = b
        .search(
            std::slice::from_ref(&rh),
            &Reader {
                tags: vec!["user:someone".into()],
            },
            &credentials,
            "congés",
            5,
        )
        .await
        .unwrap();
    let charte: Vec<&str> = (hits.iter())
        .filter(|hit| hit.title == "charte.md")
        .map(|hit| hit.text.as_str())
        .collect();
    assert_eq!(charte, ["Les congés payés sont de trente jours."]);
    assert_eq!(held(&b, &rh).await, ["charte.md", "note.txt"]);

    // The log pruned past b's cursor (b out of touch for long): b compares in full.
    add("menu.txt", "Le menu du jour est affiché à midi.")
        .await
        .unwrap();
    let note = a.store().library_documents(&rh.id).await.unwrap();
    let note = note.iter().find(|d| d.name == "note.txt").unwrap();
    assert!(a.delete_document(&rh, &note.id, &gone).await.unwrap());
    assert!(store.prune_library_changes(now_millis() + 1).await.unwrap() > 0);
    assert!(store.library_changes_since(0).await.unwrap().is_none());
    let (indexed, deleted) = (1, 1);
    assert_eq!(b.sync().await.unwrap(), Synced { indexed, deleted });
    assert_eq!(held(&b, &rh).await, ["charte.md", "menu.txt"]);
    // And reads the log again from there.
    add("plan.txt", "Le plan du site est à l'accueil.")
        .await
        .unwrap();
    let (indexed, deleted) = (1, 0);
    assert_eq!(b.sync().await.unwrap(), Synced { indexed, deleted });
    store.close().await;
}
