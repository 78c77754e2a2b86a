//! A scenario file: who the users are, what they ask for over a working day, the GPU pools that
//! answer, and the measured figures of the gateway tier, PostgreSQL and Redis. Every figure is
//! checked here, and a bad one is refused with the key that holds it.

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A bad scenario: the key (`pools[0].max_sequences`) or the place in the text (`line 3,
/// column 7`) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct ScenarioError {
    pub at: String,
    pub message: String,
}

impl ScenarioError {
    fn new(at: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            at: at.into(),
            message: message.into(),
        }
    }
}

/// The whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in the report's title.
    pub name: String,
    pub day: Day,
    /// The group's entities; their users add up to the scenario's users.
    pub entities: Vec<Entity>,
    pub pools: Vec<Pool>,
    /// What users do: chat, questions on documents (RAG), batch work.
    pub uses: Vec<Use>,
    #[serde(default)]
    pub gateway: Gateway,
    #[serde(default)]
    pub postgres: Postgres,
    #[serde(default)]
    pub redis: Redis,
}

/// The shape of a working day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Day {
    /// Relative share of a day's requests arriving in each hour, 0:00 to 23:00 (24 numbers).
    pub hourly_weights: Vec<f64>,
    /// The busiest minutes of an hour against the hour's mean rate (1: arrivals spread evenly).
    #[serde(default = "one")]
    pub peak_minute_factor: f64,
}

/// An entity of the group: its users and its weight in every pool it shares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    pub name: String,
    pub users: u64,
    #[serde(default = "one_u32")]
    pub weight: u32,
}

/// A GPU pool: endpoints serving one model, all alike. An endpoint (a URL the gateway routes to)
/// runs `instances_per_endpoint` inference-engine instances (data parallel), each on
/// `gpus_per_instance` GPUs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// The pool's name, also in the chart files' names: letters, digits, `-` and `_`.
    pub name: String,
    /// What it serves, in words (model, size, precision, GPU).
    pub model: String,
    #[serde(default = "one_u32")]
    pub gpus_per_instance: u32,
    #[serde(default = "one_u32")]
    pub instances_per_endpoint: u32,
    /// Decode speed of one sequence alone on an instance, tokens per second.
    pub decode_tokens_per_second: f64,
    /// α: with n sequences decoding at once, each decodes at speed / (1 + α (n − 1)), as the
    /// simulator's `--batch-slowdown`.
    #[serde(default)]
    pub batch_slowdown: f64,
    /// The engine's most sequences at once (vLLM's `max_num_seqs`).
    pub max_sequences: u32,
    /// Tokens of KV cache an instance holds, over all its sequences.
    pub kv_cache_tokens: u64,
    /// Prompt tokens an instance reads per second before the first token.
    pub prefill_tokens_per_second: f64,
    /// The slowest decode a reader accepts: caps the batch so each sequence keeps this speed.
    #[serde(default)]
    pub min_decode_tokens_per_second: f64,
    /// The goal: 95 % of requests see their first token within this, at the busiest minutes.
    pub target_p95_ttft_ms: f64,
    /// Time to first token that does not depend on the pool: network, gateway, engine overhead.
    #[serde(default)]
    pub fixed_ttft_ms: f64,
    /// The busiest sequences may be at the peak: headroom for a forecast that errs and for an
    /// endpoint that fails. A choice, not a measure; 1 sizes for the target alone.
    #[serde(default = "default_max_utilization")]
    pub max_utilization: f64,
    /// Evaluate the pool at this many endpoints too, beside the size it needs.
    #[serde(default)]
    pub endpoints: Option<u32>,
    /// The largest pool the search tries, in endpoints.
    #[serde(default = "default_max_endpoints")]
    pub max_endpoints: u32,
}

/// Whether a use's requests are someone waiting at a screen, or work that can wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UseKind {
    Interactive,
    Batch,
}

/// One use of the platform and what each of its requests costs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Use {
    pub name: String,
    pub kind: UseKind,
    /// The pool that serves it.
    pub pool: String,
    /// Requests of one user on a working day.
    pub requests_per_user_per_day: f64,
    pub prompt_tokens: Lengths,
    pub output_tokens: Lengths,
    /// Answers streamed (as the chat does) rather than returned whole.
    #[serde(default = "yes")]
    pub stream: bool,
    /// This use's own hourly shape (24 numbers), for work that runs at night; the day's by default.
    #[serde(default)]
    pub hourly_weights: Option<Vec<f64>>,
}

