//! A configuration reloaded under a running server (what `SIGHUP` calls, `RunningServer::reload`):
//! models, endpoints, data policies and entities' model access put in force for the next
//! request, while a stream begun before finishes on the configuration it started with; a
//! configuration the gateway cannot put in force is refused whole, the running one kept.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ADMIN_KEY, TestServer, call, instant_sim, sse_text};
use crate::scheduling::{send, slow_sim, streamed, until_queued};

/// The endpoints `endpoints` names (`gpu-a` on simulator 0, `gpu-b` on simulator 1), then
/// `models`, then the entity `acme` with `acme_extra` under it.
fn config(endpoints: &[&str], models: &str, acme_extra: &str) -> String {
    let sized: Vec<_> = endpoints.iter().map(|name| (*name, 32)).collect();
    sized_config(&sized, models, acme_extra)
}

/// [`config`], each endpoint with its capacity.
fn sized_config(endpoints: &[(&str, u32)], models: &str, acme_extra: &str) -> String {
    let endpoints: String = endpoints
        .iter()
        .map(|(name, capacity)| {
            let sim = if *name == "gpu-a" { "{sim0}" } else { "{sim1}" };
            format!(
                "[[endpoints]]\nname = \"{name}\"\nkind = \"vllm\"\nurl = \"{sim}\"\n\
                 hosting = \"on_premises\"\nclearance = \"secret\"\ncapacity = {capacity}\n\n"
            )
        })
        .collect();
    format!(
        "[routing]\nhealth_check_interval_ms = 0\n\n{endpoints}{models}\n\
         [[entities]]\nslug = \"acme\"\nname = \"Acme\"\n{acme_extra}\n"
    )
}

/// A chat model `name` served by `endpoints`.
fn model(name: &str, endpoints: &str) -> String {
    format!("[[models]]\nname = \"{name}\"\nkind = \"chat\"\nendpoints = [{endpoints}]\n")
}

#[tokio::test]
async fn a_model_added_to_the_file_is_served_and_a_removed_one_is_not_found() {
    let start = config(&["gpu-a"], &model("mistral-small", "\"gpu-a\""), "");
    let t = TestServer::start(vec![instant_sim()], &start).await;
    assert_eq!(t.chat("mistral-small").await.0, 200);
    let (status, body) = t.chat("llama").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("model_not_found"))
    );

    let reloaded = config(&["gpu-a"], &model("llama", "\"gpu-a\""), "");
    assert_eq!(t.reload(&reloaded).await, Ok(Vec::new()));
    assert_eq!(t.chat("llama").await.0, 200);
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("model_not_found")),
        "{body}"
    );
    assert_eq!(t.model_ids(&t.key).await, ["llama"]);
    // The admin API checks a key's models against those in force too.
    let key = |model: &str| json!({"entity": "acme", "service_account": "app", "name": model, "models": [model]});
    let (status, created) = t.admin_post("/admin/v1/keys", key("llama")).await;
    assert_eq!(status, 201, "{created}");
    let (status, refused) = t.admin_post("/admin/v1/keys", key("mistral-small")).await;
    assert_eq!(status, 400, "{refused}");
    // The usage of each is recorded under the model that served it.
    let records = t.finish().await;
    let served: Vec<_> = records
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.model.as_str())
        .collect();
    assert_eq!(served, ["mistral-small", "llama"]);
}

