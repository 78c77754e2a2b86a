//! The files and batches part of the OpenAPI description; the binary merges it with the others
//! and serves the whole at `/openapi.json`.
//!
//! The batch routes of both shapes are served by the same generic handlers (`batches`), so
//! their descriptions cannot sit on them: each route is described here, on a declaration of its
//! own (`described`), with the shape's types.

use utoipa::OpenApi;

/// The routes of [`crate::router`], with their schemas.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::files::upload,
        crate::files::list,
        crate::files::retrieve,
        crate::files::delete,
        crate::files::content,
        described::create_batch,
        described::list_batches,
        described::retrieve_batch,
        described::cancel_batch,
        described::create_job,
        described::list_jobs,
        described::retrieve_job,
        described::cancel_job,
    ),
    tags(
        (name = "files", description = "Files uploaded for batches and other uses (OpenAI's and Mistral's `/v1/files`)"),
        (name = "batches", description = "Batches of requests run in the background at `batch` priority (OpenAI's `/v1/batches`, Mistral's `/v1/batch/jobs`)"),
    )
)]
pub struct BatchesApi;

/// The batch routes' descriptions: declarations only, never called.
#[expect(
    dead_code,
    reason = "declarations that carry the routes' descriptions; the generic handlers serve them"
)]
mod described {
    use crate::batches::{BatchList, BatchObject, NewBatch};
    use crate::mistral::{JobList, JobObject, NewJob};

    /// Creates a batch from one of the caller's `batch` files.
    #[utoipa::path(
        post, path = "/v1/batches", tag = "batches",
        request_body = NewBatch,
        responses((status = 200, description = "The batch, `validating`", body = BatchObject)),
    )]
    pub(super) fn create_batch() {}

    /// Lists the caller's batches, newest first.
    #[utoipa::path(
        get, path = "/v1/batches", tag = "batches",
        params(
            ("after" = Option<String>, Query, description = "Only batches older than this one"),
            ("limit" = Option<u32>, Query, description = "At most this many, 1 to 100; default 20"),
        ),
        responses((status = 200, description = "The caller's batches", body = BatchList)),
    )]
    pub(super) fn list_batches() {}

    /// One of the caller's batches.
    #[utoipa::path(
        get, path = "/v1/batches/{batch_id}", tag = "batches",
        params(("batch_id" = String, Path, description = "The batch's id")),
        responses((status = 200, description = "The batch", body = BatchObject)),
    )]
    pub(super) fn retrieve_batch() {}

    /// Cancels one of the caller's batches: the lines done so far stay, in its output and error
    /// files; it is `cancelling` until the runner stops, then `cancelled`.
    #[utoipa::path(
        post, path = "/v1/batches/{batch_id}/cancel", tag = "batches",
        params(("batch_id" = String, Path, description = "The batch's id")),
        responses((status = 200, description = "The batch, `cancelling` or already ended", body = BatchObject)),
    )]
    pub(super) fn cancel_batch() {}

    /// Creates a batch job.
    #[utoipa::path(
        post, path = "/v1/batch/jobs", tag = "batches",
        request_body = NewJob,
        responses((status = 200, description = "The job, `QUEUED`", body = JobObject)),
    )]
    pub(super) fn create_job() {}

    /// Lists the caller's jobs, newest first.
    #[utoipa::path(
        get, path = "/v1/batch/jobs", tag = "batches",
        params(
            ("after" = Option<String>, Query, description = "Only jobs older than this one"),
            ("page_size" = Option<u32>, Query, description = "At most this many, 1 to 100; default 100"),
        ),
        responses((status = 200, description = "The caller's jobs", body = JobList)),
    )]
    pub(super) fn list_jobs() {}

    /// One of the caller's jobs.
    #[utoipa::path(
        get, path = "/v1/batch/jobs/{job_id}", tag = "batches",
        params(("job_id" = String, Path, description = "The job's id")),
        responses((status = 200, description = "The job", body = JobObject)),
    )]
    pub(super) fn retrieve_job() {}

    /// Cancels one of the caller's jobs.
    #[utoipa::path(
        post, path = "/v1/batch/jobs/{job_id}/cancel", tag = "batches",
        params(("job_id" = String, Path, description = "The job's id")),
        responses((status = 200, description = "The job", body = JobObject)),
    )]
    pub(super) fn cancel_job() {}
}
