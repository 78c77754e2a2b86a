//! The files and batches part of the OpenAPI description; the binary merges it with the others
//! and serves the whole at `/openapi.json`.

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
        crate::batches::create,
        crate::batches::list,
        crate::batches::retrieve,
        crate::batches::cancel,
        crate::mistral::create,
        crate::mistral::list,
        crate::mistral::retrieve,
        crate::mistral::cancel,
    ),
    tags(
        (name = "files", description = "Files uploaded for batches and other uses (OpenAI's and Mistral's `/v1/files`)"),
        (name = "batches", description = "Batches of requests run in the background at `batch` priority (OpenAI's `/v1/batches`, Mistral's `/v1/batch/jobs`)"),
    )
)]
pub struct BatchesApi;
