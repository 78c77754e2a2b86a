//! Mistral's batch API, `/v1/batch/jobs`: create (input files, model, endpoint, metadata,
//! timeout), retrieve, list and cancel — the same batches and the same runner as OpenAI's
//! `/v1/batches`, shown in Mistral's shape (`BatchJobOut`). A job's lines are `{"custom_id",
//! "body"}`; the job's model is put in each body that names none.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{BatchStatus, StoredBatch};

use crate::Batches;
use crate::batches::{Shape, Submission, answer, list_limit, metadata};
use crate::error::ApiError;

/// The largest body of a job's creation.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// A job's default timeout, in hours (Mistral's).
const DEFAULT_TIMEOUT_HOURS: u64 = 24;

/// A job's creation, as Mistral's SDK sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewJob {
    /// One file of purpose `batch` (this server runs one input file per job).
    input_files: Vec<String>,
    /// `/v1/chat/completions`, `/v1/embeddings` or `/v1/fim/completions`.
    endpoint: String,
    /// The model of every line whose body names none.
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    metadata: Option<HashMap<String, String>>,
    /// Hours until the job times out, 1 to 720; default 24.
    #[serde(default)]
    timeout_hours: Option<u64>,
}

/// A job, as Mistral's `BatchJobOut`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobObject {
    pub id: String,
    /// Always `batch`.
    pub object: &'static str,
    pub input_files: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub endpoint: String,
    pub model: Option<String>,
    pub output_file: Option<String>,
    pub error_file: Option<String>,
    pub errors: Vec<JobError>,
    /// `QUEUED`, `RUNNING`, `SUCCESS`, `FAILED`, `TIMEOUT_EXCEEDED`,
    /// `CANCELLATION_REQUESTED` or `CANCELLED`.
    pub status: &'static str,
    pub created_at: i64,
    pub total_requests: u64,
    pub completed_requests: u64,
    pub succeeded_requests: u64,
    pub failed_requests: u64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

/// Why a job failed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobError {
    pub message: String,
    pub count: u64,
}

/// A page of jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobList {
    pub data: Vec<JobObject>,
    /// Always `list`.
    pub object: &'static str,
    pub total: usize,
}

fn status(status: BatchStatus) -> &'static str {
    match status {
        BatchStatus::Validating => "QUEUED",
        BatchStatus::InProgress | BatchStatus::Finalizing => "RUNNING",
        BatchStatus::Completed => "SUCCESS",
        BatchStatus::Failed => "FAILED",
        BatchStatus::Expired => "TIMEOUT_EXCEEDED",
        BatchStatus::Cancelling => "CANCELLATION_REQUESTED",
        BatchStatus::Cancelled => "CANCELLED",
    }
}

impl JobObject {
    pub fn of(batch: &StoredBatch) -> JobObject {
        let ended = batch.status.is_final();
        let p = batch.progress;
        let errors = batch
            .errors
            .as_deref()
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .and_then(|errors| errors["data"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|error| JobError {
                message: error["message"].as_str().unwrap_or_default().to_owned(),
                count: 1,
            })
            .collect();
        JobObject {
            id: batch.id.to_string(),
            object: "batch",
            input_files: vec![batch.input_file_id.to_string()],
            metadata: batch
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok()),
            endpoint: batch.endpoint.clone(),
            model: batch.model.clone(),
            output_file: batch
                .output_file_id
                .filter(|_| ended)
                .map(|f| f.to_string()),
            error_file: batch.error_file_id.filter(|_| ended).map(|f| f.to_string()),
            errors,
            status: status(batch.status),
            created_at: batch.created_at / 1000,
            total_requests: p.total,
            completed_requests: p.completed + p.failed,
            succeeded_requests: p.completed,
            failed_requests: p.failed,
            started_at: batch.in_progress_at.map(|at| at / 1000),
            completed_at: [
                batch.completed_at,
                batch.failed_at,
                batch.expired_at,
                batch.cancelled_at,
            ]
            .into_iter()
            .flatten()
            .next()
            .map(|at| at / 1000),
        }
    }
}

/// Creates a batch job.
#[utoipa::path(
    post, path = "/v1/batch/jobs", tag = "batches",
    request_body = NewJob,
    responses((status = 200, description = "The job, `QUEUED`", body = JobObject)),
)]
pub(crate) async fn create(State(batches): State<Arc<Batches>>, request: Request) -> Response {
    let created = async {
        let (parts, body) = request.into_parts();
        let principal = batches.caller(&parts.headers).await?;
        let bytes = to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::invalid("body", "the body is not readable or too large"))?;
        let asked: NewJob = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::invalid("body", format!("the body is not a batch job: {e}")))?;
        let [input] = asked.input_files.as_slice() else {
            return Err(ApiError::invalid(
                "input_files",
                "name exactly one input file per job",
            ));
        };
        let hours = asked.timeout_hours.unwrap_or(DEFAULT_TIMEOUT_HOURS);
        let submission = Submission {
            input_file_id: input,
            endpoint: &asked.endpoint,
            window_hours: crate::batches::window_hours(&format!("{hours}h"))
                .map_err(|_| ApiError::invalid("timeout_hours", "`timeout_hours` is 1 to 720"))?,
            model: asked.model,
            metadata: metadata(asked.metadata)?,
            shape: Shape::Mistral,
        };
        batches.submit(&principal, &parts.headers, submission).await
    };
    answer(created.await.map(|b| JobObject::of(&b)))
}

/// One of the caller's jobs.
#[utoipa::path(
    get, path = "/v1/batch/jobs/{job_id}", tag = "batches",
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, description = "The job", body = JobObject)),
)]
pub(crate) async fn retrieve(
    State(batches): State<Arc<Batches>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = async {
        let principal = batches.caller(&headers).await?;
        batches.owned_batch(&principal, &id).await
    };
    answer(found.await.map(|b| JobObject::of(&b)))
}

/// Cancels one of the caller's jobs.
#[utoipa::path(
    post, path = "/v1/batch/jobs/{job_id}/cancel", tag = "batches",
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, description = "The job", body = JobObject)),
)]
pub(crate) async fn cancel(
    State(batches): State<Arc<Batches>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let cancelled = async {
        let principal = batches.caller(&headers).await?;
        batches.cancel(&principal, &id).await
    };
    answer(cancelled.await.map(|b| JobObject::of(&b)))
}

/// Lists the caller's jobs, newest first.
#[utoipa::path(
    get, path = "/v1/batch/jobs", tag = "batches",
    params(("page_size" = Option<u32>, Query, description = "At most this many, 1 to 100; default 100")),
    responses((status = 200, description = "The caller's jobs", body = JobList)),
)]
pub(crate) async fn list(
    State(batches): State<Arc<Batches>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let listed = async {
        let principal = batches.caller(&headers).await?;
        let limit = list_limit(query.get("page_size"), 100)?;
        let shape = Shape::Mistral.as_str();
        let found = batches
            .store
            .batches(principal.owner, shape, None, limit)
            .await?;
        let data: Vec<JobObject> = found.iter().map(JobObject::of).collect();
        Ok(JobList {
            object: "list",
            total: data.len(),
            data,
        })
    };
    answer(listed.await)
}
