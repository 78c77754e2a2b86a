//! Evaluation suites and runs of the AI Factory: suites are stored with their use case, one
//! revision per upload; a run evaluates one version on one suite revision, through the real
//! gateway at `batch` priority (the binary's [`Evaluator`] runs it), and stores each case's
//! result. A run's report gives its scores, cost and latency, whether it passes the use case's
//! thresholds, and the cases that regressed against the deployed version's latest run on the
//! same suite.
//!
//! [`gate`] is eval-gated promotion: an approval must name a finished run of exactly the version
//! approved (same content digest) whose summary passes the thresholds.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use domain::{AuditAction, Entity, now_millis};
use factory::report::{self, Summary};
use factory::suite::{self, Case};
use factory::{Version, VersionState};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{EvalRun, EvalStatus};

use crate::body::{check_slug, json};
use crate::caller::Caller;
use crate::use_cases::{Loaded, use_case_event, use_case_for};
use crate::{AdminAction, AdminError, AdminState};

/// What the binary hands a run to: it calls the gateway in-process and stores the results.
pub trait Evaluator: Send + Sync {
    /// Starts `job` in the background; the run is already stored as `running`.
    fn start(&self, job: EvalJob);
}

/// One run to carry out.
#[derive(Debug, Clone)]
pub struct EvalJob {
    pub run: EvalRun,
    pub spec: factory::VersionSpec,
    /// Whose calls these are: the use case's owning entity (`None`: the group's).
    pub owner: Option<Entity>,
    pub cases: Vec<Case>,
}

/// `PUT /admin/v1/use-cases/{slug}/suites/{name}`: a new revision of a suite, its body the JSONL
/// cases → 201 `{"revision", "cases"}`; 400 listing every bad line.
#[utoipa::path(
    put, path = "/admin/v1/use-cases/{slug}/suites/{name}", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug"), ("name" = String, Path, description = "The suite's name")),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses(
        (status = 201, description = "Stores a new revision of a suite (JSON Lines).", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn put_suite(
    State(state): State<AdminState>,
    caller: Caller,
    Path((slug, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    check_slug("suite", &name)?;
    let loaded = use_case_for(&state, &caller, AdminAction::SetSuite, &slug).await?;
    let bytes = body.map_err(|e| AdminError::bad_request(e.body_text()))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| AdminError::bad_request("the suite must be UTF-8 JSON lines"))?;
    let cases = suite::parse(text).map_err(|problems| {
        AdminError::bad_request(format!("invalid suite: {}", problems.join("; ")))
    })?;
    let mut audit = use_case_event(
        &caller,
        AuditAction::EvalSuiteSet,
        &loaded.use_case,
        loaded.owner.as_ref(),
        json!({"suite": name, "cases": cases.len()}),
    );
    audit.target = format!("{slug}/{name}");
    let revision = state
        .store
        .put_suite(&slug, &name, text, cases.len(), &audit)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"use_case": slug, "suite": name, "revision": revision, "cases": cases.len()})),
    ))
}

/// `GET /admin/v1/use-cases/{slug}/suites/{name}`: the newest revision's JSONL.
#[utoipa::path(
    get, path = "/admin/v1/use-cases/{slug}/suites/{name}", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug"), ("name" = String, Path, description = "The suite's name")),
    responses(
        (status = 200, description = "The suite's newest revision (JSON Lines).", content((String = "application/x-ndjson"))),
    ),
)]
pub(crate) async fn get_suite(
    State(state): State<AdminState>,
    caller: Caller,
    Path((slug, name)): Path<(String, String)>,
) -> Result<impl IntoResponse, AdminError> {
    use_case_for(&state, &caller, AdminAction::ReadUseCases, &slug).await?;
    let (revision, text) = state
        .store
        .suite(&slug, &name, None)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("use case `{slug}` has no suite `{name}`")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (header::ETAG, format!("\"{revision}\"")),
        ],
        text,
    ))
}

/// `POST /admin/v1/use-cases/{slug}/evaluations` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    version: u32,
    suite: String,
    revision: Option<u32>,
}

