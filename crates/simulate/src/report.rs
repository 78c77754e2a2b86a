//! What a run measured, and how it is reported: the text table and the SVG chart of shares.

use std::fmt::Write as _;
use std::time::Duration;

use domain::EntityId;

use crate::scenario::{Baseline, Scenario};

/// One request as the client saw it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub entity: usize,
    pub status: u16,
    /// The gateway's `x-fabrique-queue-ms`.
    pub queue_ms: Option<u64>,
    /// Seconds from sending to the first streamed bytes.
    pub ttft: Option<f64>,
    pub done: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The pool every 50 ms.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: f64,
    /// Sequences decoding on the simulated GPUs.
    pub busy: u64,
    pub slots: u64,
    /// Requests waiting, in the gateway or in a simulator's queue.
    pub waiting: u64,
    /// Per entity: its virtual token counter and its waiting requests (scheduler on).
    pub counters: Vec<(EntityId, f64, usize)>,
}

/// One run of the scenario.
#[derive(Debug)]
pub struct Run {
    pub baseline: Option<Baseline>,
    pub elapsed: Duration,
    pub outcomes: Vec<Outcome>,
    pub samples: Vec<Sample>,
    pub sims: Vec<sim::SimStats>,
    pub entity_ids: Vec<EntityId>,
    pub capacity: u32,
    /// `U`: the largest single charge `(input + 2 × output) ÷ weight` of the scenario's requests.
    pub scheduler_bound: f64,
}

/// The weights of the scheduler's counters (the `[scheduling]` defaults).
const INPUT_WEIGHT: f64 = 1.0;
const OUTPUT_WEIGHT: f64 = 2.0;

/// The scheduler's fairness bound `U` for this scenario (see the `scheduler` crate): the largest
/// charge of one request, its estimated input (body bytes ÷ 4: the texts plus some JSON) and output,
/// over its entity's weight.
pub fn vtc_bound(scenario: &Scenario) -> f64 {
    scenario
        .entities
        .iter()
        .map(|e| {
            let input = (e.prompt_tokens + e.system_prompt_tokens + 64) as f64;
            (input * INPUT_WEIGHT + e.output_tokens as f64 * OUTPUT_WEIGHT) / f64::from(e.weight)
        })
        .fold(0.0, f64::max)
}

impl Outcome {
    fn service(&self) -> f64 {
        self.prompt_tokens as f64 * INPUT_WEIGHT + self.completion_tokens as f64 * OUTPUT_WEIGHT
    }
}

/// Per window, per entity: (service received, backlogged throughout).
struct Windows {
    service: Vec<Vec<f64>>,
    backlogged: Vec<Vec<bool>>,
}

impl Run {
    fn windows(&self, scenario: &Scenario) -> Windows {
        let count = (scenario.duration_secs / scenario.window_secs)
            .floor()
            .max(1.0) as usize;
        let entities = scenario.entities.len();
        let mut service = vec![vec![0.0; entities]; count];
        for outcome in self.outcomes.iter().filter(|o| o.status == 200) {
            let window = (outcome.done / scenario.window_secs) as usize;
            if let Some(row) = service.get_mut(window) {
                row[outcome.entity] += outcome.service();
            }
        }
        // Backlogged: requests waiting in the gateway in at least 90% of the window's samples.
        let mut waiting = vec![vec![(0_u32, 0_u32); entities]; count];
        for sample in &self.samples {
            let Some(row) = waiting.get_mut((sample.at / scenario.window_secs) as usize) else {
                continue;
            };
            for (entity, cell) in row.iter_mut().enumerate() {
                let queued = sample
                    .counters
                    .iter()
                    .find(|(id, _, _)| Some(id) == self.entity_ids.get(entity))
                    .is_some_and(|(_, _, queued)| *queued > 0);
                cell.0 += u32::from(queued);
                cell.1 += 1;
            }
        }
        let backlogged = waiting
            .iter()
            .map(|row| {
                row.iter()
                    .map(|(queued, seen)| *seen > 0 && f64::from(*queued) >= 0.9 * f64::from(*seen))
                    .collect()
            })
            .collect();
        Windows {
            service,
            backlogged,
        }
    }

    /// The worst gap between the counters of two entities both waiting, over every sample.
    fn worst_counter_gap(&self) -> Option<f64> {
        let mut worst: Option<f64> = None;
        for sample in &self.samples {
            let waiting: Vec<f64> = sample
                .counters
                .iter()
                .filter(|(_, _, queued)| *queued > 0)
                .map(|(_, counter, _)| *counter)
                .collect();
            if waiting.len() < 2 {
                continue;
            }
            let low = waiting.iter().copied().fold(f64::INFINITY, f64::min);
            let high = waiting.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            worst = Some(worst.map_or(high - low, |w: f64| w.max(high - low)));
        }
        worst
    }

