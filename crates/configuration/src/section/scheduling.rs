//! Section `[scheduling]`: how each GPU pool's concurrent sequences are shared between entities
//! (token-fair queueing by weight, priorities, shedding) and how requests are placed on the pool's
//! endpoints (prefix affinity). The typed values and their rules.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::{NameRule, name_problem};
use crate::section::endpoints::EndpointConfig;

/// Section `[scheduling]`. Absent: scheduling on, with the defaults below, every entity weight 1.
///
/// ```toml
/// [scheduling]
/// enabled = true
/// max_queued = 10000
/// input_token_weight = 1.0
/// output_token_weight = 2.0
/// max_wait_interactive_ms = 10000
/// max_wait_standard_ms = 30000
/// max_wait_batch_ms = 300000
/// forward_priority = false
/// prefix_affinity_blocks = 4096
/// prefix_max_load_gap = 0.25
/// batch_headroom = 0.03
///
/// [[scheduling.shares]]
/// pool = "default"
/// entity = "retail-bank"
/// weight = 3
/// min_share = 0.2
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulingConfig {
    /// Key `enabled`: requests wait in the gateway for a share of their pool's capacity (its
    /// schedule stage). Default `true`. `false` sends every request straight to routing, where the
    /// backends queue them first come, first served: the baseline fairness is measured against.
    pub enabled: bool,
    /// Key `max_queued`: requests waiting in one pool at most, all entities together, at least 1.
    /// Default 10000. When the line is full, the entity with the most waiting requests loses its
    /// newest, least urgent one (429 `capacity_exhausted`).
    pub max_queued: usize,
    /// Key `input_token_weight`: what one prompt token costs in an entity's virtual token counter; a
    /// finite number ≥ 0. Default 1.0.
    pub input_token_weight: f64,
    /// Key `output_token_weight`: what one completion token costs; a finite number ≥ 0. Default 2.0
    /// (decoding a token costs a GPU more than prefilling one).
    pub output_token_weight: f64,
    /// Keys `max_wait_interactive_ms`, `max_wait_standard_ms`, `max_wait_batch_ms`: the longest a
    /// request of each priority class waits for a sequence before 429 `capacity_exhausted`, in
    /// milliseconds, at least 1. Defaults 10000, 30000 and 300000. A caller may ask for less with
    /// the `x-fabrique-max-queue-ms` header, never more.
    pub max_wait_interactive: Duration,
    pub max_wait_standard: Duration,
    pub max_wait_batch: Duration,
    /// Key `forward_priority`: send the request's priority class to `vllm` endpoints as the body's
    /// `priority` field (interactive 0, standard 1, batch 2; lower is served first). Default
    /// `false`, because vLLM refuses a non-zero priority unless started with
    /// `--scheduling-policy priority`. No other kind of endpoint has such a field.
    pub forward_priority: bool,
    /// Key `prefix_affinity_blocks`: prompt blocks (about 64 tokens each) remembered per endpoint
    /// to send a chat prompt where its prefix is probably still cached; match it to the engines'
    /// prefix cache. `0` turns prefix affinity off (least-loaded routing only). Default 4096.
    pub prefix_affinity_blocks: usize,
    /// Key `prefix_max_load_gap`: how much busier (outstanding ÷ capacity) the endpoint holding the
    /// prefix may be than the least loaded one and still be chosen; a number in `[0, 1]`.
    /// Default 0.25.
    pub prefix_max_load_gap: f64,
    /// Key `batch_headroom`: `batch` requests (batches' lines, evaluations) fill what a pool's
    /// interactive and standard requests leave idle at their recent peak (the most they held at
    /// once in the last 10 to 20 s), less this fraction of the pool's sequences, in `[0, 0.5]`,
    /// for that work to grow into: a person's question finds a free sequence instead of waiting
    /// for a batch line to end. Rounded to whole sequences, at least one when above 0; a batch
    /// always holds one sequence when one is free. Default 0.03: one sequence in pools of 8 to
    /// 49, so a batch alone uses at least 95 % of a pool of 25 sequences or more.
    pub batch_headroom: f64,
    /// Array `[[scheduling.shares]]`: entity weights and guaranteed minimums per pool. Entities not
    /// listed have weight 1 and no minimum. The admin API (`PUT
    /// /admin/v1/pools/{pool}/shares/{entity}`) changes them at run time; what it stored takes
    /// precedence over this file at start.
    pub shares: Vec<ShareConfig>,
}