/// A length distribution in tokens: log-normal, given by its median and 95th percentile.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lengths {
    pub median: f64,
    pub p95: f64,
}

/// The gateway tier's measured figures (bench/README.md, "Side by side with nginx-proxy and
/// litellm-rs, 2026-12-07": governance on, 32 connections, on 2 cores shared with the load
/// generator and the upstream).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gateway {
    pub requests_per_second_json: f64,
    pub requests_per_second_stream: f64,
    pub cpu_us_per_json_request: f64,
    pub cpu_us_per_stream_request: f64,
    /// CPU per streamed event beyond the benchmark's eight. An assumption, not a measure:
    /// (180 − 122 µs) / 8 events, the stream's extra cost spread over its events.
    pub cpu_us_per_stream_event: f64,
    /// Output tokens per streamed event (engines send one token an event by default).
    pub tokens_per_stream_event: f64,
    pub cores_per_replica: f64,
    /// The share of a replica's cores and measured throughput planned for (headroom for bursts).
    pub target_utilization: f64,
    /// Replicas run for availability whatever the load.
    pub min_replicas: u32,
    /// `[server] max_connections`: open requests one replica holds.
    pub max_connections_per_replica: u32,
}

impl Default for Gateway {
    fn default() -> Gateway {
        Gateway {
            requests_per_second_json: 10_248.0,
            requests_per_second_stream: 7_320.0,
            cpu_us_per_json_request: 122.0,
            cpu_us_per_stream_request: 180.0,
            cpu_us_per_stream_event: 7.0,
            tokens_per_stream_event: 1.0,
            cores_per_replica: 2.0,
            target_utilization: 0.6,
            min_replicas: 3,
            max_connections_per_replica: 10_000,
        }
    }
}

/// What the request path writes to PostgreSQL, and what one primary absorbs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Postgres {
    /// Request-path audit events (refusals, policy flags) per request; one usage record a request
    /// is the product's rule, not a figure of the scenario.
    pub audit_events_per_request: f64,
    /// Rows a second one primary writes in the usage writer's batches: 32,447 measured by
    /// bench/plan/backends.sh on 2 cores shared with builds (a floor for a dedicated server).
    pub max_rows_per_second: f64,
    /// Bytes a usage record takes, indexes included (516 measured by the same run).
    pub bytes_per_usage_record: f64,
}

impl Default for Postgres {
    fn default() -> Postgres {
        Postgres {
            audit_events_per_request: 0.05,
            max_rows_per_second: 32_000.0,
            bytes_per_usage_record: 516.0,
        }
    }
}

/// What the request path asks of Redis with shared limits (`[redis]`), and what one Redis serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Redis {
    /// Scripts run per request: the admission script, and the settlement (pipelined in batches).
    pub scripts_per_request: f64,
    /// Admission scripts a second one Redis runs: 9,321 measured by bench/plan/backends.sh on 2
    /// cores shared with builds (a floor); the settlement script is assumed to cost the same.
    pub max_scripts_per_second: f64,
}

impl Default for Redis {
    fn default() -> Redis {
        Redis {
            scripts_per_request: 2.0,
            max_scripts_per_second: 9_300.0,
        }
    }
}

fn one() -> f64 {
    1.0
}
fn one_u32() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_max_utilization() -> f64 {
    0.85
}
fn default_max_endpoints() -> u32 {
    10_000
}