#[tokio::test]
async fn an_endpoint_removed_takes_no_new_request_while_its_stream_finishes_and_one_added_serves() {
    // Twenty tokens at ten a second: the stream is still running when the reload comes.
    let slow = sim::SimConfig {
        tokens_per_second: 10.0,
        ..instant_sim()
    };
    let start = config(&["gpu-a"], &model("mistral-small", "\"gpu-a\""), "");
    let t = TestServer::start(vec![slow, instant_sim()], &start).await;
    let mut stream = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(&t.key)
        .json(
            &json!({"model": "mistral-small", "stream": true, "max_tokens": 20,
            "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut received = String::from_utf8(stream.chunk().await.unwrap().unwrap().to_vec()).unwrap();

    // `gpu-a` goes, `gpu-b` comes and serves the model.
    let moved = config(&["gpu-b"], &model("mistral-small", "\"gpu-b\""), "");
    assert_eq!(t.reload(&moved).await, Ok(Vec::new()));
    let before = t.requests_seen(0);
    for _ in 0..3 {
        assert_eq!(t.chat("mistral-small").await.0, 200);
    }
    assert_eq!(
        t.requests_seen(0),
        before,
        "the removed endpoint took a request"
    );
    assert_eq!(t.requests_seen(1), 3);

    while let Some(chunk) = stream.chunk().await.unwrap() {
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        received.contains("data: [DONE]"),
        "the stream was cut: {received}"
    );
    assert!(!sse_text(&received).is_empty());
    let ready: Value = t.get_json("/readyz", &t.key).await;
    let names: Vec<_> = ready["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].clone(), e["outstanding"].clone()))
        .collect();
    assert_eq!(names, [(json!("gpu-b"), json!(0))]);
}

#[tokio::test]
async fn a_data_policy_changed_in_the_file_applies_to_the_next_request() {
    let models = model("mistral-small", "\"gpu-a\"");
    let t = TestServer::start(vec![instant_sim()], &config(&["gpu-a"], &models, "")).await;
    let with_email = json!({"model": "mistral-small", "max_tokens": 5,
        "messages": [{"role": "user", "content": "Write to ada@example.com please"}]});
    let (status, _, _) = t.post("/v1/chat/completions", &with_email).await;
    assert_eq!(status, 200);

    let blocked = format!(
        "{}\n[policy.actions]\nEMAIL = \"block\"\n",
        config(&["gpu-a"], &models, "")
    );
    assert_eq!(t.reload(&blocked).await, Ok(Vec::new()));
    let (status, _, body) = t.post("/v1/chat/completions", &with_email).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("personal_data_blocked"), "{body}");
    assert_eq!(t.chat("mistral-small").await.0, 200);
}

#[tokio::test]
async fn an_entitys_models_changed_in_the_file_apply_to_its_next_request() {
    let models = format!(
        "{}{}",
        model("mistral-small", "\"gpu-a\""),
        model("llama", "\"gpu-a\"")
    );
    let t = TestServer::start(vec![instant_sim()], &config(&["gpu-a"], &models, "")).await;
    assert_eq!(t.chat("mistral-small").await.0, 200);

    let narrowed = config(&["gpu-a"], &models, "models = [\"llama\"]");
    assert_eq!(t.reload(&narrowed).await, Ok(Vec::new()));
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("model_not_found"))
    );
    assert_eq!(t.model_ids(&t.key).await, ["llama"]);
}

#[tokio::test]
async fn a_configuration_the_gateway_cannot_put_in_force_is_refused_and_the_running_one_kept() {
    let models = model("mistral-small", "\"gpu-a\"");
    let t = TestServer::start(vec![instant_sim()], &config(&["gpu-a"], &models, "")).await;

    // A `simulator` endpoint without a URL means the embedded simulator, which this server did
    // not start; the file also adds a model and a data policy, none of which may apply.
    let unreachable = format!(
        "{}\n[[endpoints]]\nname = \"nowhere\"\nkind = \"simulator\"\nhosting = \"on_premises\"\n\
         clearance = \"secret\"\n\
         \n{}\n[policy.actions]\nEMAIL = \"block\"\n",
        config(&["gpu-a"], &models, ""),
        model("llama", "\"nowhere\"")
    );
    let refused = t.reload(&unreachable).await.unwrap_err();
    assert!(refused.contains("nowhere"), "{refused}");
    assert_eq!(t.chat("mistral-small").await.0, 200);
    assert_eq!(t.chat("llama").await.0, 404);
    let with_email = json!({"model": "mistral-small", "max_tokens": 5,
        "messages": [{"role": "user", "content": "Write to ada@example.com please"}]});
    assert_eq!(t.post("/v1/chat/completions", &with_email).await.0, 200);

    // A file that does not validate never reaches the server.
    let unknown = config(&["gpu-a"], &model("llama", "\"gpu-z\""), "");
    let refused = t.reload(&unknown).await.unwrap_err();
    assert!(refused.contains("gpu-z"), "{refused}");
    assert_eq!(t.chat("mistral-small").await.0, 200);
}

/// A streamed request with `headers`, sent once the pool's line is empty and back once it
/// waits there.
async fn queue(
    t: &TestServer,
    headers: &[(&str, &str)],
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let mut request = t.http.post(t.url("/v1/chat/completions"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let sent = tokio::spawn(request.bearer_auth(&t.key).json(&streamed(1_000)).send());
    until_queued(t, 1).await;
    sent
}

#[tokio::test]
async fn a_request_queued_before_a_reload_is_sent_to_an_endpoint_still_configured() {
    // One pool of two endpoints of one sequence each, both held by slow streams.
    let both = model("mistral-small", "\"gpu-a\", \"gpu-b\"");
    let start = sized_config(&[("gpu-a", 1), ("gpu-b", 1)], &both, "");
    let t = TestServer::start(vec![slow_sim(), slow_sim()], &start).await;
    let first = send(&t, &t.key, &streamed(1_000), &[]).await;
    let on_a = t.requests_seen(0) == 1;
    let second = send(&t, &t.key, &streamed(1_000), &[]).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    assert_eq!((t.requests_seen(0), t.requests_seen(1)), (1, 1));
    let (holding_a, holding_b) = if on_a {
        (first, second)
    } else {
        (second, first)
    };
    let queued = queue(&t, &[]).await;

    // `gpu-a` goes and `gpu-b` takes two sequences: the pool's capacity is the same, so the
    // queued request waits on until `gpu-a`'s stream ends and leaves `gpu-a` idle.
    let only_b = model("mistral-small", "\"gpu-b\"");
    let reloaded = sized_config(&[("gpu-b", 2)], &only_b, "");
    assert_eq!(t.reload(&reloaded).await, Ok(Vec::new()));
    drop(holding_a);
    let queued = queued.await.unwrap().unwrap();
    assert_eq!(queued.status(), 200);
    assert_eq!(
        (t.requests_seen(0), t.requests_seen(1)),
        (1, 2),
        "the queued request went to the removed endpoint"
    );
    drop((queued, holding_b));
}

#[tokio::test]
async fn a_request_queued_before_a_reload_removing_its_pools_endpoints_is_refused_clearly() {
    let start = sized_config(&[("gpu-a", 1)], &model("mistral-small", "\"gpu-a\""), "");
    let t = TestServer::start(vec![slow_sim(), instant_sim()], &start).await;
    let holding = send(&t, &t.key, &streamed(1_000), &[]).await;
    assert_eq!(holding.status(), 200);
    let queued = queue(&t, &[]).await;

    // The model moves to `gpu-b`, in a pool of its own: the queued request's pool has no
    // endpoint left when `gpu-a`'s stream ends.
    let moved = model("mistral-small", "\"gpu-b\"");
    let reloaded = sized_config(&[("gpu-b", 1)], &moved, "")
        .replace("capacity = 1\n", "capacity = 1\npool = \"elsewhere\"\n");
    assert_eq!(t.reload(&reloaded).await, Ok(Vec::new()));
    drop(holding);
    let queued = queued.await.unwrap().unwrap();
    // Checked before the body is read: a stream sent to the removed endpoint would run on.
    assert_eq!(
        queued.status(),
        503,
        "the removed endpoint took the request"
    );
    let body: Value = queued.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_endpoint_available", "{body}");
    assert_eq!(
        t.requests_seen(0),
        1,
        "the removed endpoint took the request"
    );
    assert_eq!(t.chat("mistral-small").await.0, 200);
}

#[tokio::test]
async fn a_request_queued_before_a_reload_moving_its_endpoint_never_reaches_the_old_url() {
    let start = sized_config(&[("gpu-a", 1)], &model("mistral-small", "\"gpu-a\""), "");
    let t = TestServer::start(vec![slow_sim(), instant_sim()], &start).await;
    let holding = send(&t, &t.key, &streamed(1_000), &[]).await;
    assert_eq!(holding.status(), 200);
    let queued = queue(&t, &[]).await;

    // `gpu-a` keeps its name and moves to simulator 1: another server, with nothing in flight.
    let moved = start.replace("{sim0}", "{sim1}");
    assert_eq!(t.reload(&moved).await, Ok(Vec::new()));
    let ready: Value = t.get_json("/readyz", &t.key).await;
    assert_eq!(ready["endpoints"][0]["outstanding"], 0, "{ready}");
    drop(holding);
    let queued = queued.await.unwrap().unwrap();
    // Checked before the body is read: a stream sent to the old URL would run on.
    assert_eq!(queued.status(), 503, "the request went to the old URL");
    let body: Value = queued.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_endpoint_available", "{body}");
    assert_eq!(t.requests_seen(0), 1, "the old URL took the request");
    assert_eq!(t.chat("mistral-small").await.0, 200);
    assert_eq!((t.requests_seen(0), t.requests_seen(1)), (1, 1));
}

/// A simulator that answers every request 500 or 503.
fn failing_sim() -> sim::SimConfig {
    sim::SimConfig {
        faults: sim::Faults {
            error_rate: 1.0,
            ..sim::Faults::default()
        },
        ..instant_sim()
    }
}

#[tokio::test]
async fn routing_changed_in_the_file_applies_to_the_next_request() {
    let models = model("mistral-small", "\"gpu-a\"");
    let with_routing = |routing: &str| {
        config(&["gpu-a"], &models, "").replace("[routing]\n", &format!("[routing]\n{routing}\n"))
    };
    let t = TestServer::start(vec![failing_sim()], &with_routing("circuit_failures = 5")).await;
    assert_eq!(t.chat("mistral-small").await.0, 502);
    assert_eq!(t.circuit("gpu-a").await, "closed");

    // A file that does not validate changes nothing: five failures still open the circuit.
    let invalid = with_routing("circuit_failures = 1\nmax_attempts = 0");
    let refused = t.reload(&invalid).await.unwrap_err();
    assert!(refused.contains("routing.max_attempts"), "{refused}");
    assert_eq!(t.chat("mistral-small").await.0, 502);
    assert_eq!(t.circuit("gpu-a").await, "closed");

    // Three failures now open it, counting those before the reload: the next request opens it
    // and the one after is refused without reaching the endpoint.
    let reloaded = with_routing("circuit_failures = 3");
    assert_eq!(t.reload(&reloaded).await, Ok(Vec::new()));
    assert_eq!(t.chat("mistral-small").await.0, 502);
    assert_eq!(t.circuit("gpu-a").await, "open");
    let seen = t.requests_seen(0);
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("no_endpoint_available"))
    );
    assert_eq!(t.requests_seen(0), seen);
}

#[tokio::test]
async fn the_completion_admission_reserves_changed_in_the_file_applies_to_the_next_request() {
    let models = model("mistral-small", "\"gpu-a\"");
    let reserving = |tokens: u64, extra: &str| {
        format!(
            "{}\n[admission]\ndefault_completion_tokens = {tokens}\n{extra}",
            config(&["gpu-a"], &models, "")
        )
    };
    let t = TestServer::start(vec![instant_sim()], &reserving(100, "")).await;
    let limits = format!("/admin/v1/limits/key/{}", t.key_id);
    let limit = Some(json!({"tokens_per_minute": 2000}));
    let (status, set) = call(&t, Method::PUT, &limits, ADMIN_KEY, limit).await;
    assert_eq!(status, 200, "{set}");
    // No `max_tokens`: admission reserves the default completion.
    let unbounded = json!({"model": "mistral-small",
        "messages": [{"role": "user", "content": "Bonjour"}]});
    assert_eq!(t.post("/v1/chat/completions", &unbounded).await.0, 200);

    let invalid = reserving(5000, "time_zone = \"Mars/Olympus\"");
    let refused = t.reload(&invalid).await.unwrap_err();
    assert!(refused.contains("admission.time_zone"), "{refused}");
    assert_eq!(t.post("/v1/chat/completions", &unbounded).await.0, 200);

    // 5,000 tokens reserved: more than the key may use in a minute.
    assert_eq!(t.reload(&reserving(5000, "")).await, Ok(Vec::new()));
    let (status, _, body) = t.post("/v1/chat/completions", &unbounded).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("rate_limit_exceeded"), "{body}");
    // A changed time zone waits for a restart, and says so.
    let zoned = reserving(5000, "time_zone = \"Europe/Paris\"");
    assert_eq!(t.reload(&zoned).await, Ok(vec!["admission"]));
}

