//! A GPU pool sized for its target: how many sequences an instance runs (the engine's limit, its
//! KV cache, or the slowest decode a reader accepts, whichever binds first), how long a request
//! holds one, the busiest minutes of the day, and the fewest endpoints whose p95 time to first
//! token meets the target there.

use crate::lengths::LogNormal;
use crate::queue::{FirstToken, Queue};
use crate::scenario::{Pool, Scenario, Use, UseKind};

/// What caps the sequences one instance runs at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotLimit {
    /// The engine's `max_sequences`.
    Engine,
    /// The KV cache: each sequence holds its prompt and its answer.
    KvCache,
    /// Beyond this batch, each sequence would decode slower than `min_decode_tokens_per_second`.
    DecodeSpeed,
}

impl SlotLimit {
    pub fn describe(self) -> &'static str {
        match self {
            SlotLimit::Engine => "engine's max_sequences",
            SlotLimit::KvCache => "KV cache",
            SlotLimit::DecodeSpeed => "slowest decode allowed",
        }
    }
}

/// What decides the size a pool needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeBound {
    /// The p95 time to first token: one endpoint fewer would miss it.
    Target,
    /// The headroom: one endpoint fewer would be busier than `max_utilization`.
    Headroom,
}

impl SizeBound {
    pub fn describe(self) -> &'static str {
        match self {
            SizeBound::Target => "TTFT target",
            SizeBound::Headroom => "utilization headroom",
        }
    }
}

/// One instance of the pool's engine, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Instance {
    pub sequences: u64,
    pub limit: SlotLimit,
    /// Each sequence's decode speed with the batch full, tokens a second.
    pub decode_speed: f64,
    /// Mean tokens a sequence holds in the KV cache at its end (prompt and answer).
    pub kv_tokens_per_sequence: f64,
}

impl Instance {
    /// Output tokens a second of a full instance.
    pub fn throughput(&self) -> f64 {
        self.sequences as f64 * self.decode_speed
    }
}

/// One use of the pool with its arrivals and what a request costs.
#[derive(Debug, Clone)]
pub struct Demand {
    pub name: String,
    pub kind: UseKind,
    pub stream: bool,
    /// Mean requests a second in each hour of the day.
    pub hourly: [f64; 24],
    pub prompt: LogNormal,
    pub output: LogNormal,
    /// Mean seconds a request holds a sequence: its prefill and its decode with the batch full.
    pub service_secs: f64,
    pub service_variance: f64,
}

/// The pool at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizing {
    pub endpoints: u32,
    pub gpus: u64,
    pub sequences: u64,
    /// p95 time to first token at the busiest minutes, milliseconds; `None` when the pool cannot
    /// keep up (arrivals above what it serves).
    pub p95_ttft_ms: Option<f64>,
    pub utilization: f64,
    pub wait_probability: f64,
    pub mean_wait_ms: f64,
    /// The most requests a second this size takes with the target and the headroom kept.
    pub capacity_per_sec: f64,
}

/// A pool's plan.
#[derive(Debug, Clone)]
pub struct PoolPlan {
    pub pool: Pool,
    pub instance: Instance,
    pub demands: Vec<Demand>,
    /// The hour whose load (busy sequences) is the highest.
    pub peak_hour: usize,
    /// Requests a second at the busiest minutes of the peak hour.
    pub peak_arrivals: f64,
    pub service_secs: f64,
    pub service_scv: f64,
    /// The fewest endpoints meeting the target; `None` if `max_endpoints` does not.
    pub needed: Option<Sizing>,
    /// What decided `needed`.
    pub needed_for: SizeBound,
    /// At the scenario's `endpoints`, when it gives some.
    pub given: Option<Sizing>,
    /// p95 time to first token against GPUs, from the smallest stable size upwards.
    pub curve: Vec<(u64, Option<f64>)>,
}

impl PoolPlan {
    /// The size the rest of the plan reads: the scenario's, else the one needed.
    pub fn chosen(&self) -> Option<&Sizing> {
        self.given.as_ref().or(self.needed.as_ref())
    }