impl Scenario {
    /// Reads a scenario from its text; the first problem found is the error.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let table: toml::Table = toml::from_str(text).map_err(|error| {
            let at = error.span().map_or_else(String::new, |span| {
                let (line, column) = line_and_column(text, span.start);
                format!("line {line}, column {column}")
            });
            ScenarioError::new(at, error.message().trim().to_owned())
        })?;
        let scenario: Scenario = typed(toml::Value::Table(table))?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Users of all entities.
    pub fn users(&self) -> u64 {
        self.entities.iter().map(|e| e.users).sum()
    }

    /// The hourly weights a use follows.
    pub fn weights_of<'a>(&'a self, one: &'a Use) -> &'a [f64] {
        one.hourly_weights
            .as_deref()
            .unwrap_or(&self.day.hourly_weights)
    }

    fn check(&self) -> Result<(), ScenarioError> {
        hours("day.hourly_weights", &self.day.hourly_weights)?;
        at_least("day.peak_minute_factor", self.day.peak_minute_factor, 1.0)?;
        non_empty("entities", self.entities.len())?;
        for (i, entity) in self.entities.iter().enumerate() {
            let key = |field: &str| format!("entities[{i}].{field}");
            name(&key("name"), &entity.name)?;
            whole(&key("weight"), u64::from(entity.weight))?;
        }
        whole("entities[].users", self.users())?;
        non_empty("pools", self.pools.len())?;
        for (i, pool) in self.pools.iter().enumerate() {
            check_pool(&format!("pools[{i}]"), pool)?;
            if self.pools[..i].iter().any(|p| p.name == pool.name) {
                return Err(ScenarioError::new(
                    format!("pools[{i}].name"),
                    format!("`{}` names two pools", pool.name),
                ));
            }
        }
        non_empty("uses", self.uses.len())?;
        for (i, one) in self.uses.iter().enumerate() {
            self.check_use(&format!("uses[{i}]"), one)?;
        }
        check_tiers(self)
    }

    fn check_use(&self, at: &str, one: &Use) -> Result<(), ScenarioError> {
        let key = |field: &str| format!("{at}.{field}");
        name(&key("name"), &one.name)?;
        if !self.pools.iter().any(|p| p.name == one.pool) {
            return Err(ScenarioError::new(
                key("pool"),
                format!("no pool is named `{}`", one.pool),
            ));
        }
        positive(
            &key("requests_per_user_per_day"),
            one.requests_per_user_per_day,
        )?;
        lengths(&key("prompt_tokens"), one.prompt_tokens)?;
        lengths(&key("output_tokens"), one.output_tokens)?;
        if let Some(weights) = &one.hourly_weights {
            hours(&key("hourly_weights"), weights)?;
        }
        Ok(())
    }
}

fn check_pool(at: &str, pool: &Pool) -> Result<(), ScenarioError> {
    let key = |field: &str| format!("{at}.{field}");
    name(&key("name"), &pool.name)?;
    whole(&key("gpus_per_instance"), u64::from(pool.gpus_per_instance))?;
    whole(
        &key("instances_per_endpoint"),
        u64::from(pool.instances_per_endpoint),
    )?;
    positive(
        &key("decode_tokens_per_second"),
        pool.decode_tokens_per_second,
    )?;
    at_least(&key("batch_slowdown"), pool.batch_slowdown, 0.0)?;
    whole(&key("max_sequences"), u64::from(pool.max_sequences))?;
    whole(&key("kv_cache_tokens"), pool.kv_cache_tokens)?;
    positive(
        &key("prefill_tokens_per_second"),
        pool.prefill_tokens_per_second,
    )?;
    at_least(
        &key("min_decode_tokens_per_second"),
        pool.min_decode_tokens_per_second,
        0.0,
    )?;
    if pool.min_decode_tokens_per_second > pool.decode_tokens_per_second {
        return Err(ScenarioError::new(
            key("min_decode_tokens_per_second"),
            "is above decode_tokens_per_second: no sequence could keep it",
        ));
    }
    positive(&key("target_p95_ttft_ms"), pool.target_p95_ttft_ms)?;
    at_least(&key("fixed_ttft_ms"), pool.fixed_ttft_ms, 0.0)?;
    if pool.fixed_ttft_ms >= pool.target_p95_ttft_ms {
        return Err(ScenarioError::new(
            key("fixed_ttft_ms"),
            "leaves nothing of target_p95_ttft_ms for prefill and waiting",
        ));
    }
    fraction(&key("max_utilization"), pool.max_utilization)?;
    if let Some(endpoints) = pool.endpoints {
        whole(&key("endpoints"), u64::from(endpoints))?;
    }
    whole(&key("max_endpoints"), u64::from(pool.max_endpoints))
}

