//! What a replica's index sync costs at a large number of stored chunks: the comparison of every
//! stored document with the index (every sync before the change log; now the load's only)
//! against reading the change log after the replica's cursor (every later sync). Run through
//! `bench/libraries.sh` with `SYNC=1`.
//!
//! A store (SQLite in a temporary directory, or `DATABASE_URL`'s, which must be empty) is filled
//! with `DOCUMENTS` documents of `CHUNKS` chunks each (a short text and an 8-number embedding),
//! written as another replica would; one replica loads, building its index. Then, `ROUNDS` times
//! each, median printed: a sync with nothing changed (the 30-second refresh), a sync after one
//! document added through the store (a change notice), and the same two comparing in full.
//! Usage: `sync_bench [DOCUMENTS] [CHUNKS] [ROUNDS]` (defaults 20,000, 50 and 20).

#![expect(
    clippy::expect_used,
    reason = "a bench that cannot set up has nothing to measure: it stops, saying why"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{AuditAction, AuditEvent, Outcome, now_millis};
use knowledge::{Index, Libraries, Synced};
use store::{Store, StoredChunk, StoredDocument, StoredLibrary};

fn argument(position: usize, default: usize) -> usize {
    std::env::args()
        .nth(position)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn audit() -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: "user_bench".into(),
        action: AuditAction::LibraryDocumentAdd,
        entity_id: None,
        target: String::new(),
        outcome: Outcome::Success,
        detail: "{}".into(),
    }
}

/// Stores a document of `chunks` chunks in `library`, as another replica's ingestion would.
async fn add(store: &Store, library: &StoredLibrary, number: usize, chunks: usize) {
    let id = format!("doc_{}", uuid::Uuid::now_v7().simple());
    let stored: Vec<StoredChunk> = (0..chunks)
        .map(|ordinal| StoredChunk {
            ordinal: u32::try_from(ordinal).unwrap_or(u32::MAX),
            page: 1,
            text: format!("Passage {ordinal} du document {number} : congés, télétravail, note."),
            vector: (0..8)
                .map(|i| ((number + ordinal + i) % 13) as f32)
                .collect(),
        })
        .collect();
    let document = StoredDocument {
        id,
        library_id: library.id.clone(),
        name: format!("document-{number}.txt"),
        kind: "txt".into(),
        bytes: 1_000,
        sha256: String::new(),
        pages: 1,
        chunks: u32::try_from(chunks).unwrap_or(u32::MAX),
        scanned: false,
        personal_data: "none".into(),
        readers: None,
        added_by: "user_bench".into(),
        added_at: now_millis(),
    };
    let audit = audit();
    let written = store.add_library_document(&document, &stored, None, &audit);
    written.await.expect("the document is stored");
}

/// The median time of `rounds` runs of `sync`, each after `before`.
async fn median<B, S>(rounds: usize, mut before: B, mut sync: S) -> (Duration, Synced)
where
    B: AsyncFnMut(),
    S: AsyncFnMut() -> Synced,
{
    let mut times = Vec::with_capacity(rounds);
    let mut last = Synced::default();
    for _ in 0..rounds {
        before().await;
        let started = Instant::now();
        last = sync().await;
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], last)
}

#[tokio::main]
async fn main() {
    let (documents, chunks, rounds) = (argument(1, 20_000), argument(2, 50), argument(3, 20));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = match std::env::var("DATABASE_URL") {
        Ok(url) => Store::connect(&url).await,
        Err(_) => Store::open_in_dir(dir.path()).await,
    }
    .expect("the store opens");
    let library = StoredLibrary {
        id: format!("lib_{}", uuid::Uuid::now_v7().simple()),
        entity_id: None,
        name: "Bench".into(),
        description: String::new(),
        classification: "internal".into(),
        retention_days: None,
        readers: vec!["entity:acme".into()],
        editors: vec!["entity:acme".into()],
        embedding_model: Some("mistral-embed".into()),
        created_by: "user_bench".into(),
        created_at: now_millis(),
    };
    store
        .create_library(&library, &audit())
        .await
        .expect("the library is stored");
    let started = Instant::now();
    for number in 0..documents {
        add(&store, &library, number, chunks).await;
    }
    println!(
        "stored {documents} documents of {chunks} chunks ({} chunks) in {:.1} s",
        documents * chunks,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let index = Arc::new(Index::open(&dir.path().join("index")).expect("the index opens"));
    let replica = Libraries::load(store.clone(), index, None)
        .await
        .expect("the replica loads");
    println!(
        "load (index built from the store): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let sync = async || replica.sync().await.expect("sync");
    let in_full = async || replica.sync_in_full().await.expect("sync in full");
    let mut added = documents;
    let mut one_more = async || {
        add(&store, &library, added, chunks).await;
        added += 1;
    };
    let report = |what: &str, (time, synced): (Duration, Synced)| {
        println!(
            "{what}: median {:.2} ms over {rounds} ({synced:?})",
            time.as_secs_f64() * 1e3
        );
    };
    report(
        "refresh, nothing changed, change log",
        median(rounds, async || {}, sync).await,
    );
    report(
        "refresh, nothing changed, full comparison",
        median(rounds, async || {}, in_full).await,
    );
    report(
        "notice, one document added, change log",
        median(rounds, &mut one_more, sync).await,
    );
    report(
        "notice, one document added, full comparison",
        median(rounds, &mut one_more, in_full).await,
    );
    store.close().await;
}
