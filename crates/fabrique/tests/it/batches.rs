//! `/v1/batches` and `/v1/batch/jobs`: a batch's lines run through the gateway as their
//! submitter (metered to them, with the use case they named), each exactly once — 10,000 of
//! them, and across a restart in the middle —, results in OpenAI's output and error files;
//! another entity's caller sees nothing of it; a cancelled batch keeps what it had done, and so
//! does one whose completion window ends, its other lines reported `batch_expired`. The same
//! with the files' contents in the database (`[batches] file_contents = "database"`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

on_both_databases! {
    a_batch_runs_each_line_once_as_its_submitter,
    a_batch_of_files_in_the_database_runs_each_line_once_as_its_submitter,
}

fn config() -> String {
    one_endpoint("[batches]\nconcurrency = 4\n")
}

/// [`config`] with the files' contents in the database.
fn in_database() -> String {
    one_endpoint("[batches]\nconcurrency = 4\nfile_contents = \"database\"\n")
}

/// `count` chat lines `line-0`…, as JSONL.
fn chat_lines(count: usize) -> Vec<u8> {
    let mut text = String::new();
    for i in 0..count {
        let line = json!({
            "custom_id": format!("line-{i}"),
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "mistral-small", "messages": [{"role": "user", "content": format!("Claim {i}")}], "max_tokens": 3},
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    text.into_bytes()
}

/// Uploads `content` with purpose `batch`; the file's id.
async fn upload(t: &TestServer, key: &str, content: &[u8]) -> String {
    let boundary = "batch-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = t
        .http
        .post(t.url("/v1/files"))
        .bearer_auth(key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let file: Value = response.json().await.unwrap();
    file["id"].as_str().unwrap().to_owned()
}

/// Creates a batch of `file` with the use case `claims-triage`.
async fn create(t: &TestServer, file: &str) -> Value {
    let response = t
        .http
        .post(t.url("/v1/batches"))
        .bearer_auth(&t.key)
        .header("x-fabrique-use-case", "claims-triage")
        .json(&json!({"input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h", "metadata": {"quarter": "Q4"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Waits until `count` batches have ended on this server.
async fn batches_ended(t: &TestServer, count: u64) {
    let mut ended = t.server.batches.ended();
    let waited = tokio::time::timeout(Duration::from_secs(120), ended.wait_for(|n| *n >= count));
    if waited.await.is_err() {
        let (_, listed) = call(t, Method::GET, "/v1/batches", &t.key, None).await;
        panic!("the batch did not end: {listed}");
    }
}

async fn file_lines(t: &TestServer, id: &str) -> Vec<Value> {
    let response = t
        .http
        .get(t.url(&format!("/v1/files/{id}/content")))
        .bearer_auth(&t.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// How many times each `custom_id` appears.
fn tally(lines: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in lines {
        *counts
            .entry(line["custom_id"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    counts
}

async fn a_batch_runs_each_line_once_as_its_submitter(database: Database) {
    runs_each_line_once_as_its_submitter(database, &config()).await;
}

async fn a_batch_of_files_in_the_database_runs_each_line_once_as_its_submitter(database: Database) {
    runs_each_line_once_as_its_submitter(database, &in_database()).await;
}

async fn runs_each_line_once_as_its_submitter(database: Database, config: &str) {
    let Some(t) = TestServer::start_on(database, vec![instant_sim()], config).await else {
        return;
    };
    let mut input = chat_lines(250);
    input.extend_from_slice(b"\nnot json\n");
    input.extend_from_slice(
        br#"{"custom_id": "wrong-url", "method": "POST", "url": "/v1/embeddings", "body": {}}"#,
    );
    let file = upload(&t, &t.key, &input).await;
    let batch = create(&t, &file).await;
    let id = batch["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("batch_"), "{batch}");
    assert_eq!(batch["object"], "batch");
    assert_eq!(batch["status"], "validating");
    assert_eq!(batch["metadata"], json!({"quarter": "Q4"}));
    assert_eq!(batch["output_file_id"], Value::Null);

    // Another entity's caller sees nothing of it.
    let (_, stranger) = t.create_user_key("globex", "grace").await;
    let path = format!("/v1/batches/{id}");
    assert_eq!(call(&t, Method::GET, &path, &stranger, None).await.0, 404);
    let cancel = format!("{path}/cancel");
    assert_eq!(
        call(&t, Method::POST, &cancel, &stranger, None).await.0,
        404
    );
    let (_, theirs) = call(&t, Method::GET, "/v1/batches", &stranger, None).await;
    assert_eq!(theirs["data"], json!([]));

    batches_ended(&t, 1).await;
    let (status, ended) = call(&t, Method::GET, &path, &t.key, None).await;
    assert_eq!(status, 200);
    assert_eq!(ended["status"], "completed", "{ended}");
    assert_eq!(
        ended["request_counts"],
        json!({"total": 252, "completed": 250, "failed": 2})
    );
    let output = file_lines(&t, ended["output_file_id"].as_str().unwrap()).await;
    let counts = tally(&output);
    assert_eq!(counts.len(), 250);
    assert!(counts.values().all(|&n| n == 1), "each line exactly once");
    assert_eq!(output[0]["response"]["status_code"], 200);
    assert!(output[0]["response"]["request_id"].is_string());
    let errors = file_lines(&t, ended["error_file_id"].as_str().unwrap()).await;
    let codes: Vec<&Value> = errors.iter().map(|e| &e["error"]["code"]).collect();
    assert_eq!(
        codes,
        vec![&json!("invalid_request"), &json!("invalid_request")]
    );
    assert_eq!(errors[1]["custom_id"], "wrong-url");
    let (_, listed) = call(&t, Method::GET, "/v1/batches?limit=5", &t.key, None).await;
    assert_eq!(listed["data"][0]["id"], Value::from(id.clone()));

    let key_id = t.key_id.clone();
    let (records, events) = t.finish_with_audit().await;
    let charged: Vec<_> = records
        .iter()
        .filter(|r| r.use_case.as_deref() == Some("claims-triage"))
        .collect();
    assert_eq!(
        charged.len(),
        250,
        "one usage record a line, charged to the use case"
    );
    assert!(
        charged
            .iter()
            .all(|r| r.key_id.map(|k| k.to_string()) == Some(key_id.clone()))
    );
    assert!(events.iter().any(|e| e.action.as_str() == "batch.create"));
}

#[tokio::test]
async fn a_restart_mid_batch_resumes_without_redoing_or_losing_a_line() {
    restart_mid_batch_resumes(&config()).await;
}

#[tokio::test]
async fn a_restart_mid_batch_of_files_in_the_database_resumes_without_redoing_or_losing_a_line() {
    restart_mid_batch_resumes(&in_database()).await;
}

async fn restart_mid_batch_resumes(config: &str) {
    // Answers that take a little while, so the batch is still running when the server stops.
    let slow = sim::SimConfig {
        ttft: Duration::from_millis(2),
        ..instant_sim()
    };
    let t = TestServer::start(vec![slow], config).await;
    let count = 3000;
    let file = upload(&t, &t.key, &chat_lines(count)).await;
    let batch = create(&t, &file).await;
    let id = batch["id"].as_str().unwrap().to_owned();
    let mut committed = t.server.batches.committed();
    let waited = tokio::time::timeout(Duration::from_secs(120), committed.wait_for(|n| *n > 0));
    assert!(waited.await.is_ok(), "no progress was committed");

    let t = t.restart().await;
    let (_, between) = call(&t, Method::GET, &format!("/v1/batches/{id}"), &t.key, None).await;
    let done_before = between["request_counts"]["completed"].as_u64().unwrap();
    assert!(
        done_before > 0 && done_before < count as u64,
        "stopped mid-batch: {between}"
    );

    batches_ended(&t, 1).await;
    let (_, ended) = call(&t, Method::GET, &format!("/v1/batches/{id}"), &t.key, None).await;
    assert_eq!(ended["status"], "completed", "{ended}");
    assert_eq!(ended["request_counts"]["completed"], count);
    let output = file_lines(&t, ended["output_file_id"].as_str().unwrap()).await;
    let counts = tally(&output);
    assert_eq!(counts.len(), count, "no line lost");
    assert!(counts.values().all(|&n| n == 1), "no line written twice");
    assert_eq!(ended["error_file_id"], Value::Null);
}

#[tokio::test]
async fn a_cancelled_batch_keeps_what_it_did_and_mistral_jobs_share_the_runner() {
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let file = upload(&t, &t.key, &chat_lines(3000)).await;
    let batch = create(&t, &file).await;
    let path = format!("/v1/batches/{}", batch["id"].as_str().unwrap());
    let (status, cancelling) =
        call(&t, Method::POST, &format!("{path}/cancel"), &t.key, None).await;
    assert_eq!((status, &cancelling["status"]), (200, &json!("cancelling")));
    batches_ended(&t, 1).await;
    let (_, cancelled) = call(&t, Method::GET, &path, &t.key, None).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let done = cancelled["request_counts"]["completed"].as_u64().unwrap();
    assert!(done < 3000, "{cancelled}");
    let output = file_lines(&t, cancelled["output_file_id"].as_str().unwrap()).await;
    assert_eq!(
        output.len() as u64,
        done,
        "what was done before the cancel is kept"
    );

    // Mistral's shape: lines without method and url, the job's model in each body.
    let line = json!({"custom_id": "m-0", "body": {"messages": [{"role": "user", "content": "Bonjour"}], "max_tokens": 3}});
    let file = upload(&t, &t.key, line.to_string().as_bytes()).await;
    let job = json!({"input_files": [file], "model": "mistral-small", "endpoint": "/v1/chat/completions"});
    let (status, created) = call(&t, Method::POST, "/v1/batch/jobs", &t.key, Some(job)).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "QUEUED");
    batches_ended(&t, 2).await;
    let job_path = format!("/v1/batch/jobs/{}", created["id"].as_str().unwrap());
    let (_, ended) = call(&t, Method::GET, &job_path, &t.key, None).await;
    assert_eq!(ended["status"], "SUCCESS", "{ended}");
    assert_eq!(
        (&ended["total_requests"], &ended["succeeded_requests"]),
        (&json!(1), &json!(1))
    );
    let output = file_lines(&t, ended["output_file"].as_str().unwrap()).await;
    assert_eq!(output[0]["custom_id"], "m-0");
    assert_eq!(output[0]["response"]["body"]["model"], "mistral-small");
    let (_, jobs) = call(&t, Method::GET, "/v1/batch/jobs", &t.key, None).await;
    assert_eq!(
        jobs["data"].as_array().unwrap().len(),
        1,
        "OpenAI's batches are listed apart"
    );
}

#[tokio::test]
async fn a_batch_of_ten_thousand_lines_answers_and_meters_each_line_once() {
    let count = 10_000;
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let file = upload(&t, &t.key, &chat_lines(count)).await;
    let batch = create(&t, &file).await;
    batches_ended(&t, 1).await;
    let path = format!("/v1/batches/{}", batch["id"].as_str().unwrap());
    let (_, ended) = call(&t, Method::GET, &path, &t.key, None).await;
    assert_eq!(ended["status"], "completed", "{ended}");
    assert_eq!(
        ended["request_counts"],
        json!({"total": count, "completed": count, "failed": 0})
    );
    let output = file_lines(&t, ended["output_file_id"].as_str().unwrap()).await;
    let counts = tally(&output);
    assert_eq!(counts.len(), count, "every line answered");
    assert!(counts.values().all(|&n| n == 1), "no line answered twice");
    let answered: HashSet<String> = output
        .iter()
        .map(|line| line["response"]["request_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(answered.len(), count, "one request a line");

    let store = t.server.store.clone();
    t.server.shutdown().await;
    let records = store.list_usage(2 * count as u32).await.expect("usage");
    let metered: Vec<&String> = records
        .iter()
        .filter(|r| r.use_case.as_deref() == Some("claims-triage"))
        .map(|r| &r.request_id)
        .collect();
    assert_eq!(metered.len(), count, "one usage record a line");
    let metered: HashSet<String> = metered.into_iter().cloned().collect();
    assert_eq!(
        metered, answered,
        "each line metered once, under its own request"
    );
}

#[tokio::test]
async fn a_batch_past_its_window_keeps_what_it_did_and_expires_the_rest() {
    past_its_window_keeps_what_it_did(&config()).await;
}

#[tokio::test]
async fn a_batch_of_files_in_the_database_past_its_window_keeps_what_it_did() {
    past_its_window_keeps_what_it_did(&in_database()).await;
}

async fn past_its_window_keeps_what_it_did(config: &str) {
    let count = 1000;
    let t = TestServer::start(vec![instant_sim()], config).await;
    // The runner's clock a day and an hour ahead: the 24-hour window of the batch submitted now
    // is over when the runner first looks, after its first chunk of lines.
    t.server
        .batches
        .clock()
        .advance(Duration::from_secs(25 * 3600));
    let file = upload(&t, &t.key, &chat_lines(count)).await;
    let batch = create(&t, &file).await;
    batches_ended(&t, 1).await;
    let path = format!("/v1/batches/{}", batch["id"].as_str().unwrap());
    let (_, ended) = call(&t, Method::GET, &path, &t.key, None).await;
    assert_eq!(ended["status"], "expired", "{ended}");
    assert!(ended["expired_at"].is_i64(), "{ended}");
    let counts = &ended["request_counts"];
    let (done, failed) = (
        counts["completed"].as_u64().unwrap(),
        counts["failed"].as_u64().unwrap(),
    );
    assert!(done > 0 && done < count as u64, "{ended}");
    assert_eq!(
        (counts["total"].as_u64(), done + failed),
        (Some(count as u64), count as u64)
    );

    let output = file_lines(&t, ended["output_file_id"].as_str().unwrap()).await;
    assert_eq!(output.len() as u64, done, "the lines done are kept");
    assert!(output.iter().all(|l| l["response"]["status_code"] == 200));
    let errors = file_lines(&t, ended["error_file_id"].as_str().unwrap()).await;
    assert_eq!(errors.len() as u64, failed);
    assert!(
        errors
            .iter()
            .all(|e| e["error"]["code"] == "batch_expired" && e["response"].is_null()),
        "the others are reported expired, not sent"
    );
    let mut every = tally(&output);
    for (id, n) in tally(&errors) {
        *every.entry(id).or_default() += n;
    }
    assert_eq!(every.len(), count);
    assert!(
        every.values().all(|&n| n == 1),
        "each line in one file, once"
    );

    let records = t.finish().await;
    let metered = records
        .iter()
        .filter(|r| r.use_case.as_deref() == Some("claims-triage"))
        .count();
    assert_eq!(
        metered as u64, done,
        "the expired lines never reached a model"
    );
}

#[tokio::test]
async fn a_line_the_data_policy_blocks_is_reported_in_the_error_file() {
    let echo = sim::SimConfig {
        echo: true,
        ..instant_sim()
    };
    let policy =
        "[batches]\nconcurrency = 4\n\n[policy.actions]\nNIR = \"block\"\nEMAIL = \"redact\"\n";
    let t = TestServer::start(vec![echo], &one_endpoint(policy)).await;
    let line = |id: &str, text: &str| {
        json!({
            "custom_id": id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "mistral-small", "messages": [{"role": "user", "content": text}], "max_tokens": 100},
        })
        .to_string()
    };
    let input = [
        line("plain", "Classer la réclamation"),
        line("nir", "Assuré 1 85 05 78 006 084 91, réclamation"),
        line("email", "Répondre à jeanne@example.fr"),
    ]
    .join("\n");
    let file = upload(&t, &t.key, input.as_bytes()).await;
    let batch = create(&t, &file).await;
    batches_ended(&t, 1).await;
    let path = format!("/v1/batches/{}", batch["id"].as_str().unwrap());
    let (_, ended) = call(&t, Method::GET, &path, &t.key, None).await;
    assert_eq!(ended["status"], "completed", "{ended}");
    assert_eq!(
        ended["request_counts"],
        json!({"total": 3, "completed": 2, "failed": 1})
    );
    let errors = file_lines(&t, ended["error_file_id"].as_str().unwrap()).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let blocked = &errors[0];
    assert_eq!(blocked["custom_id"], "nir");
    assert_eq!(blocked["response"]["status_code"], 400);
    let error = &blocked["response"]["body"]["error"];
    assert_eq!(error["code"], "personal_data_blocked", "{blocked}");
    assert!(
        !blocked.to_string().contains("1 85 05"),
        "the value is not repeated"
    );

    let output = file_lines(&t, ended["output_file_id"].as_str().unwrap()).await;
    let answered: HashMap<&str, &Value> = output
        .iter()
        .map(|l| (l["custom_id"].as_str().unwrap(), &l["response"]["body"]))
        .collect();
    let email = answered["email"]["choices"][0]["message"]["content"].to_string();
    assert!(
        email.contains("[REDACTED_EMAIL]") && !email.contains("jeanne@"),
        "{email}"
    );
    assert_eq!(
        t.sims[0].0.stats().chat_requests,
        2,
        "a blocked line never reaches a model"
    );
}