#[tokio::test]
async fn a_batch_headroom_changed_in_the_file_applies_to_the_requests_waiting() {
    let models = model("mistral-small", "\"gpu-a\"");
    let with_headroom = |headroom: &str| {
        format!(
            "{}\n[scheduling]\nbatch_headroom = {headroom}\n",
            sized_config(&[("gpu-a", 2)], &models, "")
        )
    };
    let t = TestServer::start(vec![slow_sim()], &with_headroom("0.5")).await;
    let batch = [("x-fabrique-priority", "batch")];
    // Half of two sequences left free for questions: a second batch request waits.
    let holding = send(&t, &t.key, &streamed(1_000), &batch).await;
    assert_eq!(holding.status(), 200);
    let waiting = queue(&t, &batch).await;

    let invalid = with_headroom("0.9");
    let refused = t.reload(&invalid).await.unwrap_err();
    assert!(refused.contains("scheduling.batch_headroom"), "{refused}");
    // No headroom: the batch request waiting takes the second sequence.
    assert_eq!(t.reload(&with_headroom("0.0")).await, Ok(Vec::new()));
    let waiting = waiting.await.unwrap().unwrap();
    assert_eq!(waiting.status(), 200);
    assert_eq!(t.requests_seen(0), 2);
    // Turning scheduling off waits for a restart.
    let off = format!("{}enabled = false\n", with_headroom("0.0"));
    assert_eq!(t.reload(&off).await, Ok(vec!["scheduling"]));
    drop((holding, waiting));
}

