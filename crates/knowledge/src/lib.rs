//! Knowledge libraries: the group's documents, read, chunked, embedded and searched, so that an
//! answer can cite its passages and a person never gets a passage they may not read.
//!
//! - [`extract`]: the documents' text in its structure (PDF, DOCX, XLSX, PPTX, HTML, Markdown, TXT,
//!   EML), read by well-kept crates; a scanned PDF (no text layer) is flagged, not refused.
//! - [`chunk`]: chunks that follow headings, paragraphs and tables, each on one page.
//! - [`index`]: the embedded index under the data directory — `tantivy` (BM25) and exact cosine
//!   over the chunks' embeddings — with the caller's permissions as a filter inside both. Each
//!   replica has its own, built from the store, which keeps every chunk's text and embedding
//!   ([`Libraries::sync`]: at load, and on every `libraries` change notice), so documents
//!   ingested or deleted through one replica are found, or gone, through all, and an index
//!   directory lost is rebuilt at the next start without embedding anything again.
//! - [`fuse`]: reciprocal rank fusion of the two rankings.
//! - [`libraries`]: the service the surfaces call — libraries created and deleted, documents
//!   ingested (read, chunked, the data policy's personal-data actions applied — the uploader's
//!   and the library's entity's, tightened by the upload's rule —, embedded through the gateway
//!   at `batch` priority, indexed, stored) and deleted for real, searches with the caller's tags,
//!   their best candidates reranked when a reranker is configured.
//!
//! **Invariants:** permissions narrow the search itself, never its results afterwards; a deleted
//! document leaves the index files, not just its listings; no reader's failure panics.

pub mod chunk;
pub mod extract;
pub mod fuse;
pub mod index;
pub mod libraries;
#[cfg(any(test, feature = "samples"))]
pub mod samples;

pub use chunk::{Chunk, chunks};
pub use extract::{Extracted, Kind, Unreadable, extract};
pub use index::{Hit, Index, IndexError, IndexedChunk, Search, Semantic};
pub use libraries::{
    Cited, Embedder, Libraries, LibraryError, PersonalData, Reader, Reranker, Reranking, Synced,
    Upload, Urgency, credentials, library_tag, valid_tag,
};