    /// Busy slots ÷ slots, over the samples where some request was waiting.
    fn utilization_while_waiting(&self) -> Option<f64> {
        let (busy, slots) = self
            .samples
            .iter()
            .filter(|s| s.waiting > 0)
            .fold((0, 0), |(b, s), sample| (b + sample.busy, s + sample.slots));
        (slots > 0).then(|| busy as f64 / slots as f64)
    }

    fn prefix_hit_rate(&self) -> Option<f64> {
        let hits: u64 = self.sims.iter().map(|s| s.prefix_cache_hits).sum();
        let misses: u64 = self.sims.iter().map(|s| s.prefix_cache_misses).sum();
        (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64)
    }

    fn ttft_p99(&self, entity: usize) -> Option<f64> {
        let mut values: Vec<f64> = self
            .outcomes
            .iter()
            .filter(|o| o.entity == entity && o.status == 200)
            .filter_map(|o| o.ttft)
            .collect();
        percentile(&mut values, 0.99)
    }
}

/// The report, as printed.
pub fn text(scenario: &Scenario, measured: &Run, baseline: Option<&Run>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {}", scenario.name);
    describe(&mut out, scenario, measured);
    if let Some(baseline) = baseline {
        describe(&mut out, scenario, baseline);
        let _ = writeln!(out, "\ncomparison (measured vs {}):", mode(baseline));
        for (index, entity) in scenario.entities.iter().enumerate() {
            if let (Some(ours), Some(theirs)) = (measured.ttft_p99(index), baseline.ttft_p99(index))
            {
                let _ = writeln!(
                    out,
                    "  {:<16} p99 TTFT {:>8.1} ms vs {:>8.1} ms: {:.1}x lower",
                    entity.slug,
                    ours * 1e3,
                    theirs * 1e3,
                    theirs / ours.max(1e-9)
                );
            }
        }
        if let (Some(ours), Some(theirs)) = (measured.prefix_hit_rate(), baseline.prefix_hit_rate())
        {
            let _ = writeln!(
                out,
                "  prefix-cache hit rate {:.1}% vs {:.1}%",
                ours * 100.0,
                theirs * 100.0
            );
        }
    }
    out
}

fn mode(run: &Run) -> &'static str {
    match run.baseline {
        None => "token-fair scheduling, prefix-aware routing",
        Some(Baseline::Fcfs) => "baseline: no scheduling, backends first come first served",
        Some(Baseline::LeastLoaded) => "baseline: least-loaded routing, no prefix affinity",
    }
}

fn describe(out: &mut String, scenario: &Scenario, run: &Run) {
    let _ = writeln!(
        out,
        "\n== {} — {} endpoints × {} sequences, {:.1} s ==",
        mode(run),
        run.sims.len(),
        run.capacity / run.sims.len().max(1) as u32,
        run.elapsed.as_secs_f64()
    );
    let windows = run.windows(scenario);
    let total: Vec<f64> = (0..scenario.entities.len())
        .map(|e| windows.service.iter().map(|row| row[e]).sum())
        .collect();
    let _ = writeln!(
        out,
        "{:<16} {:>3} {:>6} {:>6} {:>5} {:>9} {:>9} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "entity",
        "w",
        "sent",
        "ok",
        "429",
        "in tok",
        "out tok",
        "share",
        "fair",
        "worst±%",
        "wait50",
        "wait99",
        "ttft50",
        "ttft99"
    );
    let all_service: f64 = total.iter().sum();
    let weight_sum: f64 = scenario.entities.iter().map(|e| f64::from(e.weight)).sum();
    for (index, entity) in scenario.entities.iter().enumerate() {
        let mine: Vec<&Outcome> = run.outcomes.iter().filter(|o| o.entity == index).collect();
        let ok = mine.iter().filter(|o| o.status == 200).count();
        let shed = mine.iter().filter(|o| o.status == 429).count();
        let input: u64 = mine.iter().map(|o| o.prompt_tokens).sum();
        let output: u64 = mine.iter().map(|o| o.completion_tokens).sum();
        let mut waits: Vec<f64> = mine
            .iter()
            .filter_map(|o| o.queue_ms)
            .map(|ms| ms as f64)
            .collect();
        let mut ttfts: Vec<f64> = mine
            .iter()
            .filter(|o| o.status == 200)
            .filter_map(|o| o.ttft.map(|t| t * 1e3))
            .collect();
        let worst = worst_window_deviation(scenario, &windows, index);
        let cell = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
        let _ = writeln!(
            out,
            "{:<16} {:>3} {:>6} {:>6} {:>5} {:>9} {:>9} {:>6.1}% {:>6.1}% {:>8} {:>8} {:>8} {:>8} {:>8}",
            entity.slug,
            entity.weight,
            mine.len(),
            ok,
            shed,
            input,
            output,
            100.0 * total[index] / all_service.max(1.0),
            100.0 * f64::from(entity.weight) / weight_sum,
            worst.map_or("-".to_owned(), |w| format!("{:.1}", w * 100.0)),
            cell(percentile(&mut waits, 0.5)),
            cell(percentile(&mut waits, 0.99)),
            cell(percentile(&mut ttfts, 0.5)),
            cell(percentile(&mut ttfts, 0.99)),
        );
    }
    let _ = writeln!(
        out,
        "(share: of all service, input + 2 × output tokens; fair: by weight among all entities; worst±%: \
         the largest deviation from the weighted fair share among the entities backlogged, over the \
         {:.0}-s windows in which this entity was backlogged throughout; wait, ttft in ms)",
        scenario.window_secs
    );
    if let Some(utilization) = run.utilization_while_waiting() {
        let _ = writeln!(
            out,
            "pool utilization while requests wait: {:.1}%",
            utilization * 100.0
        );
    }
    if let Some(gap) = run.worst_counter_gap() {
        let _ = writeln!(
            out,
            "fairness: worst gap between the counters of two waiting entities {gap:.0}, bound U = {:.0} (weighted tokens)",
            run.scheduler_bound
        );
    }
    if let Some(rate) = run.prefix_hit_rate() {
        let _ = writeln!(
            out,
            "prefix-cache hit rate: {:.1}% of prompt blocks",
            rate * 100.0
        );
    }
    let most = run.sims.iter().map(|s| s.max_concurrent).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "most sequences ever decoding on one endpoint: {most} (capacity {})",
        run.capacity / run.sims.len().max(1) as u32
    );
}

