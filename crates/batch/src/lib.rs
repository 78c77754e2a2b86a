//! Files and batches, OpenAI's and Mistral's: `/v1/files` (upload, list, retrieve, delete,
//! download; `files`), with the bytes on disk under the data directory or in the store's
//! `file_chunks`, as `[batches] file_contents` says (`contents`: one interface, so uploads,
//! downloads, batches' inputs and their result spools work alike on both; in the database every
//! replica reads every file; a change of the setting moves every file at start: `contents::moving`),
//! and their metadata in the store; `/v1/batches` and Mistral's `/v1/batch/jobs`, two views
//! (`batches::View`; Mistral's in `mistral`) of the same batches served by the same handlers
//! (`batches`), run by the [`Runner`] (`runner`) through the
//! gateway as their submitter — the binary joins the two ([`Lines`]) and runs the runner on
//! the replica that holds the background jobs' lease.
//!
//! Every route authenticates its caller through `access` (an API key or an access token; never
//! a session cookie, which would ride along on another site's form) and narrows what it reads to
//! the caller's own objects, so another caller's object answers 404. What changes is written with
//! its audit event in one transaction. The errors are OpenAI's JSON (`error`). What a route
//! reads from a request — its caller, body and page — is read one way for all (`extract`).
//!
//! **Invariant:** it never reaches into another surface; a file's bytes are streamed, never held
//! whole in memory.

mod batches;
mod contents;
mod error;
mod extract;
mod files;
mod mistral;
pub mod openapi;
mod runner;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use domain::{UnixMillis, now_millis};
use http::HeaderMap;
use identity::{Directory, Principal};
use store::Store;
use tokio::sync::{Notify, watch};

pub use batches::{BatchObject, Shape, operation_of};
pub use contents::{Contents, ContentsAt, Moved, WriteError, Written};
pub use error::ApiError;
pub use files::{FileObject, Purpose};
pub use mistral::JobObject;
pub use runner::{LineAnswer, LineRequest, Lines, MAX_LINES, RunError, Runner};

/// What the routes need.
#[derive(Debug)]
pub struct Batches {
    store: Store,
    directory: Arc<Directory>,
    sign_in: Option<Arc<dyn access::SignIn>>,
    settings: Settings,
    contents: Contents,
    /// Wakes the runner: a batch was submitted or cancelled here.
    wake: Notify,
    /// The input lines committed by the batch the runner last committed for.
    committed: watch::Sender<u64>,
    /// How many batches ended since the start.
    ended: watch::Sender<u64>,
    /// What the runner reads completion windows against.
    clock: Clock,
}

/// The time the runner reads batches' completion windows against: the system's, unless moved
/// ahead of it ([`Clock::advance`]) so that a window's end is seen without waiting a day for it.
#[derive(Debug, Default)]
pub struct Clock {
    ahead_millis: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> UnixMillis {
        now_millis().saturating_add(self.ahead_millis.load(Ordering::Relaxed))
    }

    /// Moves this clock `by` further ahead of the system's.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.ahead_millis.fetch_add(millis, Ordering::Relaxed);
    }
}

/// The limits of `[batches]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the files' bytes are kept.
    pub contents: ContentsAt,
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
    /// The routes' state; a files directory is created (0700) when missing.
    pub fn open(parts: Parts) -> std::io::Result<Arc<Batches>> {
        let contents = Contents::open(&parts.settings.contents, &parts.store)?;
        Ok(Arc::new(Batches {
            store: parts.store,
            directory: parts.directory,
            sign_in: parts.sign_in,
            settings: parts.settings,
            contents,
            wake: Notify::new(),
            committed: watch::Sender::new(0),
            ended: watch::Sender::new(0),
            clock: Clock::default(),
        }))
    }

    /// Moves into the place its settings name every file whose contents are kept at `from`,
    /// the other place (`contents::moving`); a files directory that does not exist holds none.
    pub async fn move_contents_from(&self, from: &ContentsAt) -> std::io::Result<Moved> {
        let absent = matches!(from, ContentsAt::Disk(dir) if !dir.exists());
        if absent || *from == self.settings.contents {
            return Ok(Moved::default());
        }
        let from = Contents::open(from, &self.store)?;
        self.contents.move_from(&from, &self.store).await
    }

    /// The input lines the runner last committed for a batch (its `next_line`): a test waits on
    /// it to stop the server mid-batch.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// How many batches ended since the start: a test waits on it for a batch's end.
    pub fn ended(&self) -> watch::Receiver<u64> {
        self.ended.subscribe()
    }

    /// The clock the runner reads completion windows against: a test moves it ahead to see a
    /// window end.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn note_ended(&self, batch: &store::StoredBatch) {
        tracing::info!(batch = %batch.id, "batch ended");
        self.ended.send_modify(|count| *count += 1);
    }

    /// The caller of a request, from its bearer key or access token.
    pub(crate) async fn caller(&self, headers: &HeaderMap) -> Result<Arc<Principal>, ApiError> {
        let sign_in = self.sign_in.as_deref();
        let cookie = access::SessionCookie::Refused;
        Ok(access::authenticate(&self.directory, sign_in, headers, cookie).await?)
    }
}

/// The files and batches routes.
pub fn router(state: Arc<Batches>) -> Router {
    Router::new()
        .route("/v1/files", get(files::list).post(files::upload))
        .route(
            "/v1/files/{file_id}",
            get(files::retrieve).delete(files::delete),
        )
        .route("/v1/files/{file_id}/content", get(files::content))
        // Both shapes through the same handlers, each with its view of a batch.
        .route(
            "/v1/batches",
            get(batches::list::<BatchObject>).post(batches::create::<BatchObject>),
        )
        .route(
            "/v1/batches/{batch_id}",
            get(batches::retrieve::<BatchObject>),
        )
        .route(
            "/v1/batches/{batch_id}/cancel",
            post(batches::cancel::<BatchObject>),
        )
        .route(
            "/v1/batch/jobs",
            get(batches::list::<JobObject>).post(batches::create::<JobObject>),
        )
        .route(
            "/v1/batch/jobs/{job_id}",
            get(batches::retrieve::<JobObject>),
        )
        .route(
            "/v1/batch/jobs/{job_id}/cancel",
            post(batches::cancel::<JobObject>),
        )
        .with_state(state)
}
