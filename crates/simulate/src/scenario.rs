//! A scenario file: the simulated pool, the entities and their workload, and what to compare with.

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

/// A workload replayed through a real gateway against simulated endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in the report's title.
    #[serde(default)]
    pub name: String,
    /// How long requests keep arriving, in seconds; the run then waits for the last to finish.
    pub duration_secs: f64,
    /// Width of the windows shares are measured over, in seconds.
    #[serde(default = "default_window")]
    pub window_secs: f64,
    /// The seed of the arrival times, so a scenario replays the same workload.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Run the scenario a second time as a baseline: `fcfs` (scheduling off: the backends queue
    /// first come, first served) or `least_loaded` (prefix affinity off).
    #[serde(default)]
    pub compare: Option<Baseline>,
    pub pool: PoolSpec,
    pub entities: Vec<EntitySpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    Fcfs,
    LeastLoaded,
}

/// The simulated endpoints of the one pool, all alike.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    pub endpoints: usize,
    /// Batch slots of each simulated GPU, also the endpoint's configured capacity.
    pub capacity: u32,
    #[serde(default = "default_ttft")]
    pub ttft_ms: u64,
    pub tokens_per_second: f64,
    #[serde(default)]
    pub batch_slowdown: f64,
    #[serde(default)]
    pub prefix_cache_blocks: usize,
    #[serde(default)]
    pub prefill_tokens_per_second: f64,
    /// The longest a request waits in the gateway, every priority class alike, in milliseconds.
    #[serde(default = "default_max_wait")]
    pub max_wait_ms: u64,
}

/// One entity: its weight and what it sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    pub slug: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Mean arrivals per second (Poisson) outside bursts.
    pub rate_per_sec: f64,
    /// Tokens of the user message (a fresh text per request).
    pub prompt_tokens: u64,
    /// `max_tokens` of each request: the completion is exactly this long.
    pub output_tokens: u64,
    #[serde(default = "default_priority")]
    pub priority: String,
    /// Distinct long system prompts the requests share (0: none); each request takes one at random.
    #[serde(default)]
    pub system_prompts: usize,
    #[serde(default)]
    pub system_prompt_tokens: u64,
    #[serde(default)]
    pub bursts: Vec<Burst>,
}

/// A period during which an entity sends at another rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    pub at_secs: f64,
    pub for_secs: f64,
    pub rate_per_sec: f64,
}

impl Scenario {
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the scenario {}", path.display()))?;
        let scenario: Scenario = toml::from_str(&text)
            .with_context(|| format!("reading the scenario {}", path.display()))?;
        scenario
            .check()
            .with_context(|| format!("in the scenario {}", path.display()))?;
        Ok(scenario)
    }

    fn check(&self) -> anyhow::Result<()> {
        let positive = |value: f64, what: &str| {
            anyhow::ensure!(
                value.is_finite() && value > 0.0,
                "{what} must be above 0, not {value}"
            );
            Ok(())
        };
        positive(self.duration_secs, "duration_secs")?;
        positive(self.window_secs, "window_secs")?;
        positive(self.pool.tokens_per_second, "pool.tokens_per_second")?;
        anyhow::ensure!(
            self.pool.endpoints >= 1,
            "pool.endpoints must be at least 1"
        );
        anyhow::ensure!(self.pool.capacity >= 1, "pool.capacity must be at least 1");
        anyhow::ensure!(
            !self.entities.is_empty(),
            "at least one [[entities]] is needed"
        );
        for entity in &self.entities {
            anyhow::ensure!(
                entity.rate_per_sec.is_finite() && entity.rate_per_sec >= 0.0,
                "entity `{}`: rate_per_sec must be at least 0",
                entity.slug
            );
            anyhow::ensure!(
                entity.weight >= 1,
                "entity `{}`: weight must be at least 1",
                entity.slug
            );
            anyhow::ensure!(
                ["interactive", "standard", "batch"].contains(&entity.priority.as_str()),
                "entity `{}`: priority must be interactive, standard or batch",
                entity.slug
            );
            anyhow::ensure!(
                entity.system_prompts == 0 || entity.system_prompt_tokens > 0,
                "entity `{}`: system_prompts needs system_prompt_tokens",
                entity.slug
            );
        }
        Ok(())
    }

    /// The arrival rate of `entity` at `t` seconds into the run.
    pub fn rate_at(entity: &EntitySpec, t: f64) -> f64 {
        entity
            .bursts
            .iter()
            .find(|b| t >= b.at_secs && t < b.at_secs + b.for_secs)
            .map_or(entity.rate_per_sec, |b| b.rate_per_sec)
    }
}

fn default_window() -> f64 {
    10.0
}
fn default_seed() -> u64 {
    1
}
fn default_ttft() -> u64 {
    10
}
fn default_max_wait() -> u64 {
    5_000
}
fn default_weight() -> u32 {
    1
}
fn default_priority() -> String {
    "standard".to_owned()
}
