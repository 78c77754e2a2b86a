//! The workload simulator behind `fabrique simulate SCENARIO.toml`: replays a workload —
//! entities with weights, arrival rates, prompt and output lengths, bursts, shared system
//! prompts — through the real gateway against simulated GPU endpoints, and reports per entity the
//! requests, tokens served, share of service against the weighted fair share, queue wait and time
//! to first token; the pool's utilization while requests wait; the scheduler's fairness gap; the
//! prefix-cache hit rate; and an SVG chart of the shares over time. With `compare`, the same
//! workload runs again as a baseline (first come, first served; or least-loaded routing) and the
//! report sets the two side by side.
//!
//! Nothing is faked between the client and the simulators: requests are real HTTP streams, the
//! figures come from what the client saw, the simulators' counters and the scheduler's snapshots.
//! The platform itself is started by the caller (the binary starts `serve` in-process on a
//! loopback port) through [`Platform`], so this crate knows the server only by its configuration
//! file, its HTTP API and its scheduler.

mod report;
mod scenario;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use domain::EntityId;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

pub use scenario::{Baseline, Scenario};

use report::{Outcome, Run, Sample};

const ADMIN_KEY: &str = "fabk_simulate_admin_key_0123456789abcdef";

/// The gateway's headers the senders use: the priority class a request asks for, and how long
/// its answer waited for a GPU.
pub const PRIORITY_HEADER: &str = "x-fabrique-priority";
pub const QUEUE_WAIT_HEADER: &str = "x-fabrique-queue-ms";

/// The platform under test, as the simulator drives it: started by the caller of [`run`] from a
/// configuration and a bootstrap administrator key, reached over HTTP like any client would,
/// and watched through its scheduler.
pub trait Platform: Send + 'static {
    /// Where it serves, `http://127.0.0.1:PORT`.
    fn base_url(&self) -> String;
    /// Its scheduler, whose pools are sampled while the workload runs; `None` with scheduling off.
    fn scheduler(&self) -> Option<Arc<scheduler::Scheduler>>;
    /// Stops it and waits until it has stopped.
    fn shutdown(self) -> impl Future<Output = ()> + Send;
}

/// Runs the scenario (and its baseline) on platforms made by `start`, writes the SVG chart and
/// returns the report to show, its last line naming the chart.
pub async fn run<P, F, Started>(
    path: &Path,
    svg: Option<PathBuf>,
    start: F,
) -> anyhow::Result<String>
where
    P: Platform,
    F: Fn(configuration::Config, String) -> Started,
    Started: Future<Output = anyhow::Result<P>>,
{
    let scenario = Scenario::load(path)?;
    let measured = run_once(&scenario, None, &start).await?;
    let baseline = match scenario.compare {
        Some(baseline) => Some(run_once(&scenario, Some(baseline), &start).await?),
        None => None,
    };
    let svg = svg.unwrap_or_else(|| path.with_extension("svg"));
    std::fs::write(&svg, report::svg(&scenario, &measured))
        .with_context(|| format!("writing {}", svg.display()))?;
    let mut text = report::text(&scenario, &measured, baseline.as_ref());
    text.push_str(&format!("shares over time: {}\n", svg.display()));
    Ok(text)
}

