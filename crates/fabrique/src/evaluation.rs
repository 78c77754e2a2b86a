//! The evaluation runner: a run of one use-case version on one suite, through the real gateway,
//! in-process (`gateway::infer_reporting`, the pipeline's public entry).
//!
//! Why in-process rather than over HTTP: the run is the server's own work, started by an admin
//! route, so it needs no listener round trip, no TLS set-up and no key that leaves the process —
//! yet every call still takes the whole request path (authentication, data policy, admission,
//! the fair scheduler at `batch` priority, routing, metering), so evaluations are governed and
//! charged like any traffic and never starve interactive users.
//!
//! The calls are made as the service account `factory-evaluator` of the use case's owning entity,
//! with a key minted for the run (priority `batch`, a day's lifetime) and revoked when it ends;
//! both are audited, by `system`. Each case's request is composed from the version exactly as an
//! invocation's is (`factory::compose`), labelled with the use case; graders that need a model
//! (similarity, judge) call it through the gateway too. Results are stored as they come, a few at
//! a time, so the run's progress shows; the summary is stored at the end.

use std::sync::Arc;
use std::time::Instant;

use admin::{EvalJob, Evaluator};
use axum::body::Body;
use domain::{
    ApiKey, AuditAction, AuditEvent, KeyOwner, KeySecret, Operation, Outcome, Priority, now_millis,
};
use factory::grading::{self, Grade, Help};
use factory::report::{self, CaseResult};
use factory::suite::Case;
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use identity::{Directory, Principal};
use serde_json::{Value, json};
use store::{EvalStatus, Store};
use wire::object::RawObject;

/// Cases evaluated at once: enough to keep a batch pool busy, few enough to leave room.
const CONCURRENCY: usize = 4;
/// Results stored per write.
const CHUNK: usize = 20;
/// The service account evaluations run as, in the owning entity.
pub const EVALUATOR_ACCOUNT: &str = "factory-evaluator";

/// Runs evaluations in the background of the server.
#[derive(Debug)]
pub struct Runner {
    gateway: Arc<gateway::Gateway>,
    store: Store,
    directory: Arc<Directory>,
    /// The runs under way, stopped with the server (the next start marks them failed).
    running: parking_lot::Mutex<tokio::task::JoinSet<()>>,
}

impl Runner {
    pub fn new(gateway: Arc<gateway::Gateway>, store: Store, directory: Arc<Directory>) -> Runner {
        Runner {
            gateway,
            store,
            directory,
            running: parking_lot::Mutex::new(tokio::task::JoinSet::new()),
        }
    }

    /// Stops every run under way and waits until they are gone: they hold the gateway, whose
    /// sinks must close at shutdown. Their runs stay `running` until the next start marks them
    /// failed.
    pub async fn stop(&self) {
        let mut running = std::mem::take(&mut *self.running.lock());
        running.abort_all();
        while running.join_next().await.is_some() {}
    }
}

impl Evaluator for Runner {
    fn start(&self, job: EvalJob) {
        let (gateway, store, directory) = (
            Arc::clone(&self.gateway),
            self.store.clone(),
            Arc::clone(&self.directory),
        );
        let mut running = self.running.lock();
        // Reap the runs that ended, so the set holds only those under way.
        while running.try_join_next().is_some() {}
        running.spawn(async move {
            let id = job.run.id.clone();
            if let Err(error) = run(&gateway, &store, &directory, job).await {
                tracing::error!(run = %id, %error, "evaluation run failed");
                let _ = store
                    .finish_eval_run(&id, EvalStatus::Failed, None, now_millis())
                    .await;
            }
        });
    }
}

/// The key a run calls with, and what revokes it.
struct RunKey {
    secret: KeySecret,
    key: ApiKey,
}

async fn run(
    gateway: &Arc<gateway::Gateway>,
    store: &Store,
    directory: &Directory,
    job: EvalJob,
) -> anyhow::Result<()> {
    let key = mint_key(store, directory, &job).await?;
    let outcome = evaluate(gateway, store, &job, &key).await;
    revoke_key(store, directory, &job, &key).await?;
    let results = outcome?;
    let summary = report::summarize(&results);
    store
        .finish_eval_run(
            &job.run.id,
            EvalStatus::Finished,
            Some(&summary),
            now_millis(),
        )
        .await?;
    tracing::info!(run = %job.run.id, pass_rate = summary.pass_rate, "evaluation run finished");
    Ok(())
}

