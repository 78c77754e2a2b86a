//! `/v1/files`: uploads in OpenAI's multipart form, kept across a restart, readable and deletable
//! by their owner only (another entity's caller gets 404), within the size limit and the
//! entity's quota, audited; with `[batches] file_contents = "database"`, kept in the store in
//! rows, streamed back whole and deleted with the file.

use reqwest::Method;
use serde_json::Value;

use crate::harness::*;

on_both_databases! {
    a_file_is_uploaded_listed_read_and_deleted_by_its_owner_only,
    uploads_stay_within_the_size_limit_and_the_entitys_quota,
    a_file_kept_in_the_database_is_streamed_back_whole_and_deleted_with_it,
}

fn config() -> String {
    one_endpoint(
        r#"
[batches]
max_file_bytes = 1000
entity_quota_bytes = 1500
"#,
    )
}

/// Uploads `content` as `filename` with `purpose`, in the form the `openai` SDK sends.
async fn upload(
    t: &TestServer,
    key: &str,
    filename: &str,
    purpose: &str,
    content: &[u8],
) -> (u16, Value) {
    let boundary = "fabrique-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: application/jsonl\r\n\r\n"
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
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn content(t: &TestServer, key: &str, id: &str) -> (u16, Vec<u8>) {
    let response = t
        .http
        .get(t.url(&format!("/v1/files/{id}/content")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// The files directory's entries (no partial file is ever left there).
fn stored_names(t: &TestServer) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(t.data_dir().join("files"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn a_file_is_uploaded_listed_read_and_deleted_by_its_owner_only(database: Database) {
    let Some(t) = TestServer::start_on(database, vec![instant_sim()], &config()).await else {
        return;
    };
    let lines = b"{\"custom_id\": \"a\"}\n{\"custom_id\": \"b\"}\n";
    let (status, file) = upload(&t, &t.key, "../claims.jsonl", "batch", lines).await;
    assert_eq!(status, 200, "{file}");
    let id = file["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("file-"), "{id}");
    assert_eq!(file["object"], "file");
    assert_eq!(file["bytes"], lines.len());
    assert_eq!(file["filename"], "claims.jsonl");
    assert_eq!(file["purpose"], "batch");
    assert_eq!(file["status"], "processed");
    assert!(file["created_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(stored_names(&t), vec![id.clone()]);

    let (_, other) = upload(&t, &t.key, "notes.txt", "user_data", b"notes").await;
    let (status, listed) = call(&t, Method::GET, "/v1/files", &t.key, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["object"], "list");
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![other["id"].as_str().unwrap(), id.as_str()]);
    let (_, batch_only) = call(&t, Method::GET, "/v1/files?purpose=batch", &t.key, None).await;
    assert_eq!(batch_only["data"].as_array().unwrap().len(), 1);
    let (_, first) = call(&t, Method::GET, "/v1/files?limit=1", &t.key, None).await;
    assert_eq!(first["has_more"], true);

    // Another entity's caller sees nothing of it: not listed, not readable, not deletable.
    let (_, stranger) = t.create_user_key("globex", "grace").await;
    let (_, theirs) = call(&t, Method::GET, "/v1/files", &stranger, None).await;
    assert_eq!(theirs["data"], Value::Array(vec![]));
    let path = format!("/v1/files/{id}");
    let (status, refused) = call(&t, Method::GET, &path, &stranger, None).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (404, &Value::from("not_found"))
    );
    assert_eq!(content(&t, &stranger, &id).await.0, 404);
    assert_eq!(
        call(&t, Method::DELETE, &path, &stranger, None).await.0,
        404
    );
    let (status, _) = call(&t, Method::GET, "/v1/files", "fabk_not_a_key", None).await;
    assert_eq!(status, 401);

    // The owner reads it back, the same after a restart, then deletes it.
    let t = t.restart().await;
    let (status, again) = call(&t, Method::GET, &path, &t.key, None).await;
    assert_eq!((status, &again["bytes"]), (200, &file["bytes"]));
    assert_eq!(content(&t, &t.key, &id).await, (200, lines.to_vec()));
    let (status, deleted) = call(&t, Method::DELETE, &path, &t.key, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&deleted["id"], &deleted["deleted"]),
        (&Value::from(id.clone()), &Value::Bool(true))
    );
    assert_eq!(call(&t, Method::GET, &path, &t.key, None).await.0, 404);
    assert_eq!(content(&t, &t.key, &id).await.0, 404);
    assert!(!stored_names(&t).contains(&id));

    let (_, events) = t.finish_with_audit().await;
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.action.as_str().starts_with("file."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(actions, vec!["file.create", "file.create", "file.delete"]);
}

async fn uploads_stay_within_the_size_limit_and_the_entitys_quota(database: Database) {
    let Some(t) = TestServer::start_on(database, vec![instant_sim()], &config()).await else {
        return;
    };
    let (status, refused) = upload(&t, &t.key, "big.jsonl", "batch", &[b'x'; 1001]).await;
    assert_eq!(status, 413, "{refused}");
    assert_eq!(refused["error"]["code"], "file_too_large");
    assert_eq!(stored_names(&t), Vec::<String>::new());

    let (status, first) = upload(&t, &t.key, "a.jsonl", "batch", &[b'x'; 900]).await;
    assert_eq!(status, 200, "{first}");
    // A colleague of the same entity shares the quota.
    let (_, colleague) = t.create_user_key("acme", "alan").await;
    let (status, refused) = upload(&t, &colleague, "b.jsonl", "batch", &[b'x'; 900]).await;
    assert_eq!(status, 413, "{refused}");
    assert_eq!(refused["error"]["code"], "file_quota_exceeded");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("900") && message.contains("1500"),
        "{message}"
    );
    // Another entity has its own.
    let (_, stranger) = t.create_user_key("globex", "grace").await;
    assert_eq!(
        upload(&t, &stranger, "c.jsonl", "batch", &[b'x'; 900])
            .await
            .0,
        200
    );
    // Freed bytes can be used again.
    let path = format!("/v1/files/{}", first["id"].as_str().unwrap());
    assert_eq!(call(&t, Method::DELETE, &path, &t.key, None).await.0, 200);
    assert_eq!(
        upload(&t, &colleague, "b.jsonl", "batch", &[b'x'; 900])
            .await
            .0,
        200
    );

    let (status, refused) = upload(&t, &t.key, "a.jsonl", "batch_output", b"x").await;
    assert_eq!(
        (status, &refused["error"]["param"]),
        (400, &Value::from("purpose"))
    );
    let response = t
        .http
        .post(t.url("/v1/files"))
        .bearer_auth(&t.key)
        .json(&serde_json::json!({"purpose": "batch"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(stored_names(&t).len(), 2, "no partial file is left behind");
}

/// The rows of file `id`'s contents in the store: how many, and their bytes end to end.
async fn stored_rows(t: &TestServer, id: &str) -> (usize, Vec<u8>) {
    let id: domain::FileId = id.parse().unwrap();
    let (mut rows, mut bytes) = (0, Vec::new());
    while let Some((_, row)) = t
        .server
        .store
        .next_file_chunk(id, bytes.len() as u64)
        .await
        .unwrap()
    {
        rows += 1;
        bytes.extend(row);
    }
    (rows, bytes)
}

async fn a_file_kept_in_the_database_is_streamed_back_whole_and_deleted_with_it(
    database: Database,
) {
    let mib = 1024 * 1024;
    let config = one_endpoint(&format!(
        "[batches]\nfile_contents = \"database\"\nmax_file_bytes = {}\n",
        3 * mib
    ));
    let Some(t) = TestServer::start_on(database, vec![instant_sim()], &config).await else {
        return;
    };
    // Two and a half MiB, no two rows alike: three rows, read back in their order.
    let lines: Vec<u8> = (0..5 * mib / 2)
        .map(|i| {
            if i % 100 == 99 {
                b'\n'
            } else {
                b'a' + (i / 100 % 26) as u8
            }
        })
        .collect();
    let (status, file) = upload(&t, &t.key, "claims.jsonl", "batch", &lines).await;
    assert_eq!(status, 200, "{file}");
    let id = file["id"].as_str().unwrap().to_owned();
    assert_eq!(file["bytes"], lines.len());
    assert_eq!(stored_rows(&t, &id).await, (3, lines.clone()));
    assert!(
        !t.data_dir().join("files").exists(),
        "nothing is written to disk"
    );

    // Too large, or given up: nothing is left behind, not even rows no file came for.
    let (status, refused) =
        upload(&t, &t.key, "big.jsonl", "batch", &vec![b'x'; 3 * mib + 1]).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (413, &Value::from("file_too_large"))
    );
    let (status, _) = upload(&t, &t.key, "bad.jsonl", "batch_output", b"x").await;
    assert_eq!(status, 400);
    let far_ahead = domain::now_millis() + 3_600_000;
    let orphans = t.server.store.purge_orphan_file_chunks(far_ahead).await;
    assert_eq!(orphans.unwrap(), 0, "an upload refused leaves no row");

    let t = t.restart().await;
    assert_eq!(content(&t, &t.key, &id).await, (200, lines.clone()));
    let (_, stranger) = t.create_user_key("globex", "grace").await;
    assert_eq!(content(&t, &stranger, &id).await.0, 404);

    let path = format!("/v1/files/{id}");
    let (status, deleted) = call(&t, Method::DELETE, &path, &t.key, None).await;
    assert_eq!((status, &deleted["deleted"]), (200, &Value::Bool(true)));
    assert_eq!(content(&t, &t.key, &id).await.0, 404);
    assert_eq!(
        stored_rows(&t, &id).await,
        (0, Vec::new()),
        "its rows went with it"
    );
}