/// One `[[scheduling.shares]]` item.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareConfig {
    /// Key `pool`: required, a pool some endpoint declares (`pool` of `[[endpoints]]`).
    pub pool: String,
    /// Key `entity`: required, an entity slug. An entity the store does not know at start is
    /// skipped with a warning.
    pub entity: String,
    /// Key `weight`: relative share of the pool, at least 1. Default 1. An entity of weight 3 gets
    /// three times the token service of an entity of weight 1 when both are waiting.
    pub weight: u32,
    /// Key `min_share`: fraction of the pool's capacity guaranteed to the entity while it has
    /// requests waiting, in `[0, 1]`. Default 0. A pool's minimum shares add up to at most 1.
    pub min_share: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScheduling {
    pub enabled: Option<bool>,
    pub max_queued: Option<u64>,
    pub input_token_weight: Option<f64>,
    pub output_token_weight: Option<f64>,
    pub max_wait_interactive_ms: Option<u64>,
    pub max_wait_standard_ms: Option<u64>,
    pub max_wait_batch_ms: Option<u64>,
    pub forward_priority: Option<bool>,
    pub prefix_affinity_blocks: Option<u64>,
    pub prefix_max_load_gap: Option<f64>,
    pub batch_headroom: Option<f64>,
    pub shares: Option<Vec<RawShare>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawShare {
    pub pool: String,
    pub entity: String,
    pub weight: Option<u32>,
    pub min_share: Option<f64>,
}

const MAX_QUEUED: u64 = 10_000;
const MAX_WAIT_INTERACTIVE_MS: u64 = 10_000;
const MAX_WAIT_STANDARD_MS: u64 = 30_000;
const MAX_WAIT_BATCH_MS: u64 = 300_000;
const PREFIX_AFFINITY_BLOCKS: u64 = 4_096;
const PREFIX_MAX_LOAD_GAP: f64 = 0.25;
const BATCH_HEADROOM: f64 = 0.03;

/// Checks the section against the endpoints' pools.
pub(crate) fn validate(
    raw: RawScheduling,
    endpoints: &[EndpointConfig],
    errors: &mut Collector,
) -> SchedulingConfig {
    let key = |name: &str| format!("scheduling.{name}");
    let at_least_one = |value: Option<u64>, default: u64, name: &str, errors: &mut Collector| {
        let value = value.unwrap_or(default);
        if value == 0 {
            errors.push(key(name), "must be at least 1");
        }
        value.max(1)
    };
    let token_weight = |value: Option<f64>, default: f64, name: &str, errors: &mut Collector| {
        let value = value.unwrap_or(default);
        if !(value.is_finite() && value >= 0.0) {
            errors.push(
                key(name),
                format!("must be a finite number at least 0, not {value}"),
            );
            return default;
        }
        value
    };
    let millis = |value: Option<u64>, default: u64, name: &str, errors: &mut Collector| {
        Duration::from_millis(at_least_one(value, default, name, errors))
    };
    let fraction =
        |value: Option<f64>, default: f64, most: f64, name: &str, errors: &mut Collector| {
            let value = value.unwrap_or(default);
            if !(0.0..=most).contains(&value) {
                errors.push(
                    key(name),
                    format!("must be a number between 0 and {most}, not {value}"),
                );
                return default;
            }
            value
        };
    let max_queued = at_least_one(raw.max_queued, MAX_QUEUED, "max_queued", errors);
    SchedulingConfig {
        enabled: raw.enabled.unwrap_or(true),
        max_queued: usize::try_from(max_queued).unwrap_or(usize::MAX),
        input_token_weight: token_weight(raw.input_token_weight, 1.0, "input_token_weight", errors),
        output_token_weight: token_weight(
            raw.output_token_weight,
            2.0,
            "output_token_weight",
            errors,
        ),
        max_wait_interactive: millis(
            raw.max_wait_interactive_ms,
            MAX_WAIT_INTERACTIVE_MS,
            "max_wait_interactive_ms",
            errors,
        ),
        max_wait_standard: millis(
            raw.max_wait_standard_ms,
            MAX_WAIT_STANDARD_MS,
            "max_wait_standard_ms",
            errors,
        ),
        max_wait_batch: millis(
            raw.max_wait_batch_ms,
            MAX_WAIT_BATCH_MS,
            "max_wait_batch_ms",
            errors,
        ),
        forward_priority: raw.forward_priority.unwrap_or(false),
        prefix_affinity_blocks: usize::try_from(
            raw.prefix_affinity_blocks.unwrap_or(PREFIX_AFFINITY_BLOCKS),
        )
        .unwrap_or(usize::MAX),
        prefix_max_load_gap: fraction(
            raw.prefix_max_load_gap,
            PREFIX_MAX_LOAD_GAP,
            1.0,
            "prefix_max_load_gap",
            errors,
        ),
        batch_headroom: fraction(
            raw.batch_headroom,
            BATCH_HEADROOM,
            0.5,
            "batch_headroom",
            errors,
        ),
        shares: shares(raw.shares.unwrap_or_default(), endpoints, errors),
    }
}

fn shares(
    raw: Vec<RawShare>,
    endpoints: &[EndpointConfig],
    errors: &mut Collector,
) -> Vec<ShareConfig> {
    let pools: HashSet<&str> = endpoints.iter().map(|e| e.pool.as_str()).collect();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut min_shares: HashMap<String, f64> = HashMap::new();
    let mut shares = Vec::with_capacity(raw.len());
    for (index, raw) in raw.into_iter().enumerate() {
        let key = format!("scheduling.shares[{index}]");
        if !pools.contains(raw.pool.as_str()) {
            let mut known: Vec<&str> = pools.iter().copied().collect();
            known.sort_unstable();
            errors.push(
                format!("{key}.pool"),
                format!(
                    "no endpoint is in pool `{}` (pools: {})",
                    raw.pool,
                    known.join(", ")
                ),
            );
        }
        if let Some(message) = name_problem(&raw.entity, NameRule::Slug) {
            errors.push(format!("{key}.entity"), message);
        }
        if let Some(first) = seen.insert((raw.pool.clone(), raw.entity.clone()), index) {
            errors.push(
                format!("{key}.entity"),
                format!(
                    "entity `{}` already has a share of pool `{}` in scheduling.shares[{first}]",
                    raw.entity, raw.pool
                ),
            );
        }
        let weight = raw.weight.unwrap_or(1);
        if weight == 0 {
            errors.push(format!("{key}.weight"), "must be at least 1");
        }
        let min_share = raw.min_share.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&min_share) {
            errors.push(
                format!("{key}.min_share"),
                format!("must be a number between 0 and 1, not {min_share}"),
            );
        } else {
            *min_shares.entry(raw.pool.clone()).or_default() += min_share;
        }
        shares.push(ShareConfig {
            pool: raw.pool,
            entity: raw.entity,
            weight: weight.max(1),
            min_share: min_share.clamp(0.0, 1.0),
        });
    }
    let mut over: Vec<(String, f64)> = min_shares
        .into_iter()
        .filter(|(_, sum)| *sum > 1.0 + 1e-9)
        .collect();
    over.sort_by(|a, b| a.0.cmp(&b.0));
    for (pool, sum) in over {
        errors.push(
            "scheduling.shares",
            format!("the minimum shares of pool `{pool}` add up to {sum}, more than 1"),
        );
    }
    shares
}

impl Default for SchedulingConfig {
    fn default() -> Self {
        SchedulingConfig {
            enabled: true,
            max_queued: MAX_QUEUED as usize,
            input_token_weight: 1.0,
            output_token_weight: 2.0,
            max_wait_interactive: Duration::from_millis(MAX_WAIT_INTERACTIVE_MS),
            max_wait_standard: Duration::from_millis(MAX_WAIT_STANDARD_MS),
            max_wait_batch: Duration::from_millis(MAX_WAIT_BATCH_MS),
            forward_priority: false,
            prefix_affinity_blocks: PREFIX_AFFINITY_BLOCKS as usize,
            prefix_max_load_gap: PREFIX_MAX_LOAD_GAP,
            batch_headroom: BATCH_HEADROOM,
            shares: Vec::new(),
        }
    }
}