#[tokio::test]
async fn a_use_case_declared_in_the_file_applies_to_the_next_request_and_is_registered() {
    let models = model("mistral-small", "\"gpu-a\"");
    let start = config(&["gpu-a"], &models, "");
    let t = TestServer::start(vec![instant_sim()], &start).await;
    let about_vega = |t: &TestServer| {
        let request = t.http.post(t.url("/v1/chat/completions"));
        request
            .bearer_auth(&t.key)
            .header("x-fabrique-use-case", "vega")
            .json(&json!({"model": "mistral-small", "max_tokens": 5,
                "messages": [{"role": "user", "content": "Le Projet Vega avance"}]}))
            .send()
    };
    // Undeclared, the use case is a label only.
    assert_eq!(about_vega(&t).await.unwrap().status(), 200);

    let vega = "\n[[use_cases]]\nslug = \"vega\"\npriority = \"batch\"\n\n\
                [use_cases.policy]\nblocked_terms = [\"Projet Vega\"]\n";
    let invalid = format!("{start}{}", vega.replace("\"batch\"", "\"urgent\""));
    assert!(t.reload(&invalid).await.is_err());
    assert_eq!(about_vega(&t).await.unwrap().status(), 200);

    assert_eq!(t.reload(&format!("{start}{vega}")).await, Ok(Vec::new()));
    let refused = about_vega(&t).await.unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "blocked_term", "{body}");
    let registered: Value = t.get_json("/admin/v1/use-cases/vega", ADMIN_KEY).await;
    assert_eq!(
        (&registered["slug"], &registered["priority"]),
        (&json!("vega"), &json!("batch")),
        "{registered}"
    );

    // A use case of an entity the server does not have yet waits for a restart.
    let globex = format!(
        "{start}{vega}\n[[use_cases]]\nslug = \"kyc\"\nentity = \"globex\"\n\n\
         [[entities]]\nslug = \"globex\"\nname = \"Globex\"\n"
    );
    let mut waiting = t.reload(&globex).await.unwrap();
    waiting.sort_unstable();
    assert_eq!(waiting, ["entities", "use_cases"]);
}
