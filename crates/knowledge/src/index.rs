//! The embedded index under the data directory: full text by `tantivy` (BM25, accents and case
//! folded), and each chunk's embedding, searched exactly (cosine) in memory; the two rankings
//! fused by reciprocal rank fusion ([`crate::fuse`]).
//!
//! **Permissions are a filter inside both searches.** Every chunk carries its reader tags: its
//! document's own readers when the document narrows them (`user:…`, `team:…`, `entity:…`), else
//! `library:<id>`, which stands for the library's readers. A search is given the caller's tags
//! (their own, and `library:<id>` of each library they may read): BM25 runs as one query that
//! requires a library and a tag among the caller's, and the vector scan skips a row whose tags
//! the caller lacks before scoring it. So the ten best passages are the ten best the caller may
//! read, however little of a library that is, and nothing is dropped after ranking.
//!
//! The embeddings are stored with the chunks in the index (a stored bytes field) and loaded into
//! memory on opening. Deleting documents deletes their chunks, commits, and merges the segments,
//! so their text no longer lies in the index files; the vectors leave memory at once.
//!
//! The index knows which documents it holds ([`Index::documents`]), and adding a document it
//! holds already replaces it, so that a replica can bring it in line with the store
//! (`crate::libraries`) without ever holding a document twice.
//!
//! Writes take one writer lock; searches read a snapshot and never wait on a write.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use store::{vector_bytes, vector_of};
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermSetQuery,
};
use tantivy::schema::{Field, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::fuse::{Ranked, fuse};

/// The tokenizer of the text field: words, lowercased, accents folded (`élève` finds `eleve`).
const FOLDED: &str = "folded";
/// The writer's memory for buffered documents.
const WRITER_BYTES: usize = 50_000_000;

/// Why the index failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the full-text index failed: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("the index directory could not be opened: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("a lock of the index was poisoned by a panic")]
    Poisoned,
}

/// A chunk as it is indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedChunk {
    /// Unique across the index (`<document>:<ordinal>`).
    pub id: String,
    pub library: String,
    pub document: String,
    /// The document's name, for citations.
    pub title: String,
    pub page: u32,
    /// Reader tags (see the module's docs); never empty.
    pub readers: Vec<String>,
    pub text: String,
    /// The chunk's embedding; empty when none was made.
    pub vector: Vec<f32>,
}

/// What a search asks.
#[derive(Debug, Clone, Copy)]
pub struct Search<'a> {
    pub libraries: &'a [String],
    /// The caller's reader tags.
    pub tags: &'a [String],
    pub text: &'a str,
    /// The question's embeddings, each for the libraries embedded by one model; empty: BM25
    /// alone.
    pub semantic: &'a [Semantic<'a>],
    pub limit: usize,
}

/// The vector half of a search: the question's embedding by one model, and the libraries that
/// model embedded.
#[derive(Debug, Clone, Copy)]
pub struct Semantic<'a> {
    pub libraries: &'a [String],
    pub vector: &'a [f32],
}

/// A passage found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub chunk: String,
    pub library: String,
    pub document: String,
    pub title: String,
    pub page: u32,
    pub text: String,
    /// The fused score (higher is better), or the reranker's when the search was reranked.
    pub score: f64,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    library: Field,
    document: Field,
    title: Field,
    page: Field,
    readers: Field,
    text: Field,
    vector: Field,
}

/// One chunk's embedding in memory, with what the filter needs.
#[derive(Debug)]
struct VectorRow {
    chunk: Arc<str>,
    document: Arc<str>,
    readers: Box<[String]>,
    /// Of length 1 (cosine is then a dot product).
    unit: Box<[f32]>,
}

/// The index: see the module's docs.
pub struct Index {
    tantivy: tantivy::Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    /// Embeddings by library.
    vectors: RwLock<HashMap<String, Vec<VectorRow>>>,
    /// The library of each document indexed.
    documents: RwLock<HashMap<String, String>>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Index")
    }
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(FOLDED)
        .set_index_option(tantivy::schema::IndexRecordOption::WithFreqsAndPositions);
    let text_options = TextOptions::default()
        .set_indexing_options(indexing)
        .set_stored();
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        library: builder.add_text_field("library", STRING | STORED),
        document: builder.add_text_field("document", STRING | STORED),
        title: builder.add_text_field("title", STORED),
        page: builder.add_u64_field("page", STORED),
        readers: builder.add_text_field("readers", STRING | STORED),
        text: builder.add_text_field("text", text_options),
        vector: builder.add_bytes_field("vector", STORED),
    };
    (builder.build(), fields)
}