/// One run: simulators, a server, the workload, the figures.
async fn run_once<P, F, Started>(
    scenario: &Scenario,
    baseline: Option<Baseline>,
    start: &F,
) -> anyhow::Result<Run>
where
    P: Platform,
    F: Fn(configuration::Config, String) -> Started,
    Started: Future<Output = anyhow::Result<P>>,
{
    let pool = &scenario.pool;
    let mut sims = Vec::new();
    for _ in 0..pool.endpoints {
        let simulator = sim::Simulator::new(sim::SimConfig {
            ttft: Duration::from_millis(pool.ttft_ms),
            tokens_per_second: pool.tokens_per_second,
            capacity: pool.capacity as usize,
            batch_slowdown: pool.batch_slowdown,
            prefix_cache_blocks: pool.prefix_cache_blocks,
            prefill_tokens_per_second: pool.prefill_tokens_per_second,
            ..sim::SimConfig::default()
        });
        let running = sim::spawn(simulator.clone())
            .await
            .context("starting a simulator")?;
        sims.push((simulator, running));
    }
    let data_dir = std::env::temp_dir().join(format!(
        "fabrique-simulate-{}-{}",
        std::process::id(),
        baseline.map_or("measured", |b| match b {
            Baseline::Fcfs => "fcfs",
            Baseline::LeastLoaded => "least-loaded",
        })
    ));
    let _ = std::fs::remove_dir_all(&data_dir);
    let urls: Vec<String> = sims.iter().map(|(_, running)| running.base_url()).collect();
    let text = server_config(scenario, baseline, &urls, &data_dir);
    let config =
        configuration::Config::from_toml(&text, "scenario", &|_| None).map_err(|errors| {
            anyhow::anyhow!("the scenario makes an invalid configuration:\n{errors}")
        })?;
    let server = start(config, ADMIN_KEY.to_owned()).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1_024)
        .build()?;
    let keys = entity_keys(&server.base_url(), &http, scenario).await?;
    let entity_ids = entity_ids(&server.base_url(), &http, scenario).await?;

    let started = Instant::now();
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let sampling = tokio::spawn(sample(
        server.scheduler(),
        sims.iter().map(|(s, _)| s.clone()).collect(),
        pool.capacity,
        started,
        Arc::clone(&samples),
    ));
    let mut senders = Vec::new();
    for (index, entity) in scenario.entities.iter().enumerate() {
        let sender = Sender {
            http: http.clone(),
            url: format!("{}/v1/chat/completions", server.base_url()),
            key: keys[index].clone(),
            entity: index,
            started,
            outcomes: Arc::clone(&outcomes),
        };
        senders.push(tokio::spawn(sender.send_all(
            scenario.clone(),
            entity.clone(),
            scenario.seed.wrapping_add(index as u64),
        )));
    }
    for sender in senders {
        sender.await.context("a sender task failed")?;
    }
    sampling.abort();
    let elapsed = started.elapsed();
    let sim_stats: Vec<sim::SimStats> = sims.iter().map(|(s, _)| s.stats()).collect();
    let scheduler_bound = report::vtc_bound(scenario);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    let outcomes = std::mem::take(&mut *outcomes.lock());
    let samples = std::mem::take(&mut *samples.lock());
    Ok(Run {
        baseline,
        elapsed,
        outcomes,
        samples,
        sims: sim_stats,
        entity_ids,
        capacity: pool.capacity * pool.endpoints as u32,
        scheduler_bound,
    })
}

fn server_config(
    scenario: &Scenario,
    baseline: Option<Baseline>,
    endpoint_urls: &[String],
    data_dir: &Path,
) -> String {
    let pool = &scenario.pool;
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\n\n\
         [routing]\nhealth_check_interval_ms = 0\ndeadline_ms = 600000\nfirst_byte_timeout_ms = 600000\nmax_attempts = 1\n\n",
        data_dir.display().to_string()
    );
    let mut names = Vec::new();
    for (i, url) in endpoint_urls.iter().enumerate() {
        text.push_str(&format!(
            "[[endpoints]]\nname = \"gpu-{i}\"\nkind = \"vllm\"\nurl = \"{}\"\nhosting = \"on_premises\"\nclearance = \"secret\"\ncapacity = {}\n\n",
            url,
            pool.capacity
        ));
        names.push(format!("\"gpu-{i}\""));
    }
    text.push_str(&format!(
        "[[models]]\nname = \"mistral-small\"\nkind = \"chat\"\nendpoints = [{}]\n\n",
        names.join(", ")
    ));
    for entity in &scenario.entities {
        text.push_str(&format!(
            "[[entities]]\nslug = \"{}\"\nname = \"{}\"\n\n",
            entity.slug, entity.slug
        ));
    }
    text.push_str(&format!(
        "[scheduling]\nenabled = {}\nprefix_affinity_blocks = {}\nmax_wait_interactive_ms = {w}\nmax_wait_standard_ms = {w}\nmax_wait_batch_ms = {w}\n\n",
        baseline != Some(Baseline::Fcfs),
        match (baseline, pool.prefix_cache_blocks) {
            (Some(Baseline::LeastLoaded), _) => 0,
            // As many blocks as the engines' caches hold, or the default when they hold none.
            (_, 0) => 4_096,
            (_, blocks) => blocks,
        },
        w = pool.max_wait_ms,
    ));
    for entity in &scenario.entities {
        text.push_str(&format!(
            "[[scheduling.shares]]\npool = \"default\"\nentity = \"{}\"\nweight = {}\n\n",
            entity.slug, entity.weight
        ));
    }
    text
}