    /// Hourly mean requests a second of all the pool's uses.
    pub fn hourly(&self) -> [f64; 24] {
        let mut total = [0.0; 24];
        for demand in &self.demands {
            for (sum, rate) in total.iter_mut().zip(demand.hourly) {
                *sum += rate;
            }
        }
        total
    }
}

/// Plans every pool of the scenario.
pub fn plan_pools(scenario: &Scenario) -> Vec<PoolPlan> {
    scenario
        .pools
        .iter()
        .map(|pool| plan_pool(scenario, pool))
        .collect()
}

fn plan_pool(scenario: &Scenario, pool: &Pool) -> PoolPlan {
    let uses: Vec<&Use> = scenario
        .uses
        .iter()
        .filter(|u| u.pool == pool.name)
        .collect();
    let instance = instance(scenario, pool, &uses);
    let demands: Vec<Demand> = uses
        .iter()
        .map(|one| demand(scenario, pool, &instance, one))
        .collect();
    let peak_hour = (0..24)
        .max_by(|a, b| load_at(&demands, *a).total_cmp(&load_at(&demands, *b)))
        .unwrap_or(0);
    let at_peak: Vec<f64> = demands.iter().map(|d| d.hourly[peak_hour]).collect();
    let rate: f64 = at_peak.iter().sum();
    let (service_secs, service_scv) = service_mix(&demands, &at_peak);
    let model = Model {
        pool,
        sequences_per_endpoint: instance.sequences * u64::from(pool.instances_per_endpoint),
        service_secs,
        service_scv,
        prefill: prefill_mix(pool, &demands, &at_peak),
    };
    let peak_arrivals = rate * scenario.day.peak_minute_factor;
    let needed = model.smallest_meeting_target(peak_arrivals);
    let needed_for = model.bound(needed.as_ref(), peak_arrivals);
    let given = pool.endpoints.map(|n| model.sizing(n, peak_arrivals));
    let curve = model.curve(peak_arrivals, needed.as_ref().map(|s| s.endpoints));
    PoolPlan {
        pool: pool.clone(),
        instance,
        demands,
        peak_hour,
        peak_arrivals,
        service_secs,
        service_scv,
        needed,
        needed_for,
        given,
        curve,
    }
}

/// Sequences per instance and the speed they decode at: the batch is as large as the engine, the
/// KV cache for the day's mean sequence, and the slowest decode allowed all permit.
fn instance(scenario: &Scenario, pool: &Pool, uses: &[&Use]) -> Instance {
    let daily = |one: &Use| one.requests_per_user_per_day * scenario.users() as f64;
    let total: f64 = uses.iter().map(|u| daily(u)).sum();
    let kv_tokens_per_sequence = match total > 0.0 {
        true => {
            uses.iter()
                .map(|u| {
                    daily(u)
                        * (LogNormal::from_lengths(u.prompt_tokens).mean()
                            + LogNormal::from_lengths(u.output_tokens).mean())
                })
                .sum::<f64>()
                / total
        }
        false => 1.0,
    };
    let by_kv = (pool.kv_cache_tokens as f64 / kv_tokens_per_sequence).floor();
    let by_speed = match pool.batch_slowdown > 0.0 && pool.min_decode_tokens_per_second > 0.0 {
        true => {
            1.0 + ((pool.decode_tokens_per_second / pool.min_decode_tokens_per_second - 1.0)
                / pool.batch_slowdown)
                .floor()
        }
        false => f64::INFINITY,
    };
    let engine = f64::from(pool.max_sequences);
    let (sequences, limit) = [
        (engine, SlotLimit::Engine),
        (by_kv, SlotLimit::KvCache),
        (by_speed, SlotLimit::DecodeSpeed),
    ]
    .into_iter()
    .fold((f64::INFINITY, SlotLimit::Engine), |best, next| {
        if next.0 < best.0 { next } else { best }
    });
    // A sequence larger than the cache still runs alone (the engine would refuse it; the plan
    // says so through `kv_tokens_per_sequence`).
    let sequences = sequences.max(1.0) as u64;
    Instance {
        sequences,
        limit,
        decode_speed: decode_speed(pool, sequences),
        kv_tokens_per_sequence,
    }
}

