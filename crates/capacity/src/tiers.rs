//! The tiers every request crosses besides its GPU: gateway replicas, sized from the measured CPU
//! and throughput of one replica; PostgreSQL, which takes one usage record per request and the
//! request path's audit events; Redis, which runs the shared counters' scripts. Each load is at
//! the busiest minutes of the day, and each saturation point is given in users, since every load
//! grows in proportion to them.

use crate::pools::PoolPlan;
use crate::scenario::Scenario;

/// The whole platform's traffic at its busiest minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    pub hour: usize,
    /// Requests a second, all pools.
    pub arrivals: f64,
    /// The share of them streamed.
    pub stream_share: f64,
    /// Requests open at once (waiting for or holding a sequence).
    pub open_requests: f64,
    /// Mean streamed events of a streamed request (its output tokens / tokens per event).
    pub events_per_stream: f64,
    /// Requests in a working day.
    pub daily_requests: f64,
}

/// Which figure decides the number of gateway replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaBound {
    Availability,
    Cpu,
    Throughput,
    Connections,
}

impl ReplicaBound {
    pub fn describe(self) -> &'static str {
        match self {
            ReplicaBound::Availability => "the minimum for availability",
            ReplicaBound::Cpu => "CPU per request",
            ReplicaBound::Throughput => "measured requests a second per replica",
            ReplicaBound::Connections => "open connections per replica",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayPlan {
    pub cpu_us_per_request: f64,
    pub cores: f64,
    pub replicas: u32,
    pub bound: ReplicaBound,
    /// Requests a second one replica takes at the target utilization.
    pub requests_per_replica: f64,
}

/// A store's load against what it absorbs.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreLoad {
    pub per_second: f64,
    pub capacity: f64,
    /// Users at which the load reaches the capacity.
    pub saturates_at_users: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tiers {
    pub peak: Peak,
    pub gateway: GatewayPlan,
    /// Rows a second (usage records and audit events).
    pub postgres: StoreLoad,
    pub usage_bytes_per_day: f64,
    /// Scripts a second.
    pub redis: StoreLoad,
}

pub fn tiers(scenario: &Scenario, pools: &[PoolPlan]) -> Tiers {
    let peak = peak(scenario, pools);
    let users = scenario.users() as f64;
    let load = |per_second: f64, capacity: f64| StoreLoad {
        per_second,
        capacity,
        saturates_at_users: users * capacity / per_second,
    };
    let pg = &scenario.postgres;
    Tiers {
        gateway: gateway(scenario, &peak),
        postgres: load(
            peak.arrivals * (1.0 + pg.audit_events_per_request),
            pg.max_rows_per_second,
        ),
        usage_bytes_per_day: peak.daily_requests * pg.bytes_per_usage_record,
        redis: load(
            peak.arrivals * scenario.redis.scripts_per_request,
            scenario.redis.max_scripts_per_second,
        ),
        peak,
    }
}

/// The hour with the most requests over all pools, at its busiest minutes.
fn peak(scenario: &Scenario, pools: &[PoolPlan]) -> Peak {
    let at = |hour: usize| -> f64 { pools.iter().map(|p| p.hourly()[hour]).sum() };
    let hour = (0..24)
        .max_by(|a, b| at(*a).total_cmp(&at(*b)))
        .unwrap_or(0);
    let factor = scenario.day.peak_minute_factor;
    let (mut streamed, mut events, mut open) = (0.0, 0.0, 0.0);
    for pool in pools {
        let wait = pool.chosen().map_or(0.0, |s| s.mean_wait_ms / 1000.0);
        for demand in &pool.demands {
            let rate = demand.hourly[hour] * factor;
            open += rate * (demand.service_secs + wait.min(demand.service_secs * 10.0));
            if demand.stream {
                streamed += rate;
                events += rate * demand.output.mean() / scenario.gateway.tokens_per_stream_event;
            }
        }
    }
    let arrivals = at(hour) * factor;
    let daily_requests: f64 = pools
        .iter()
        .flat_map(|p| p.demands.iter())
        .map(|d| d.hourly.iter().sum::<f64>() * 3600.0)
        .sum();
    Peak {
        hour,
        arrivals,
        stream_share: ratio(streamed, arrivals),
        open_requests: open,
        events_per_stream: ratio(events, streamed),
        daily_requests,
    }
}

fn ratio(part: f64, whole: f64) -> f64 {
    match whole > 0.0 {
        true => part / whole,
        false => 0.0,
    }
}

/// Replicas: the most of what availability, CPU, measured throughput and open connections need.
fn gateway(scenario: &Scenario, peak: &Peak) -> GatewayPlan {
    let g = &scenario.gateway;
    let s = peak.stream_share;
    // The benchmark's stream had 8 events; longer answers cost their extra events.
    let extra_events = (peak.events_per_stream - 8.0).max(0.0);
    let cpu_us_per_request = s
        * (g.cpu_us_per_stream_request + extra_events * g.cpu_us_per_stream_event)
        + (1.0 - s) * g.cpu_us_per_json_request;
    let cores = peak.arrivals * cpu_us_per_request / 1e6;
    let by_cpu = g.cores_per_replica * g.target_utilization * 1e6 / cpu_us_per_request;
    let by_throughput = g.target_utilization
        / (s / g.requests_per_second_stream + (1.0 - s) / g.requests_per_second_json);
    let requests_per_replica = by_cpu.min(by_throughput);
    let count = |need: f64| need.ceil().max(1.0) as u32;
    let candidates = [
        (g.min_replicas, ReplicaBound::Availability),
        (count(peak.arrivals / by_cpu), ReplicaBound::Cpu),
        (
            count(peak.arrivals / by_throughput),
            ReplicaBound::Throughput,
        ),
        (
            count(peak.open_requests / f64::from(g.max_connections_per_replica)),
            ReplicaBound::Connections,
        ),
    ];
    let (replicas, bound) =
        candidates
            .into_iter()
            .fold((0, ReplicaBound::Availability), |best, next| {
                if next.0 > best.0 { next } else { best }
            });
    GatewayPlan {
        cpu_us_per_request,
        cores,
        replicas,
        bound,
        requests_per_replica,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::SMALL;

    #[test]
    fn the_small_scenario_needs_the_availability_minimum_and_saturates_nothing() {
        let scenario = Scenario::parse(SMALL).unwrap();
        let pools = crate::pools::plan_pools(&scenario);
        let tiers = tiers(&scenario, &pools);
        assert_eq!(tiers.gateway.replicas, 3);
        assert_eq!(tiers.gateway.bound, ReplicaBound::Availability);
        assert!(tiers.postgres.saturates_at_users > 4000.0);
        assert!((tiers.peak.daily_requests - 80_000.0).abs() < 1e-6);
        assert_eq!(tiers.peak.stream_share, 1.0);
        // Redis: 2 scripts a request; its saturation is its capacity over the load, in users.
        let expected = 4000.0 * scenario.redis.max_scripts_per_second / (tiers.peak.arrivals * 2.0);
        assert!((tiers.redis.saturates_at_users - expected).abs() < 1e-6);
    }

    #[test]
    fn ten_times_the_users_cross_the_cpu_bound() {
        let text = SMALL.replace("users = 3000", "users = 3000000");
        let scenario = Scenario::parse(&text).unwrap();
        let pools = crate::pools::plan_pools(&scenario);
        let tiers = tiers(&scenario, &pools);
        assert!(tiers.gateway.replicas > 3, "{:?}", tiers.gateway);
        let per_replica = tiers.peak.arrivals / f64::from(tiers.gateway.replicas);
        assert!(per_replica <= tiers.gateway.requests_per_replica + 1e-9);
    }
}