impl Index {
    /// Opens the index in `directory`, creating it when absent, and loads its embeddings.
    pub fn open(directory: &Path) -> Result<Index, IndexError> {
        std::fs::create_dir_all(directory)
            .map_err(|e| tantivy::TantivyError::SystemError(e.to_string()))?;
        let mmap = tantivy::directory::MmapDirectory::open(directory)?;
        let (schema, fields) = schema();
        let tantivy = tantivy::Index::open_or_create(mmap, schema)?;
        let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build();
        tantivy.tokenizers().register(FOLDED, analyzer);
        let writer = tantivy.writer_with_num_threads(1, WRITER_BYTES)?;
        let reader = tantivy
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let index = Index {
            tantivy,
            reader,
            writer: Mutex::new(writer),
            fields,
            vectors: RwLock::new(HashMap::new()),
            documents: RwLock::new(HashMap::new()),
        };
        index.load()?;
        Ok(index)
    }

    /// Loads the embeddings and the documents held.
    fn load(&self) -> Result<(), IndexError> {
        let searcher = self.reader.searcher();
        let addresses = searcher.search(&AllQuery, &DocSetCollector)?;
        let mut vectors = self.vectors.write().map_err(|_| IndexError::Poisoned)?;
        let mut documents = self.documents.write().map_err(|_| IndexError::Poisoned)?;
        for address in addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            let chunk = self.chunk_of(&doc);
            if let Some(row) = vector_row(&chunk) {
                vectors.entry(chunk.library.clone()).or_default().push(row);
            }
            documents.insert(chunk.document, chunk.library);
        }
        Ok(())
    }

    /// The documents indexed, each with its library.
    pub fn documents(&self) -> Result<HashMap<String, String>, IndexError> {
        Ok(self
            .documents
            .read()
            .map_err(|_| IndexError::Poisoned)?
            .clone())
    }

    /// Whether the document `document` is indexed.
    pub fn holds(&self, document: &str) -> Result<bool, IndexError> {
        Ok(self
            .documents
            .read()
            .map_err(|_| IndexError::Poisoned)?
            .contains_key(document))
    }

    /// Adds the chunks of documents (all of each), committed when this returns; a document
    /// indexed already is replaced, never held twice.
    pub fn add(&self, chunks: &[IndexedChunk]) -> Result<(), IndexError> {
        let f = self.fields;
        let added: HashMap<&str, &str> = chunks
            .iter()
            .map(|c| (c.document.as_str(), c.library.as_str()))
            .collect();
        let replaced: Vec<(String, String)> = {
            let held = self.documents.read().map_err(|_| IndexError::Poisoned)?;
            (added.keys())
                .filter_map(|document| {
                    let library = held.get(*document)?;
                    Some((library.clone(), (*document).to_owned()))
                })
                .collect()
        };
        {
            let writer = self.writer.lock().map_err(|_| IndexError::Poisoned)?;
            // A delete applies to what was added before it only: the chunks below stay.
            for (_, document) in &replaced {
                writer.delete_term(Term::from_field_text(f.document, document));
            }
            for chunk in chunks {
                let mut doc = TantivyDocument::default();
                doc.add_text(f.id, &chunk.id);
                doc.add_text(f.library, &chunk.library);
                doc.add_text(f.document, &chunk.document);
                doc.add_text(f.title, &chunk.title);
                doc.add_u64(f.page, u64::from(chunk.page));
                for reader in &chunk.readers {
                    doc.add_text(f.readers, reader);
                }
                doc.add_text(f.text, &chunk.text);
                doc.add_bytes(f.vector, &vector_bytes(&chunk.vector));
                writer.add_document(doc)?;
            }
        }
        self.commit()?;
        let mut vectors = self.vectors.write().map_err(|_| IndexError::Poisoned)?;
        forget_vectors(&mut vectors, &replaced);
        for chunk in chunks {
            if let Some(row) = vector_row(chunk) {
                vectors.entry(chunk.library.clone()).or_default().push(row);
            }
        }
        drop(vectors);
        let mut documents = self.documents.write().map_err(|_| IndexError::Poisoned)?;
        for (document, library) in added {
            documents.insert(document.to_owned(), library.to_owned());
        }
        Ok(())
    }

    fn commit(&self) -> Result<(), IndexError> {
        self.writer
            .lock()
            .map_err(|_| IndexError::Poisoned)?
            .commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Deletes a document's chunks from the index files and from memory.
    pub fn delete_document(&self, library: &str, document: &str) -> Result<(), IndexError> {
        self.delete_documents(&[(library.to_owned(), document.to_owned())])
    }

    /// Deletes documents' chunks, each named with its library, from the index files (one merge
    /// for all) and from memory.
    pub fn delete_documents(&self, documents: &[(String, String)]) -> Result<(), IndexError> {
        let field = self.fields.document;
        self.delete(
            documents
                .iter()
                .map(|(_, d)| Term::from_field_text(field, d)),
        )?;
        let mut vectors = self.vectors.write().map_err(|_| IndexError::Poisoned)?;
        forget_vectors(&mut vectors, documents);
        drop(vectors);
        let mut held = self.documents.write().map_err(|_| IndexError::Poisoned)?;
        for (_, document) in documents {
            held.remove(document);
        }
        Ok(())
    }

    /// Deletes a library's chunks from the index files and from memory.
    pub fn delete_library(&self, library: &str) -> Result<(), IndexError> {
        self.delete([Term::from_field_text(self.fields.library, library)])?;
        self.vectors
            .write()
            .map_err(|_| IndexError::Poisoned)?
            .remove(library);
        self.documents
            .write()
            .map_err(|_| IndexError::Poisoned)?
            .retain(|_, held| held != library);
        Ok(())
    }

    /// The embeddings of a document's chunks, by ordinal (what is in the index files).
    pub fn document_vectors(&self, document: &str) -> Result<Vec<(u32, Vec<f32>)>, IndexError> {
        let term = Term::from_field_text(self.fields.document, document);
        let query = tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic);
        let searcher = self.reader.searcher();
        let mut vectors = Vec::new();
        for address in searcher.search(&query, &DocSetCollector)? {
            let chunk = self.chunk_of(&searcher.doc(address)?);
            let ordinal = chunk.id.rsplit_once(':').and_then(|(_, o)| o.parse().ok());
            if let Some(ordinal) = ordinal.filter(|_| !chunk.vector.is_empty()) {
                vectors.push((ordinal, chunk.vector));
            }
        }
        vectors.sort_by_key(|(ordinal, _)| *ordinal);
        Ok(vectors)
    }

    /// Deletes what `terms` name, then merges every segment so that the deleted text is gone
    /// from the files, not just hidden.
    fn delete(&self, terms: impl IntoIterator<Item = Term>) -> Result<(), IndexError> {
        let mut writer = self.writer.lock().map_err(|_| IndexError::Poisoned)?;
        for term in terms {
            writer.delete_term(term);
        }
        writer.commit()?;
        let segments = self.tantivy.searchable_segment_ids()?;
        if !segments.is_empty() {
            writer.merge(&segments).wait()?;
        }
        writer.garbage_collect_files().wait()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// The best passages the caller may read, BM25 and vectors fused (see the module's docs).
    pub fn search(&self, search: &Search<'_>) -> Result<Vec<Hit>, IndexError> {
        let depth = (search.limit * 4).max(40);
        let mut rankings = vec![self.bm25(search, depth)?];
        for semantic in search.semantic {
            rankings.push(self.nearest(semantic, search.tags, depth)?);
        }
        let rankings: Vec<&[String]> = rankings.iter().map(Vec::as_slice).collect();
        let ranked = fuse(&rankings, search.limit);
        let searcher = self.reader.searcher();
        let mut hits = Vec::with_capacity(ranked.len());
        for Ranked { key, score } in ranked {
            if let Some(hit) = self.hit(&searcher, &key, score)? {
                hits.push(hit);
            }
        }
        Ok(hits)
    }

    /// The full-text ranking, filtered inside the query: chunk ids, best first.
    fn bm25(&self, search: &Search<'_>, depth: usize) -> Result<Vec<String>, IndexError> {
        let f = self.fields;
        let parser = QueryParser::for_index(&self.tantivy, vec![f.text]);
        let (text_query, _) = parser.parse_query_lenient(search.text);
        let filter = |field: Field, values: &[String]| -> Box<dyn Query> {
            let terms = values.iter().map(|v| Term::from_field_text(field, v));
            Box::new(ConstScoreQuery::new(
                Box::new(TermSetQuery::new(terms)),
                0.0,
            ))
        };
        let query = BooleanQuery::new(vec![
            (Occur::Must, text_query),
            (Occur::Must, filter(f.library, search.libraries)),
            (Occur::Must, filter(f.readers, search.tags)),
        ]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(depth))?;
        let mut ids = Vec::with_capacity(top.len());
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = doc.get_first(f.id).and_then(|v| v.as_str()) {
                ids.push(id.to_owned());
            }
        }
        Ok(ids)
    }

    /// The exact cosine ranking over the rows the caller may read: chunk ids, best first.
    fn nearest(
        &self,
        semantic: &Semantic<'_>,
        tags: &[String],
        depth: usize,
    ) -> Result<Vec<String>, IndexError> {
        let query = unit(semantic.vector);
        let vectors = self.vectors.read().map_err(|_| IndexError::Poisoned)?;
        let mut scored: Vec<(f32, &Arc<str>)> = Vec::new();
        for library in semantic.libraries {
            let Some(rows) = vectors.get(library) else {
                continue;
            };
            for row in rows {
                if row.unit.len() != query.len() || !row.readers.iter().any(|r| tags.contains(r)) {
                    continue;
                }
                scored.push((dot(&row.unit, &query), &row.chunk));
            }
        }
        // Only the best `depth` are ranked: at a million rows, sorting them all cost more than
        // scoring them.
        // Ties go by chunk id, so that a ranking never depends on the order rows were held in.
        let best =
            |a: &(f32, &Arc<str>), b: &(f32, &Arc<str>)| b.0.total_cmp(&a.0).then(a.1.cmp(b.1));
        if scored.len() > depth && depth > 0 {
            scored.select_nth_unstable_by(depth - 1, best);
        }
        scored.truncate(depth);
        scored.sort_by(best);
        Ok(scored
            .into_iter()
            .map(|(_, chunk)| chunk.to_string())
            .collect())
    }

    fn hit(
        &self,
        searcher: &tantivy::Searcher,
        chunk: &str,
        score: f64,
    ) -> Result<Option<Hit>, IndexError> {
        let term = Term::from_field_text(self.fields.id, chunk);
        let query = tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic);
        let top = searcher.search(&query, &TopDocs::with_limit(1))?;
        let Some((_, address)) = top.first() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(*address)?;
        let chunk = self.chunk_of(&doc);
        Ok(Some(Hit {
            chunk: chunk.id,
            library: chunk.library,
            document: chunk.document,
            title: chunk.title,
            page: chunk.page,
            text: chunk.text,
            score,
        }))
    }

    fn chunk_of(&self, doc: &TantivyDocument) -> IndexedChunk {
        let f = self.fields;
        let text = |field: Field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let vector = doc
            .get_first(f.vector)
            .and_then(|v| v.as_bytes())
            .unwrap_or_default();
        IndexedChunk {
            id: text(f.id),
            library: text(f.library),
            document: text(f.document),
            title: text(f.title),
            page: doc
                .get_first(f.page)
                .and_then(|v| v.as_u64())
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or(1),
            readers: doc
                .get_all(f.readers)
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            text: text(f.text),
            vector: vector_of(vector),
        }
    }
}