/// `POST /admin/v1/use-cases/{slug}/evaluations` → 202 with the run (`running`); poll
/// `GET /admin/v1/evaluations/{id}` for its progress and report.
#[utoipa::path(
    post, path = "/admin/v1/use-cases/{slug}/evaluations", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug")),
    request_body = crate::openapi::Object,
    responses(
        (status = 202, description = "Starts an evaluation run through the gateway.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn start(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let request: RunRequest = json(body)?;
    let loaded = use_case_for(&state, &caller, AdminAction::RunEvaluation, &slug).await?;
    let evaluator = state
        .evaluator
        .clone()
        .ok_or_else(|| AdminError::Refused("evaluations are not run by this server".to_owned()))?;
    let version = loaded
        .versions
        .iter()
        .find(|v| v.number == request.version)
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "use case `{slug}` has no version {}",
                request.version
            ))
        })?;
    if version.state == VersionState::Retired {
        return Err(AdminError::Conflict(format!(
            "version {} is retired",
            version.number
        )));
    }
    let (revision, text) = state
        .store
        .suite(&slug, &request.suite, request.revision)
        .await?
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "use case `{slug}` has no suite `{}`",
                request.suite
            ))
        })?;
    let cases = suite::parse(&text).map_err(|p| {
        AdminError::Conflict(format!("the stored suite is invalid: {}", p.join("; ")))
    })?;
    let run = EvalRun {
        id: format!("run_{}", domain::KeyId::generate().0.simple()),
        use_case: slug.clone(),
        version: version.number,
        digest: version.spec.digest(),
        suite: request.suite.clone(),
        suite_revision: revision,
        status: EvalStatus::Running,
        cases: cases.len() as u64,
        done: 0,
        summary: None,
        started_by: caller.actor(),
        created_at: now_millis(),
        finished_at: None,
    };
    let mut audit = use_case_event(
        &caller,
        AuditAction::EvalRun,
        &loaded.use_case,
        loaded.owner.as_ref(),
        json!({"run": run.id, "version": run.version, "suite": run.suite, "revision": revision, "digest": run.digest}),
    );
    audit.target = format!("{slug}@{}", version.number);
    state.store.create_eval_run(&run, &audit).await?;
    let body = run_json(&run);
    evaluator.start(EvalJob {
        run,
        spec: version.spec.clone(),
        owner: loaded.owner.clone(),
        cases,
    });
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// `GET /admin/v1/use-cases/{slug}/evaluations` → its runs, newest first, with their
/// summaries and whether each passes the use case's thresholds.
#[utoipa::path(
    get, path = "/admin/v1/use-cases/{slug}/evaluations", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug")),
    responses(
        (status = 200, description = "The use case's evaluation runs, newest first.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let loaded = use_case_for(&state, &caller, AdminAction::ReadUseCases, &slug).await?;
    let runs = state.store.eval_runs(&slug).await?;
    let data: Vec<Value> = runs
        .iter()
        .map(|run| {
            let mut body = run_json(run);
            if let Some(summary) = &run.summary {
                body["gate"] = gate_json(&loaded, summary);
            }
            body
        })
        .collect();
    Ok(Json(json!({"use_case": slug, "data": data})))
}

/// Whether `summary` passes the use case's thresholds, and why not.
fn gate_json(loaded: &Loaded, summary: &Summary) -> Value {
    match report::gate(&loaded.use_case.thresholds, summary) {
        Ok(()) => json!({"passed": true}),
        Err(refusal) => json!({"passed": false, "reason": refusal.to_string()}),
    }
}

/// `GET /admin/v1/evaluations/{id}` → the run, its progress and, once finished, its report.
#[utoipa::path(
    get, path = "/admin/v1/evaluations/{id}", tag = "use_cases",
    params(("id" = String, Path, description = "The evaluation run's id")),
    responses(
        (status = 200, description = "A run's progress and, once finished, its report.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn get(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let (run, loaded) = run_for(&state, &caller, &id).await?;
    let mut body = run_json(&run);
    if let Some(summary) = &run.summary {
        body["gate"] = gate_json(&loaded, summary);
        body["regressions"] = regressions(&state, &run, &loaded).await?;
    }
    Ok(Json(body))
}

/// `GET /admin/v1/evaluations/{id}/results` → each case's answer and grades.
#[utoipa::path(
    get, path = "/admin/v1/evaluations/{id}/results", tag = "use_cases",
    params(("id" = String, Path, description = "The evaluation run's id")),
    responses(
        (status = 200, description = "A run's answers and grades, case by case.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn results(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    run_for(&state, &caller, &id).await?;
    let results = state.store.eval_results(&id).await?;
    Ok(Json(json!({"run": id, "data": results})))
}

/// The run `id` and its use case, when the caller may read them.
async fn run_for(
    state: &AdminState,
    caller: &Caller,
    id: &str,
) -> Result<(EvalRun, Loaded), AdminError> {
    let missing = || AdminError::NotFound(format!("no evaluation run `{id}`"));
    let Some(run) = state.store.eval_run(id).await? else {
        crate::authorize::require_visible(state, caller, AdminAction::ReadUseCases, None, missing)
            .await?;
        return Err(missing());
    };
    // A run of another entity's use case looks missing, as its use case does.
    let loaded = use_case_for(state, caller, AdminAction::ReadUseCases, &run.use_case)
        .await
        .map_err(|error| match error {
            AdminError::NotFound(_) => missing(),
            other => other,
        })?;
    Ok((run, loaded))
}

/// The cases that passed in the deployed version's latest finished run on the same suite and
/// fail in `run`; `null` when there is no such baseline.
async fn regressions(
    state: &AdminState,
    run: &EvalRun,
    loaded: &Loaded,
) -> Result<Value, AdminError> {
    let deployed = loaded
        .versions
        .iter()
        .filter(|v| v.state == VersionState::Deployed && v.number != run.version)
        .max_by_key(|v| v.weight);
    let Some(deployed) = deployed else {
        return Ok(Value::Null);
    };
    let baseline = state
        .store
        .eval_runs(&run.use_case)
        .await?
        .into_iter()
        .find(|r| {
            r.version == deployed.number && r.suite == run.suite && r.status == EvalStatus::Finished
        });
    let Some(baseline) = baseline else {
        return Ok(Value::Null);
    };
    let now = state.store.eval_results(&run.id).await?;
    let before = state.store.eval_results(&baseline.id).await?;
    Ok(json!({
        "baseline_run": baseline.id, "baseline_version": deployed.number,
        "cases": report::regressions(&now, &before),
    }))
}

/// Eval-gated promotion: `run_id` is a finished run of this very version (same digest) whose
/// summary passes the use case's thresholds; 409 saying why not.
pub(crate) async fn gate(
    state: &AdminState,
    loaded: &Loaded,
    version: &Version,
    run_id: &str,
) -> Result<Summary, AdminError> {
    let refuse = |why: String| AdminError::Conflict(format!("cannot approve: {why}"));
    let run = state
        .store
        .eval_run(run_id)
        .await?
        .filter(|r| r.use_case == loaded.use_case.slug)
        .ok_or_else(|| refuse(format!("no evaluation run `{run_id}` of this use case")))?;
    if run.version != version.number || run.digest != version.spec.digest() {
        return Err(refuse(format!(
            "run `{run_id}` evaluated other content than version {}",
            version.number
        )));
    }
    let summary = match (run.status, run.summary) {
        (EvalStatus::Finished, Some(summary)) => summary,
        (status, _) => return Err(refuse(format!("run `{run_id}` is {}", status.as_str()))),
    };
    report::gate(&loaded.use_case.thresholds, &summary)
        .map_err(|refusal| refuse(format!("run `{run_id}`: {refusal}")))?;
    Ok(summary)
}

fn run_json(run: &EvalRun) -> Value {
    json!({
        "id": run.id, "use_case": run.use_case, "version": run.version, "digest": run.digest,
        "suite": run.suite, "suite_revision": run.suite_revision, "status": run.status.as_str(),
        "cases": run.cases, "done": run.done, "summary": run.summary,
        "started_by": run.started_by, "created_at": run.created_at, "finished_at": run.finished_at,
    })
}