/// Each sequence's decode speed with `batch` sequences decoding at once.
pub fn decode_speed(pool: &Pool, batch: u64) -> f64 {
    pool.decode_tokens_per_second / (1.0 + pool.batch_slowdown * (batch.max(1) - 1) as f64)
}

fn demand(scenario: &Scenario, pool: &Pool, instance: &Instance, one: &Use) -> Demand {
    let weights = scenario.weights_of(one);
    let weight_sum: f64 = weights.iter().sum();
    let daily = one.requests_per_user_per_day * scenario.users() as f64;
    let mut hourly = [0.0; 24];
    for (rate, weight) in hourly.iter_mut().zip(weights) {
        *rate = daily * weight / weight_sum / 3600.0;
    }
    let prompt = LogNormal::from_lengths(one.prompt_tokens);
    let output = LogNormal::from_lengths(one.output_tokens);
    let (prefill, decode) = (
        prompt.scaled(1.0 / pool.prefill_tokens_per_second),
        output.scaled(1.0 / instance.decode_speed),
    );
    Demand {
        name: one.name.clone(),
        kind: one.kind,
        stream: one.stream,
        hourly,
        prompt,
        output,
        service_secs: prefill.mean() + decode.mean(),
        service_variance: prefill.variance() + decode.variance(),
    }
}

/// Busy sequences in `hour`.
fn load_at(demands: &[Demand], hour: usize) -> f64 {
    demands
        .iter()
        .map(|d| d.hourly[hour] * d.service_secs)
        .sum()
}

/// Mean service time and its squared coefficient of variation over the uses, weighted by
/// arrivals.
fn service_mix(demands: &[Demand], rates: &[f64]) -> (f64, f64) {
    let total: f64 = rates.iter().sum();
    if total <= 0.0 {
        return (demands.first().map_or(1.0, |d| d.service_secs), 1.0);
    }
    let mean: f64 = demands
        .iter()
        .zip(rates)
        .map(|(d, r)| r * d.service_secs)
        .sum::<f64>()
        / total;
    let second: f64 = demands
        .iter()
        .zip(rates)
        .map(|(d, r)| r * (d.service_variance + d.service_secs * d.service_secs))
        .sum::<f64>()
        / total;
    (mean, (second - mean * mean).max(0.0) / (mean * mean))
}

/// The prefill times (seconds) the target is about: interactive requests' when the pool has any,
/// else all its requests'.
fn prefill_mix(pool: &Pool, demands: &[Demand], rates: &[f64]) -> Vec<(f64, LogNormal)> {
    let interactive = demands.iter().any(|d| d.kind == UseKind::Interactive);
    let mix: Vec<(f64, LogNormal)> = demands
        .iter()
        .zip(rates)
        .filter(|(d, r)| **r > 0.0 && (!interactive || d.kind == UseKind::Interactive))
        .map(|(d, r)| (*r, d.prompt.scaled(1.0 / pool.prefill_tokens_per_second)))
        .collect();
    match mix.is_empty() {
        false => mix,
        // No arrivals at the peak (a pool no use sends to): the prefill of its first use.
        true => demands
            .iter()
            .take(1)
            .map(|d| (1.0, d.prompt.scaled(1.0 / pool.prefill_tokens_per_second)))
            .collect(),
    }
}

/// What sizing needs to know about a pool.
struct Model<'a> {
    pool: &'a Pool,
    sequences_per_endpoint: u64,
    service_secs: f64,
    service_scv: f64,
    prefill: Vec<(f64, LogNormal)>,
}