/// Drops the embeddings of `documents`, each named with its library: one pass over each
/// library's rows, however many of its documents go.
fn forget_vectors(vectors: &mut HashMap<String, Vec<VectorRow>>, documents: &[(String, String)]) {
    let mut by_library: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (library, document) in documents {
        by_library.entry(library).or_default().insert(document);
    }
    for (library, going) in by_library {
        if let Some(rows) = vectors.get_mut(library) {
            rows.retain(|row| !going.contains(&*row.document));
        }
    }
}

fn vector_row(chunk: &IndexedChunk) -> Option<VectorRow> {
    if chunk.vector.is_empty() {
        return None;
    }
    Some(VectorRow {
        chunk: Arc::from(chunk.id.as_str()),
        document: Arc::from(chunk.document.as_str()),
        readers: chunk.readers.clone().into_boxed_slice(),
        unit: unit(&chunk.vector).into_boxed_slice(),
    })
}

/// `vector` scaled to length 1 (a zero vector stays zero).
/// The dot product of two vectors of one length, summed in eight lanes so that the compiler can
/// keep them in vector registers (one running sum is a chain no SIMD unit can shorten).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut sums = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((sum, x), y) in sums.iter_mut().zip(x).zip(y) {
            *sum += x * y;
        }
    }
    sums.iter().sum::<f32>() + tail
}

fn unit(vector: &[f32]) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        return vector.to_vec();
    }
    vector.iter().map(|x| x / norm).collect()
}

#[cfg(test)]
mod tests;