/// One user and key per entity, through the admin API.
async fn entity_keys(
    base_url: &str,
    http: &reqwest::Client,
    scenario: &Scenario,
) -> anyhow::Result<Vec<String>> {
    let post = |path: &str, body: Value| {
        http.post(format!("{base_url}{path}"))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
            .send()
    };
    let mut keys = Vec::new();
    for entity in &scenario.entities {
        let user: Value = post(
            "/admin/v1/users",
            json!({"entity": entity.slug, "user_name": format!("load-{}", entity.slug), "email": format!("load@{}.test", entity.slug)}),
        )
        .await?
        .error_for_status()?
        .json()
        .await?;
        let key: Value = post("/admin/v1/keys", json!({"user_id": user["id"]}))
            .await?
            .error_for_status()?
            .json()
            .await?;
        keys.push(
            key["key"]
                .as_str()
                .context("the admin API returned no key")?
                .to_owned(),
        );
    }
    Ok(keys)
}

/// The ids of the scenario's entities (which the configuration creates), in scenario order, as
/// the admin API lists them: the scheduler's snapshots name entities by id.
async fn entity_ids(
    base_url: &str,
    http: &reqwest::Client,
    scenario: &Scenario,
) -> anyhow::Result<Vec<EntityId>> {
    let listed: Value = http
        .get(format!("{base_url}/admin/v1/entities"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let listed = listed["data"].as_array().cloned().unwrap_or_default();
    let mut ids = Vec::new();
    for entity in &scenario.entities {
        let id = listed
            .iter()
            .find(|e| e["slug"] == entity.slug.as_str())
            .and_then(|e| e["id"].as_str()?.parse().ok())
            .with_context(|| format!("the scenario entity `{}` was not created", entity.slug))?;
        ids.push(id);
    }
    Ok(ids)
}

/// Every 50 ms: what the simulated GPUs are doing and what waits in the gateway.
async fn sample(
    scheduler: Option<Arc<scheduler::Scheduler>>,
    sims: Vec<sim::Simulator>,
    capacity: u32,
    started: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
) {
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticker.tick().await;
        let stats: Vec<sim::SimStats> = sims.iter().map(sim::Simulator::stats).collect();
        let pools = scheduler
            .as_ref()
            .map(|s| {
                s.pools()
                    .iter()
                    .map(scheduler::Pool::snapshot)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let gateway_queued: usize = pools.iter().map(|p| p.queued).sum();
        let counters = pools
            .first()
            .map(|p| {
                p.entities
                    .iter()
                    .map(|e| (e.entity, e.counter, e.queued_total()))
                    .collect()
            })
            .unwrap_or_default();
        samples.lock().push(Sample {
            at: started.elapsed().as_secs_f64(),
            busy: stats.iter().map(|s| s.in_flight as u64).sum(),
            slots: u64::from(capacity) * stats.len() as u64,
            waiting: gateway_queued as u64 + stats.iter().map(|s| s.waiting as u64).sum::<u64>(),
            counters,
        });
    }
}

/// Sends one entity's requests at their arrival times.
struct Sender {
    http: reqwest::Client,
    url: String,
    key: String,
    entity: usize,
    started: Instant,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
}

impl Sender {
    async fn send_all(self, scenario: Scenario, entity: scenario::EntitySpec, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let this = Arc::new(self);
        let mut requests = Vec::new();
        let mut t = 0.0_f64;
        let mut sequence = 0_u64;
        loop {
            // Poisson arrivals at the rate in force: exponential gaps, re-drawn at the current rate.
            let rate = Scenario::rate_at(&entity, t);
            let gap = if rate > 0.0 {
                -(1.0 - rng.r#gen::<f64>()).ln() / rate
            } else {
                0.1
            };
            t += gap;
            if t >= scenario.duration_secs {
                break;
            }
            if rate <= 0.0 {
                continue;
            }
            sequence += 1;
            let system = (entity.system_prompts > 0).then(|| {
                system_prompt(
                    rng.gen_range(0..entity.system_prompts),
                    entity.system_prompt_tokens,
                )
            });
            let body = chat_request(
                &entity,
                system,
                &format!("{} {sequence} {}", entity.slug, rng.r#gen::<u64>()),
            );
            let due = this.started + Duration::from_secs_f64(t);
            let sender = Arc::clone(&this);
            let priority = entity.priority.clone();
            requests.push(tokio::spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                sender.send_one(body, &priority).await;
            }));
        }
        for request in requests {
            let _ = request.await;
        }
    }

    async fn send_one(&self, body: Value, priority: &str) {
        let sent = self.started.elapsed().as_secs_f64();
        let mut outcome = Outcome {
            entity: self.entity,
            status: 0,
            queue_ms: None,
            ttft: None,
            done: sent,
            prompt_tokens: 0,
            completion_tokens: 0,
        };
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.key)
            .header(PRIORITY_HEADER, priority)
            .json(&body)
            .send()
            .await;
        if let Ok(mut response) = response {
            outcome.status = response.status().as_u16();
            outcome.queue_ms = response
                .headers()
                .get(QUEUE_WAIT_HEADER)
                .and_then(|v| v.to_str().ok()?.parse().ok());
            let mut tail = String::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                if outcome.ttft.is_none() {
                    outcome.ttft = Some(self.started.elapsed().as_secs_f64() - sent);
                }
                // Only the last events matter: the usage chunk comes just before `[DONE]`.
                tail.push_str(&String::from_utf8_lossy(&chunk));
                if tail.len() > 4_096 {
                    tail.drain(..tail.len() - 2_048);
                }
            }
            if let Some(usage) = last_usage(&tail) {
                outcome.prompt_tokens = usage.0;
                outcome.completion_tokens = usage.1;
            }
        }
        outcome.done = self.started.elapsed().as_secs_f64();
        self.outcomes.lock().push(outcome);
    }
}

/// A deterministic system prompt of about `tokens` tokens, the same for every entity using `index`.
fn system_prompt(index: usize, tokens: u64) -> String {
    let sentence =
        format!("System prompt {index}: answer as the group's assistant, citing policy. ");
    let mut text = String::with_capacity(tokens as usize * 4);
    while (text.len() as u64) < tokens * 4 {
        text.push_str(&sentence);
    }
    text
}

fn chat_request(entity: &scenario::EntitySpec, system: Option<String>, unique: &str) -> Value {
    let mut user = String::from(unique);
    while (user.len() as u64) < entity.prompt_tokens * 4 {
        user.push_str(" lorem ipsum dolor sit amet");
    }
    let mut messages = Vec::new();
    if let Some(system) = system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": user}));
    json!({
        "model": "mistral-small",
        "messages": messages,
        "max_tokens": entity.output_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
    })
}

/// `(prompt_tokens, completion_tokens)` of the stream's usage chunk.
fn last_usage(tail: &str) -> Option<(u64, u64)> {
    tail.rsplit("\n\n").find_map(|event| {
        let data = event.trim().strip_prefix("data: ")?;
        let value: Value = serde_json::from_str(data).ok()?;
        let usage = value.get("usage")?;
        Some((
            usage["prompt_tokens"].as_u64()?,
            usage["completion_tokens"].as_u64()?,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped scenarios stay readable, and each makes a valid server configuration.
    #[test]
    fn the_bench_scenarios_load_and_make_valid_configurations() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/scenario");
        let mut seen = 0;
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
            for baseline in [None, scenario.compare] {
                let urls: Vec<String> = (0..scenario.pool.endpoints)
                    .map(|i| format!("http://127.0.0.1:{}/v1", 9000 + i))
                    .collect();
                let text = server_config(&scenario, baseline, &urls, Path::new("/tmp/scenario"));
                configuration::Config::from_toml(&text, "scenario", &|_| None)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            seen += 1;
        }
        assert!(seen >= 4, "the scenarios of bench/scenario");
    }

    #[test]
    fn the_usage_of_a_stream_is_read_from_its_last_events() {
        let tail = "data: {\"choices\":[{}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n";
        assert_eq!(last_usage(tail), Some((12, 5)));
        assert_eq!(last_usage("data: [DONE]\n\n"), None);
    }
}