/// The largest |share ÷ fair share − 1| over the windows in which `entity` was backlogged, the fair
/// share being its weight's part, among the backlogged entities, of what the others left.
fn worst_window_deviation(scenario: &Scenario, windows: &Windows, entity: usize) -> Option<f64> {
    let mut worst: Option<f64> = None;
    for (service, backlogged) in windows.service.iter().zip(&windows.backlogged) {
        if !backlogged[entity] {
            continue;
        }
        let (mut weights, mut shared) = (0.0, 0.0);
        for (index, spec) in scenario.entities.iter().enumerate() {
            if backlogged[index] {
                weights += f64::from(spec.weight);
                shared += service[index];
            }
        }
        if shared <= 0.0 {
            continue;
        }
        let fair = shared * f64::from(scenario.entities[entity].weight) / weights;
        let deviation = (service[entity] / fair - 1.0).abs();
        worst = Some(worst.map_or(deviation, |w: f64| w.max(deviation)));
    }
    worst
}

/// The value at fraction `p` of the sorted values (nearest rank).
fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

/// Each entity's share of the service per window, as lines over time.
pub fn svg(scenario: &Scenario, run: &Run) -> String {
    let windows = run.windows(scenario);
    let (width, height, margin) = (800.0, 400.0, 50.0);
    let count = windows.service.len().max(1);
    let x = |w: usize| margin + (width - 2.0 * margin) * (w as f64 + 0.5) / count as f64;
    let y = |share: f64| height - margin - (height - 2.0 * margin) * share;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{margin}\" y=\"20\">{} — share of service per {:.0}-s window</text>\n\
         <line x1=\"{margin}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
         <line x1=\"{margin}\" y1=\"{margin}\" x2=\"{margin}\" y2=\"{}\" stroke=\"black\"/>\n",
        escape(&scenario.name),
        scenario.window_secs,
        y(0.0),
        width - margin,
        y(0.0),
        y(0.0)
    );
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = writeln!(
            out,
            "<text x=\"10\" y=\"{:.1}\">{:.0}%</text>",
            y(tick) + 4.0,
            tick * 100.0
        );
    }
    const COLOURS: [&str; 8] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    ];
    for (entity, spec) in scenario.entities.iter().enumerate() {
        let points: Vec<String> = windows
            .service
            .iter()
            .enumerate()
            .map(|(w, row)| {
                let all: f64 = row.iter().sum();
                let share = if all > 0.0 { row[entity] / all } else { 0.0 };
                format!("{:.1},{:.1}", x(w), y(share))
            })
            .collect();
        let colour = COLOURS[entity % COLOURS.len()];
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        if entity < 20 {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{} (w {})</text>",
                width - margin + 4.0 - 100.0 * ((entity / 10) as f64),
                margin + 14.0 * (entity % 10) as f64,
                escape(&spec.slug),
                spec.weight
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