async fn evaluate(
    gateway: &Arc<gateway::Gateway>,
    store: &Store,
    job: &EvalJob,
    key: &RunKey,
) -> anyhow::Result<Vec<CaseResult>> {
    let calls = Arc::new(Calls {
        gateway: Arc::clone(gateway),
        bearer: format!("Bearer {}", key.secret.expose()),
        use_case: job.run.use_case.clone(),
    });
    let spec = Arc::new(job.spec.clone());
    let mut results = Vec::with_capacity(job.cases.len());
    let mut pending = Vec::with_capacity(CHUNK);
    // Each case's future owns what it uses, so the stream's futures borrow nothing.
    let mut stream = futures_util::stream::iter(job.cases.clone())
        .map(|case| {
            let (calls, spec) = (Arc::clone(&calls), Arc::clone(&spec));
            async move { evaluate_case(&calls, &spec, &case).await }
        })
        .buffer_unordered(CONCURRENCY);
    while let Some(result) = stream.next().await {
        pending.push(result);
        if pending.len() == CHUNK {
            store_progress(store, &job.run.id, &mut pending, &mut results).await?;
        }
    }
    // The last chunk, unless the suite's size was a multiple of `CHUNK` (then it is stored).
    if !pending.is_empty() {
        store_progress(store, &job.run.id, &mut pending, &mut results).await?;
    }
    Ok(results)
}

/// Stores `pending`, the results not stored yet, and the progress; moves them to `stored`.
async fn store_progress(
    store: &Store,
    run: &str,
    pending: &mut Vec<CaseResult>,
    stored: &mut Vec<CaseResult>,
) -> anyhow::Result<()> {
    let done = (stored.len() + pending.len()) as u64;
    store.add_eval_results(run, pending, done).await?;
    stored.append(pending);
    Ok(())
}

/// What every call of a run shares.
struct Calls {
    gateway: Arc<gateway::Gateway>,
    bearer: String,
    use_case: String,
}

impl Calls {
    /// One call through the pipeline: the answer's JSON, its cost, or why it failed.
    async fn call(&self, operation: Operation, body: Vec<u8>) -> Result<(Value, u64), String> {
        let request = http::Request::post(operation.public_path())
            .header(http::header::AUTHORIZATION, &self.bearer)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-fabrique-priority", Priority::Batch.as_str())
            .header("x-fabrique-use-case", self.use_case.as_str())
            .body(Body::from(body))
            .map_err(|e| e.to_string())?;
        let (response, outcome) = gateway::infer_reporting(&self.gateway, operation, request).await;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let cost = outcome.await.map(|o| o.cost_micros).unwrap_or(0);
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value["error"]["message"].as_str().unwrap_or("no message");
            return Err(format!("{status}: {message}"));
        }
        Ok((value, cost))
    }
}

async fn evaluate_case(calls: &Calls, spec: &factory::VersionSpec, case: &Case) -> CaseResult {
    let started = Instant::now();
    let answered = answer(calls, spec, case).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (answer, mut cost) = match answered {
        Ok(answered) => answered,
        Err(error) => {
            return CaseResult {
                case_id: case.id.clone(),
                answer: None,
                grades: case
                    .expect
                    .iter()
                    .map(|e| Grade::failed(e.kind(), error.clone()))
                    .collect(),
                error: Some(error),
                latency_ms,
                cost_micros: 0,
            };
        }
    };
    let mut grades = Vec::with_capacity(case.expect.len());
    for expectation in &case.expect {
        let (grade, spent) = grade(calls, case, expectation, &answer).await;
        cost += spent;
        grades.push(grade);
    }
    CaseResult {
        case_id: case.id.clone(),
        answer: Some(answer),
        error: None,
        grades,
        latency_ms,
        cost_micros: cost,
    }
}

