//! The plan as tables, for the terminal (aligned text) and the report file (Markdown with its
//! charts); both read the same tables.

use crate::pools::{PoolPlan, Sizing};
use crate::scenario::UseKind;
use crate::shares::EntityShare;
use crate::table::{Table, count, figure, percent};
use crate::{Plan, ReportFile};

pub(crate) fn text(plan: &Plan) -> String {
    let mut out = format!("{}\n\n{}\n", title(plan), summary(plan));
    for table in tables(plan) {
        out.push('\n');
        out.push_str(&table.text());
    }
    out
}

pub(crate) fn markdown(plan: &Plan, charts: &[ReportFile]) -> String {
    let mut out = format!("# {}\n\n{}\n\n", title(plan), summary(plan));
    for table in tables(plan) {
        out.push_str(&table.markdown());
    }
    if !charts.is_empty() {
        out.push_str("## Charts\n\n");
        for chart in charts {
            out.push_str(&format!("![{}]({})\n\n", chart.name, chart.name));
        }
    }
    out
}

fn title(plan: &Plan) -> String {
    format!("Capacity plan: {}", plan.scenario.name)
}

fn summary(plan: &Plan) -> String {
    let peak = &plan.tiers.peak;
    format!(
        "{} users in {} entities, {} requests a working day; the busiest hour is {:02}:00–{:02}:00, \
         {} requests a second at its busiest minutes (× {} the hour's mean).",
        count(plan.scenario.users() as f64),
        plan.scenario.entities.len(),
        count(peak.daily_requests),
        peak.hour,
        (peak.hour + 1) % 24,
        figure(peak.arrivals),
        figure(plan.scenario.day.peak_minute_factor),
    )
}

fn tables(plan: &Plan) -> Vec<Table> {
    let mut tables = vec![uses(plan), pools(plan)];
    if plan.pools.iter().any(|p| p.given.is_some()) {
        tables.push(given(plan));
    }
    for (pool, shares) in plan.pools.iter().zip(&plan.shares) {
        tables.push(entities(pool, shares));
    }
    tables.push(gateway(plan));
    tables.push(stores(plan));
    tables
}

fn uses(plan: &Plan) -> Table {
    let mut table = Table::new(
        "Uses",
        &[
            "use",
            "kind",
            "pool",
            "requests/user/day",
            "requests/day",
            "prompt tokens median / p95 / mean",
            "output tokens median / p95 / mean",
            "service s",
        ],
    );
    let users = plan.scenario.users() as f64;
    for (one, demand) in plan.scenario.uses.iter().filter_map(|one| {
        plan.pools
            .iter()
            .flat_map(|p| p.demands.iter())
            .find(|d| d.name == one.name)
            .map(|d| (one, d))
    }) {
        let lengths = |l: crate::scenario::Lengths, mean: f64| {
            format!("{} / {} / {}", count(l.median), count(l.p95), count(mean))
        };
        table.row(vec![
            one.name.clone(),
            match one.kind {
                UseKind::Interactive => "interactive",
                UseKind::Batch => "batch",
            }
            .to_owned(),
            one.pool.clone(),
            figure(one.requests_per_user_per_day),
            count(one.requests_per_user_per_day * users),
            lengths(one.prompt_tokens, demand.prompt.mean()),
            lengths(one.output_tokens, demand.output.mean()),
            figure(demand.service_secs),
        ]);
    }
    table.note(
        "Service: the mean time a request holds a sequence, its prefill and its decode at the full \
         batch's speed."
            .to_owned(),
    );
    table
}

