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
    ),
    tags(
        (name = "files", description = "Files uploaded for batches and other uses (OpenAI's and Mistral's `/v1/files`)"),
    )
)]
pub struct BatchesApi;