/// The version's answer to the case, composed as an invocation's request is.
async fn answer(
    calls: &Calls,
    spec: &factory::VersionSpec,
    case: &Case,
) -> Result<(String, u64), String> {
    let request = case.request("evaluation").to_string();
    let object = RawObject::parse(request.as_bytes()).map_err(|e| e.to_string())?;
    let body = factory::compose::compose(spec, &object).map_err(|e| e.to_string())?;
    let (completion, cost) = calls.call(Operation::Chat, body).await?;
    let text = completion["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if let Some(schema) = &spec.output_schema {
        let valid = factory::live::compile_schema(schema)
            .ok()
            .zip(serde_json::from_str::<Value>(text.trim()).ok())
            .is_some_and(|(validator, value)| validator.is_valid(&value));
        if !valid {
            return Err(
                "output_schema_violation: the answer does not match the output schema".into(),
            );
        }
    }
    Ok((text, cost))
}

/// Grades the answer under one expectation; the cost of the calls grading needed.
async fn grade(
    calls: &Calls,
    case: &Case,
    expectation: &grading::Expectation,
    answer: &str,
) -> (Grade, u64) {
    match expectation.help() {
        Help::None => (expectation.grade(answer), 0),
        Help::Embeddings {
            reference,
            threshold,
            model,
        } => {
            let body = json!({"model": model, "input": [answer, reference]}).to_string();
            match calls.call(Operation::Embeddings, body.into_bytes()).await {
                Ok((value, cost)) => {
                    let vector = |i: usize| -> Vec<f64> {
                        value["data"][i]["embedding"]
                            .as_array()
                            .map(|v| v.iter().filter_map(Value::as_f64).collect())
                            .unwrap_or_default()
                    };
                    (grading::similarity(threshold, &vector(0), &vector(1)), cost)
                }
                Err(error) => (Grade::failed(expectation.kind(), error), 0),
            }
        }
        Help::Judge {
            rubric,
            threshold,
            model,
        } => {
            let messages = grading::judge_messages(rubric, &case.question(), answer);
            let body = json!({"model": model, "messages": messages, "temperature": 0}).to_string();
            match calls.call(Operation::Chat, body.into_bytes()).await {
                Ok((value, cost)) => {
                    let verdict = value["choices"][0]["message"]["content"]
                        .as_str()
                        .unwrap_or_default();
                    (grading::judge_verdict(threshold, verdict), cost)
                }
                Err(error) => (Grade::failed(expectation.kind(), error), 0),
            }
        }
    }
}

fn system_event(action: AuditAction, job: &EvalJob, detail: Value) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: "system".to_owned(),
        action,
        entity_id: job.owner.as_ref().map(|e| e.id),
        target: String::new(),
        outcome: Outcome::Success,
        detail: detail.to_string(),
    }
}

/// A batch key of the owning entity's evaluator account, for this run only.
async fn mint_key(store: &Store, directory: &Directory, job: &EvalJob) -> anyhow::Result<RunKey> {
    let entity = job.owner.as_ref().map(|e| e.id);
    let account = store
        .service_account_get_or_create(
            entity,
            EVALUATOR_ACCOUNT,
            &system_event(
                AuditAction::ServiceAccountCreate,
                job,
                json!({"name": EVALUATOR_ACCOUNT}),
            ),
        )
        .await?;
    let now = now_millis();
    let secret = KeySecret::generate();
    let key = ApiKey {
        priority: Some(Priority::Batch),
        expires_at: Some(now + 86_400_000),
        ..ApiKey::issue(KeyOwner::ServiceAccount(account.id), entity, &secret, now)
    };
    let name = format!("evaluation {}", job.run.id);
    let audit = system_event(
        AuditAction::KeyCreate,
        job,
        json!({"owner": key.owner, "display_prefix": key.display_prefix, "name": name, "priority": "batch", "eval_run": job.run.id}),
    );
    store.create_named_key(&key, Some(&name), &audit).await?;
    let slug = job.owner.as_ref().map(|e| e.slug.as_str().into());
    directory.insert(key.hash, Principal::of_key(&key, slug, Vec::new()));
    Ok(RunKey { secret, key })
}

async fn revoke_key(
    store: &Store,
    directory: &Directory,
    job: &EvalJob,
    key: &RunKey,
) -> anyhow::Result<()> {
    directory.revoke(key.key.id);
    let mut audit = system_event(
        AuditAction::KeyRevoke,
        job,
        json!({"eval_run": job.run.id, "reason": "evaluation finished"}),
    );
    audit.target = key.key.id.to_string();
    store.revoke_key(key.key.id, now_millis(), &audit).await?;
    Ok(())
}
