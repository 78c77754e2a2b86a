//! Files and batches, OpenAI's and Mistral's: `/v1/files` (upload, list, retrieve, delete,
//! download; `files`), with the bytes on disk under the data directory (`contents`) and their
//! metadata in the store.
//!
//! Every route authenticates its caller through `access` (an API key or an access token; never
//! a session cookie, which would ride along on another site's form) and narrows what it reads to
//! the caller's own objects, so another caller's object answers 404. What changes is written with
//! its audit event in one transaction. The errors are OpenAI's JSON (`error`).
//!
//! **Invariant:** it never reaches into another surface; a file's bytes are streamed, never held
//! whole in memory.

mod contents;
mod error;
mod files;
pub mod openapi;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use http::HeaderMap;
use identity::{Directory, Principal};
use store::Store;

pub use contents::{Contents, WriteError, Written};
pub use error::ApiError;
pub use files::{FileObject, Purpose};

/// What the routes need.
#[derive(Debug)]
pub struct Batches {
    store: Store,
    directory: Arc<Directory>,
    sign_in: Option<Arc<dyn access::SignIn>>,
    settings: Settings,
    contents: Contents,
}

/// The limits of `[batches]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the files' bytes are kept.
    pub files_dir: PathBuf,
    pub max_file_bytes: u64,
    pub entity_quota_bytes: u64,
}

/// What [`Batches::open`] is built from.
#[derive(Debug)]
pub struct Parts {
    pub store: Store,
    pub directory: Arc<Directory>,
    pub sign_in: Option<Arc<dyn access::SignIn>>,
    pub settings: Settings,
}

impl Batches {
    /// The routes' state; the files directory is created (0700) when missing.
    pub fn open(parts: Parts) -> std::io::Result<Arc<Batches>> {
        let contents = Contents::open(&parts.settings.files_dir)?;
        Ok(Arc::new(Batches {
            store: parts.store,
            directory: parts.directory,
            sign_in: parts.sign_in,
            settings: parts.settings,
            contents,
        }))
    }

    /// The caller of a request, from its bearer key or access token.
    pub(crate) async fn caller(&self, headers: &HeaderMap) -> Result<Arc<Principal>, ApiError> {
        let sign_in = self.sign_in.as_deref();
        let cookie = access::SessionCookie::Refused;
        Ok(access::authenticate(&self.directory, sign_in, headers, cookie).await?)
    }
}

/// The files and batches routes.
pub fn router(batches: Arc<Batches>) -> Router {
    Router::new()
        .route("/v1/files", get(files::list).post(files::upload))
        .route(
            "/v1/files/{file_id}",
            get(files::retrieve).delete(files::delete),
        )
        .route("/v1/files/{file_id}/content", get(files::content))
        .with_state(batches)
}