impl Model<'_> {
    fn gpus(&self, endpoints: u32) -> u64 {
        u64::from(endpoints)
            * u64::from(self.pool.instances_per_endpoint)
            * u64::from(self.pool.gpus_per_instance)
    }

    fn first_token(&self, endpoints: u32, arrivals: f64) -> FirstToken {
        let queue = Queue {
            servers: u64::from(endpoints) * self.sequences_per_endpoint,
            arrivals,
            service_secs: self.service_secs,
            service_scv: self.service_scv,
        };
        FirstToken::new(
            queue,
            self.pool.fixed_ttft_ms / 1000.0,
            self.prefill.clone(),
        )
    }

    fn p95_ms(&self, endpoints: u32, arrivals: f64) -> Option<f64> {
        self.first_token(endpoints, arrivals)
            .quantile(0.95)
            .map(|secs| secs * 1000.0)
    }

    /// Whether the pool keeps its headroom and 95 % of first tokens come within the target (one
    /// evaluation of the tail at the target, rather than a search for the quantile).
    fn meets(&self, endpoints: u32, arrivals: f64) -> bool {
        let first = self.first_token(endpoints, arrivals);
        first.queue.utilization() <= self.pool.max_utilization
            && first.survival(self.pool.target_p95_ttft_ms / 1000.0) <= 0.05
    }

    fn sizing(&self, endpoints: u32, arrivals: f64) -> Sizing {
        let first = self.first_token(endpoints, arrivals);
        let queue = first.queue;
        Sizing {
            endpoints,
            gpus: self.gpus(endpoints),
            sequences: queue.servers,
            p95_ttft_ms: first.quantile(0.95).map(|secs| secs * 1000.0),
            utilization: queue.utilization(),
            wait_probability: queue.wait_probability(),
            mean_wait_ms: queue.mean_wait() * 1000.0,
            capacity_per_sec: self.capacity(endpoints),
        }
    }

    /// The fewest endpoints meeting the target (more endpoints never make it worse, so a
    /// bisection finds it).
    fn smallest_meeting_target(&self, arrivals: f64) -> Option<Sizing> {
        if !self.meets(self.pool.max_endpoints, arrivals) {
            return None;
        }
        let (mut low, mut high) = (0, self.pool.max_endpoints);
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            match self.meets(mid, arrivals) {
                true => high = mid,
                false => low = mid,
            }
        }
        Some(self.sizing(high, arrivals))
    }

    /// Whether one endpoint fewer than `needed` would miss the headroom rather than the target.
    fn bound(&self, needed: Option<&Sizing>, arrivals: f64) -> SizeBound {
        let fewer = needed.map_or(0, |s| s.endpoints.saturating_sub(1));
        match fewer >= 1
            && self.first_token(fewer, arrivals).queue.utilization() > self.pool.max_utilization
        {
            true => SizeBound::Headroom,
            false => SizeBound::Target,
        }
    }

    /// The most arrivals a second `endpoints` take with the target and the headroom kept.
    fn capacity(&self, endpoints: u32) -> f64 {
        let servers = f64::from(endpoints) * self.sequences_per_endpoint as f64;
        let (mut low, mut high) = (0.0, servers / self.service_secs);
        if !self.meets(endpoints, low) {
            return 0.0;
        }
        for _ in 0..50 {
            let mid = (low + high) / 2.0;
            match self.meets(endpoints, mid) {
                true => low = mid,
                false => high = mid,
            }
        }
        low
    }

    /// p95 against GPUs, about 40 points from the smallest stable size to past the needed one.
    fn curve(&self, arrivals: f64, needed: Option<u32>) -> Vec<(u64, Option<f64>)> {
        let per_endpoint = self.sequences_per_endpoint as f64 / self.service_secs;
        let stable = ((arrivals / per_endpoint).floor() as u32 + 1).min(self.pool.max_endpoints);
        let end = needed
            .map_or(stable.saturating_mul(2), |n| {
                n.saturating_add(n / 2).max(n + 4)
            })
            .clamp(stable, self.pool.max_endpoints);
        let step = ((end - stable) / 40).max(1);
        (stable..=end)
            .step_by(step as usize)
            .map(|n| {
                let gpus = self.gpus(n);
                (gpus, self.p95_ms(n, arrivals))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::SMALL;

    fn small_pool() -> PoolPlan {
        let scenario = Scenario::parse(SMALL).unwrap();
        plan_pools(&scenario).remove(0)
    }

    #[test]
    fn the_small_pool_is_sized_to_its_target() {
        let plan = small_pool();
        let needed = plan.needed.clone().unwrap();
        assert!(needed.p95_ttft_ms.unwrap() <= plan.pool.target_p95_ttft_ms);
        assert!(needed.utilization < 1.0);
        if needed.endpoints > 1 {
            let model_smaller = plan
                .curve
                .iter()
                .find(|(gpus, _)| *gpus == u64::from(needed.endpoints - 1));
            if let Some((_, p95)) = model_smaller {
                assert!(p95.is_none_or(|ms| ms > plan.pool.target_p95_ttft_ms));
            }
        }
        // 4,000 users × 20 requests, 9 of 69 weight units in the 09:00 hour, × 1.2.
        let expected = 80_000.0 * 9.0 / 69.0 / 3600.0 * 1.2;
        assert!(
            (plan.peak_arrivals - expected).abs() < 1e-9,
            "{}",
            plan.peak_arrivals
        );
        assert!(plan.peak_hour == 9 || plan.peak_hour == 15);
    }

    #[test]
    fn more_gpus_are_never_worse() {
        let plan = small_pool();
        let mut last = f64::INFINITY;
        for (gpus, p95) in &plan.curve {
            let p95 = p95.unwrap_or(f64::INFINITY);
            assert!(p95 <= last, "{gpus} GPUs: {p95} ms after {last} ms");
            last = p95;
        }
        // Over a wide range of sizes and loads, not only the plotted ones.
        let scenario = Scenario::parse(SMALL).unwrap();
        let pool = &scenario.pools[0];
        let model = Model {
            pool,
            sequences_per_endpoint: 8,
            service_secs: 6.0,
            service_scv: 1.4,
            prefill: vec![(
                1.0,
                LogNormal {
                    mu: -2.0,
                    sigma: 0.8,
                },
            )],
        };
        for arrivals in [0.5, 3.0, 20.0] {
            let mut last = f64::INFINITY;
            for endpoints in 1..60 {
                let p95 = model.p95_ms(endpoints, arrivals).unwrap_or(f64::INFINITY);
                assert!(p95 <= last + 1e-6, "{endpoints} endpoints at {arrivals}/s");
                last = p95;
            }
        }
    }

    #[test]
    fn the_batch_stops_where_decode_would_be_too_slow_or_the_cache_full() {
        let mut scenario = Scenario::parse(SMALL).unwrap();
        // A sequence holds about 1,400 tokens: 200,000 hold 140, more than the engine's 64.
        let plan = plan_pools(&scenario).remove(0);
        assert_eq!(plan.instance.limit, SlotLimit::Engine);
        assert_eq!(plan.instance.sequences, 64);
        scenario.pools[0].kv_cache_tokens = 50_000;
        let plan = plan_pools(&scenario).remove(0);
        assert_eq!(plan.instance.limit, SlotLimit::KvCache);
        let kv = plan.instance.kv_tokens_per_sequence;
        assert_eq!(plan.instance.sequences, (50_000.0 / kv).floor() as u64);
        // 60 / (1 + 0.01 (n − 1)) ≥ 15 → n ≤ 301.
        scenario.pools[0].kv_cache_tokens = 100_000_000;
        scenario.pools[0].max_sequences = 1000;
        let plan = plan_pools(&scenario).remove(0);
        assert_eq!(plan.instance.limit, SlotLimit::DecodeSpeed);
        assert_eq!(plan.instance.sequences, 301);
        assert!(plan.instance.decode_speed >= 15.0);
    }

    #[test]
    fn capacity_is_the_edge_of_the_target() {
        let plan = small_pool();
        let needed = plan.needed.unwrap();
        assert!(needed.capacity_per_sec >= plan.peak_arrivals);
    }
}