fn pools(plan: &Plan) -> Table {
    let mut table = Table::new(
        "GPU pools, sized for the target at the busiest minutes",
        &[
            "pool",
            "sequences/instance (limit)",
            "decode tok/s per sequence",
            "peak hour",
            "peak req/s",
            "target p95 TTFT ms",
            "GPUs (endpoints)",
            "p95 TTFT ms",
            "utilization",
            "req/s at target",
            "decided by",
        ],
    );
    for pool in &plan.pools {
        let mut row = vec![
            pool.pool.name.clone(),
            format!(
                "{} ({})",
                pool.instance.sequences,
                pool.instance.limit.describe()
            ),
            figure(pool.instance.decode_speed),
            format!("{:02}:00", pool.peak_hour),
            figure(pool.peak_arrivals),
            count(pool.pool.target_p95_ttft_ms),
        ];
        row.extend(sizing_cells(pool, pool.needed.as_ref()));
        row.push(format!(
            "{} (max {})",
            pool.needed_for.describe(),
            percent(pool.pool.max_utilization)
        ));
        table.row(row);
    }
    for pool in &plan.pools {
        table.note(format!(
            "{}: {}; {} instance(s) of {} GPU(s) an endpoint; a sequence holds {} tokens of KV \
             cache on average; service time {} s (c²ₛ {}).",
            pool.pool.name,
            pool.pool.model,
            pool.pool.instances_per_endpoint,
            pool.pool.gpus_per_instance,
            count(pool.instance.kv_tokens_per_sequence),
            figure(pool.service_secs),
            figure(pool.service_scv),
        ));
        if pool.needed.is_none() {
            table.note(format!(
                "{}: not even {} endpoints meet the target; raise max_endpoints or the target.",
                pool.pool.name, pool.pool.max_endpoints
            ));
        }
    }
    table
}

/// GPUs (endpoints), p95, utilization and capacity of one size; dashes when there is none.
fn sizing_cells(pool: &PoolPlan, sizing: Option<&Sizing>) -> Vec<String> {
    match sizing {
        Some(s) => vec![
            format!(
                "{} ({})",
                count(s.gpus as f64),
                count(f64::from(s.endpoints))
            ),
            s.p95_ttft_ms.map_or("unbounded".to_owned(), count),
            percent(s.utilization),
            figure(s.capacity_per_sec),
        ],
        None => vec![
            format!("> {}", count(f64::from(pool.pool.max_endpoints))),
            "–".to_owned(),
            "–".to_owned(),
            "–".to_owned(),
        ],
    }
}

fn given(plan: &Plan) -> Table {
    let mut table = Table::new(
        "GPU pools at the scenario's number of endpoints",
        &[
            "pool",
            "GPUs (endpoints)",
            "p95 TTFT ms",
            "utilization",
            "req/s at target",
        ],
    );
    for pool in plan.pools.iter().filter(|p| p.given.is_some()) {
        let mut row = vec![pool.pool.name.clone()];
        row.extend(sizing_cells(pool, pool.given.as_ref()));
        table.row(row);
    }
    let unbounded = plan
        .pools
        .iter()
        .any(|p| p.given.as_ref().is_some_and(|s| s.p95_ttft_ms.is_none()));
    if unbounded {
        table.note(
            "Unbounded: arrivals exceed what the pool serves; waits grow until the gateway sheds \
             requests (429 after the class's longest wait)."
                .to_owned(),
        );
    }
    table
}

fn entities(pool: &PoolPlan, shares: &[EntityShare]) -> Table {
    let sequences = pool.chosen().map_or(0, |s| s.sequences);
    let mut table = Table::new(
        &format!(
            "Entities in pool {} at the peak ({} sequences)",
            pool.pool.name,
            count(sequences as f64)
        ),
        &[
            "entity",
            "users",
            "weight",
            "peak req/s",
            "busy sequences",
            "weighted share",
            "share / demand",
            "gets at peak",
        ],
    );
    for share in shares {
        table.row(vec![
            share.entity.clone(),
            count(share.users as f64),
            share.weight.to_string(),
            figure(share.peak_arrivals),
            figure(share.demand),
            figure(share.weighted_share),
            match share.demand > 0.0 {
                true => format!("{}×", figure(share.weighted_share / share.demand)),
                false => "–".to_owned(),
            },
            figure(share.allotted),
        ]);
    }
    table.note(
        "Weighted share: the sequences an entity is sure of when every entity asks for more than \
         its own; below 1× its demand, its peak relies on what the others leave. Gets at peak: \
         weighted water-filling of the pool's sequences between the entities' demands."
            .to_owned(),
    );
    table
}