fn check_tiers(scenario: &Scenario) -> Result<(), ScenarioError> {
    let g = &scenario.gateway;
    positive(
        "gateway.requests_per_second_json",
        g.requests_per_second_json,
    )?;
    positive(
        "gateway.requests_per_second_stream",
        g.requests_per_second_stream,
    )?;
    positive("gateway.cpu_us_per_json_request", g.cpu_us_per_json_request)?;
    positive(
        "gateway.cpu_us_per_stream_request",
        g.cpu_us_per_stream_request,
    )?;
    at_least(
        "gateway.cpu_us_per_stream_event",
        g.cpu_us_per_stream_event,
        0.0,
    )?;
    positive("gateway.tokens_per_stream_event", g.tokens_per_stream_event)?;
    positive("gateway.cores_per_replica", g.cores_per_replica)?;
    fraction("gateway.target_utilization", g.target_utilization)?;
    whole("gateway.min_replicas", u64::from(g.min_replicas))?;
    whole(
        "gateway.max_connections_per_replica",
        u64::from(g.max_connections_per_replica),
    )?;
    let p = &scenario.postgres;
    at_least(
        "postgres.audit_events_per_request",
        p.audit_events_per_request,
        0.0,
    )?;
    positive("postgres.max_rows_per_second", p.max_rows_per_second)?;
    positive("postgres.bytes_per_usage_record", p.bytes_per_usage_record)?;
    let r = &scenario.redis;
    at_least("redis.scripts_per_request", r.scripts_per_request, 0.0)?;
    positive("redis.max_scripts_per_second", r.max_scripts_per_second)
}

/// Deserializes `value`, naming the key of the first problem.
fn typed<T: DeserializeOwned>(value: toml::Value) -> Result<T, ScenarioError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|error| {
        let mut at = String::new();
        for segment in error.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => at.push_str(&format!("[{index}]")),
                serde_path_to_error::Segment::Map { key } => push_key(&mut at, key),
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => {}
            }
        }
        let message = error.inner().message().trim().to_owned();
        // serde names a missing key in its message, not in the path: move it to the path.
        match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
        {
            Some((field, _)) => {
                push_key(&mut at, field);
                ScenarioError::new(at, "required key is missing")
            }
            None if at.is_empty() => ScenarioError::new("scenario", message),
            None => ScenarioError::new(at, message),
        }
    })
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// One-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

fn positive(key: &str, value: f64) -> Result<(), ScenarioError> {
    match value.is_finite() && value > 0.0 {
        true => Ok(()),
        false => Err(ScenarioError::new(
            key,
            format!("must be above 0, not {value}"),
        )),
    }
}

fn at_least(key: &str, value: f64, least: f64) -> Result<(), ScenarioError> {
    match value.is_finite() && value >= least {
        true => Ok(()),
        false => Err(ScenarioError::new(
            key,
            format!("must be at least {least}, not {value}"),
        )),
    }
}

fn fraction(key: &str, value: f64) -> Result<(), ScenarioError> {
    match value > 0.0 && value <= 1.0 {
        true => Ok(()),
        false => Err(ScenarioError::new(
            key,
            format!("must be above 0 and at most 1, not {value}"),
        )),
    }
}

fn whole(key: &str, value: u64) -> Result<(), ScenarioError> {
    match value >= 1 {
        true => Ok(()),
        false => Err(ScenarioError::new(key, "must be at least 1")),
    }
}

fn non_empty(key: &str, len: usize) -> Result<(), ScenarioError> {
    match len >= 1 {
        true => Ok(()),
        false => Err(ScenarioError::new(
            key,
            format!("at least one [[{key}]] is needed"),
        )),
    }
}

fn name(key: &str, value: &str) -> Result<(), ScenarioError> {
    let fits = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    match !value.is_empty() && value.len() <= 64 && value.chars().all(fits) {
        true => Ok(()),
        false => Err(ScenarioError::new(
            key,
            format!("`{value}`: a name is 1 to 64 letters, digits, `-` or `_`"),
        )),
    }
}

