//! Mistral's batch API, `/v1/batch/jobs`: create (input files, model, endpoint, metadata,
//! timeout), retrieve, list and cancel — the same batches, handlers and runner as OpenAI's
//! `/v1/batches`, through Mistral's view of them ([`View`]: `BatchJobOut`). A job's lines are `{"custom_id",
//! "body"}`; the job's model is put in each body that names none.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{BatchStatus, StoredBatch};

use crate::batches::{Shape, Submission, View, metadata, window_hours};
use crate::error::ApiError;
use crate::extract::PageSize;

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

impl View for JobObject {
    const SHAPE: Shape = Shape::Mistral;
    const NOUN: &'static str = "a batch job";
    const PAGE_SIZE: PageSize = PageSize {
        param: "page_size",
        default: 100,
        max: 100,
    };
    type New = NewJob;
    type Page = JobList;

    fn submission(asked: &NewJob) -> Result<Submission<'_>, ApiError> {
        let [input] = asked.input_files.as_slice() else {
            return Err(ApiError::invalid(
                "input_files",
                "name exactly one input file per job",
            ));
        };
        let hours = asked.timeout_hours.unwrap_or(DEFAULT_TIMEOUT_HOURS);
        Ok(Submission {
            input_file_id: input,
            endpoint: &asked.endpoint,
            window_hours: window_hours(&format!("{hours}h"))
                .map_err(|_| ApiError::invalid("timeout_hours", "`timeout_hours` is 1 to 720"))?,
            model: asked.model.clone(),
            metadata: metadata(asked.metadata.as_ref())?,
            shape: Shape::Mistral,
        })
    }

    fn of(batch: &StoredBatch) -> JobObject {
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

    fn page(data: Vec<JobObject>, _has_more: bool) -> JobList {
        JobList {
            object: "list",
            total: data.len(),
            data,
        }
    }
}