fn gateway(plan: &Plan) -> Table {
    let t = &plan.tiers;
    let g = &plan.scenario.gateway;
    let mut table = Table::new("Gateway tier", &["figure", "value"]);
    for (name, value) in [
        ("requests a second at the peak", figure(t.peak.arrivals)),
        ("streamed", percent(t.peak.stream_share)),
        ("events a stream (mean)", figure(t.peak.events_per_stream)),
        ("requests open at once", count(t.peak.open_requests)),
        ("CPU per request, µs", figure(t.gateway.cpu_us_per_request)),
        ("cores busy at the peak", figure(t.gateway.cores)),
        (
            "requests a second one replica takes",
            count(t.gateway.requests_per_replica),
        ),
        (
            "replicas",
            format!("{} ({})", t.gateway.replicas, t.gateway.bound.describe()),
        ),
    ] {
        table.row(vec![name.to_owned(), value]);
    }
    table.note(format!(
        "Per replica: {} cores at {} utilization; measured {} µs (JSON) and {} µs (8-event stream) \
         of CPU a request and {} / {} requests a second, governance on (bench/README.md); {} µs an \
         extra streamed event is an assumption.",
        figure(g.cores_per_replica),
        percent(g.target_utilization),
        figure(g.cpu_us_per_json_request),
        figure(g.cpu_us_per_stream_request),
        count(g.requests_per_second_json),
        count(g.requests_per_second_stream),
        figure(g.cpu_us_per_stream_event),
    ));
    table.note(format!(
        "The tier scales out: one replica carries the peak of {} users, and each replica more \
         as many again.",
        count(
            plan.scenario.users() as f64 * t.gateway.requests_per_replica
                / t.peak.arrivals.max(1e-9)
        ),
    ));
    table
}

fn stores(plan: &Plan) -> Table {
    let t = &plan.tiers;
    let mut table = Table::new(
        "PostgreSQL and Redis at the peak",
        &[
            "store",
            "load a second",
            "capacity a second",
            "utilization",
            "saturates at users",
        ],
    );
    for (name, load) in [
        ("PostgreSQL rows (usage + audit)", &t.postgres),
        ("Redis scripts (admission + settlement)", &t.redis),
    ] {
        table.row(vec![
            name.to_owned(),
            count(load.per_second),
            count(load.capacity),
            percent(load.per_second / load.capacity),
            count(load.saturates_at_users),
        ]);
    }
    table.note(format!(
        "Usage records: {} GB a working day at {} bytes each ({} audit events a request assumed).",
        figure(t.usage_bytes_per_day / 1e9),
        count(plan.scenario.postgres.bytes_per_usage_record),
        figure(plan.scenario.postgres.audit_events_per_request),
    ));
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_every_pool_entity_and_tier() {
        let plan = Plan::from_text(crate::scenario::SMALL).unwrap();
        let text = plan.text();
        for expected in [
            "Capacity plan: small",
            "4,000 users in 2 entities",
            "GPU pools",
            "Entities in pool small",
            "retail",
            "markets",
            "Gateway tier",
            "PostgreSQL rows",
            "Redis scripts",
        ] {
            assert!(text.contains(expected), "missing {expected}:\n{text}");
        }
        let files = plan.files();
        let report = &files[0];
        assert_eq!(report.name, "report.md");
        assert!(report.content.starts_with("# Capacity plan: small"));
        for chart in &files[1..] {
            assert!(report.content.contains(&format!("({})", chart.name)));
        }
    }
}