fn hours(key: &str, weights: &[f64]) -> Result<(), ScenarioError> {
    if weights.len() != 24 {
        return Err(ScenarioError::new(
            key,
            format!("needs 24 numbers, one an hour, not {}", weights.len()),
        ));
    }
    if let Some(hour) = weights.iter().position(|w| !w.is_finite() || *w < 0.0) {
        return Err(ScenarioError::new(
            format!("{key}[{hour}]"),
            "a weight is 0 or more",
        ));
    }
    match weights.iter().sum::<f64>() > 0.0 {
        true => Ok(()),
        false => Err(ScenarioError::new(key, "every weight is 0")),
    }
}

fn lengths(key: &str, lengths: Lengths) -> Result<(), ScenarioError> {
    positive(&format!("{key}.median"), lengths.median)?;
    match lengths.p95.is_finite() && lengths.p95 >= lengths.median {
        true => Ok(()),
        false => Err(ScenarioError::new(
            format!("{key}.p95"),
            format!(
                "must be at least the median ({}), not {}",
                lengths.median, lengths.p95
            ),
        )),
    }
}

/// A small scenario the crate's tests start from.
#[cfg(test)]
pub(crate) const SMALL: &str = r#"
name = "small"
[day]
hourly_weights = [0,0,0,0,0,0,0,1,4,8,9,7,4,5,8,9,7,4,2,1,0,0,0,0]
peak_minute_factor = 1.2

[[entities]]
name = "retail"
users = 3000
weight = 2

[[entities]]
name = "markets"
users = 1000

[[pools]]
name = "small"
model = "24B"
decode_tokens_per_second = 60
batch_slowdown = 0.01
max_sequences = 64
kv_cache_tokens = 200000
prefill_tokens_per_second = 8000
min_decode_tokens_per_second = 15
target_p95_ttft_ms = 1500
fixed_ttft_ms = 50

[[uses]]
name = "chat"
kind = "interactive"
pool = "small"
requests_per_user_per_day = 20
prompt_tokens = { median = 800, p95 = 3000 }
output_tokens = { median = 250, p95 = 800 }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> ScenarioError {
        match Scenario::parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(error) => error,
        }
    }

    #[test]
    fn the_small_scenario_reads_with_the_benchmarks_defaults() {
        let scenario = Scenario::parse(SMALL).unwrap();
        assert_eq!(scenario.users(), 4000);
        assert_eq!(scenario.entities[1].weight, 1);
        assert_eq!(scenario.gateway.cpu_us_per_stream_request, 180.0);
        assert!(scenario.uses[0].stream);
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let cases = [
            (
                SMALL.replace("max_sequences = 64", "max_sequences = 0"),
                "pools[0].max_sequences",
            ),
            (
                SMALL.replace(
                    "decode_tokens_per_second = 60",
                    "decode_tokens_per_second = -1",
                ),
                "pools[0].decode_tokens_per_second",
            ),
            (
                SMALL.replace("p95 = 3000", "p95 = 100"),
                "uses[0].prompt_tokens.p95",
            ),
            (
                SMALL.replace("pool = \"small\"", "pool = \"large\""),
                "uses[0].pool",
            ),
            (
                SMALL.replace("kind = \"interactive\"", "kind = \"overnight\""),
                "uses[0].kind",
            ),
            (
                SMALL.replace("users = 1000", "users = \"many\""),
                "entities[1].users",
            ),
            (
                SMALL.replace("target_p95_ttft_ms = 1500\n", ""),
                "pools[0].target_p95_ttft_ms",
            ),
            (SMALL.replace("batch_slowdown", "batch_slowdwn"), "pools[0]"),
            (
                SMALL.replace("0,0,0,0]\npeak", "0,0,0]\npeak"),
                "day.hourly_weights",
            ),
            (
                format!("{SMALL}\n[gateway]\ntarget_utilization = 1.5\n"),
                "gateway.target_utilization",
            ),
        ];
        for (text, key) in cases {
            let error = error_of(&text);
            assert!(error.at.starts_with(key), "{key}: {error}");
            assert!(!error.message.contains('\n'), "{error:?}");
        }
    }

    #[test]
    fn an_unknown_key_and_a_syntax_error_say_where() {
        let error = error_of(&SMALL.replace("batch_slowdown", "batch_slowdwn"));
        assert!(error.message.contains("batch_slowdwn"), "{error}");
        let error = error_of("name = \"x\"\n[day\n");
        assert!(error.at.starts_with("line 2"), "{error}");
    }
}
