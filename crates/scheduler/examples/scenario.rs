//! A scenario in virtual time: the scheduler's `FairQueue` in front of a simulated GPU pool, three
//! entities, one of which bursts to ten times its rate for two minutes. Deterministic (a seeded
//! generator, no clock): the same figures every run.
//!
//! Run: `cargo run --release -p scheduler --example scenario [SVG_PATH]`. Prints per entity the
//! requests, tokens, share of the pool's service against its fair share (while saturated), p50/p99
//! queue wait and time to first token, and the pool's utilization; writes an SVG of each entity's
//! share of service over time (10-second windows) to SVG_PATH (default `scenario-shares.svg`).
//!
//! The simulated pool follows `sim`'s GPU model: a request holds one of `CAPACITY` sequences for its
//! prefill (`TTFT` + uncached prompt at `PREFILL_TOKENS_PER_SECOND`) then its output tokens at
//! `TPOT × (1 + ALPHA × (batch − 1))`, the batch read when it starts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::error::Error;
use std::fmt::Write as _;
use std::time::Duration;

use domain::EntityId;
use scheduler::{
    FairQueue, Grant, PoolSettings, Priority, Served, Share, Shed, Ticket, Withdrawal,
};
use tokio::time::Instant;

const CAPACITY: u32 = 32;
const DURATION_S: f64 = 300.0;
const TTFT_S: f64 = 0.05;
const PREFILL_TOKENS_PER_SECOND: f64 = 5000.0;
const TPOT_S: f64 = 0.010;
const ALPHA: f64 = 0.02;
const WINDOW_S: f64 = 10.0;

struct EntitySpec {
    name: &'static str,
    weight: u32,
    /// Requests per second, as a function of time.
    rate: fn(f64) -> f64,
    priority: Priority,
}

const ENTITIES: [EntitySpec; 3] = [
    EntitySpec {
        name: "retail",
        weight: 1,
        rate: |_| 2.0,
        priority: Priority::Interactive,
    },
    EntitySpec {
        name: "insurance",
        weight: 1,
        rate: |t| {
            if (60.0..180.0).contains(&t) {
                20.0
            } else {
                2.0
            }
        },
        priority: Priority::Standard,
    },
    EntitySpec {
        name: "markets",
        weight: 2,
        rate: |_| 3.0,
        priority: Priority::Standard,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival(usize),
    Deadline(u64),
    Completion(u64),
}

#[derive(Default)]
struct Tally {
    arrived: u64,
    served: u64,
    timed_out: u64,
    queue_full: u64,
    input: u64,
    output: u64,
    waits: Vec<f64>,
    ttfts: Vec<f64>,
    /// Weighted tokens served per window.
    windows: Vec<f64>,
    /// Weighted tokens served in windows where the pool was saturated (someone waiting).
    saturated: f64,
}

struct Request {
    entity: usize,
    input: u64,
    output: u64,
    place: Option<scheduler::Place>,
}

/// SplitMix64: the scenario's only source of variety.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1_u64 << 53) as f64
    }
}

struct World {
    queue: FairQueue<u64>,
    ids: Vec<EntityId>,
    base: Instant,
    events: BinaryHeap<Reverse<(u64, Event)>>,
    requests: HashMap<u64, Request>,
    running: HashMap<u64, Grant>,
    tallies: Vec<Tally>,
    saturated_windows: Vec<bool>,
    busy_sequence_seconds: f64,
    last_change: f64,
    rng: Rng,
    next_request: u64,
}

fn nanos(seconds: f64) -> u64 {
    (seconds * 1e9) as u64
}

impl World {
    fn at(&self, t: f64) -> Instant {
        self.base + Duration::from_secs_f64(t)
    }

    fn schedule(&mut self, t: f64, event: Event) {
        self.events.push(Reverse((nanos(t), event)));
    }

    fn account_busy(&mut self, t: f64) {
        self.busy_sequence_seconds += f64::from(self.queue.in_flight()) * (t - self.last_change);
        self.last_change = t;
    }

    fn window(t: f64) -> usize {
        (t / WINDOW_S) as usize
    }

    fn start(&mut self, t: f64, id: u64, grant: Grant) {
        let batch = f64::from(self.queue.in_flight());
        let Some(request) = self.requests.get(&id) else {
            return;
        };
        let prefill = TTFT_S + request.input as f64 / PREFILL_TOKENS_PER_SECOND;
        let decode = request.output as f64 * TPOT_S * (1.0 + ALPHA * (batch - 1.0).max(0.0));
        let waited = grant.waited().as_secs_f64();
        let tally = &mut self.tallies[request.entity];
        tally.waits.push(waited);
        tally.ttfts.push(waited + prefill);
        self.running.insert(id, grant);
        self.schedule(t + prefill + decode, Event::Completion(id));
    }

    fn dispatch(&mut self, t: f64) {
        let now = self.at(t);
        while let Some((id, grant)) = self.queue.next_dispatch(now) {
            self.start(t, id, grant);
        }
        if self.queue.queued() > 0 {
            let window = Self::window(t);
            if let Some(flag) = self.saturated_windows.get_mut(window) {
                *flag = true;
            }
        }
    }

    fn arrival(&mut self, t: f64, entity: usize) {
        let spec = &ENTITIES[entity];
        let next = t - self.rng.next().max(1e-12).ln() / (spec.rate)(t);
        if next < DURATION_S {
            self.schedule(next, Event::Arrival(entity));
        }
        let input = 300 + (self.rng.next() * 1400.0) as u64;
        let output = 50 + (self.rng.next() * 200.0) as u64;
        let ticket = Ticket {
            entity: self.ids[entity],
            priority: spec.priority,
            input_tokens_estimate: input,
            // Callers ask for more than they use: the estimate is the `max_tokens` ceiling.
            output_tokens_estimate: 256,
            max_wait: None,
        };
        let id = self.next_request;
        self.next_request += 1;
        self.tallies[entity].arrived += 1;
        self.requests.insert(
            id,
            Request {
                entity,
                input,
                output,
                place: None,
            },
        );
        let now = self.at(t);
        if let Some(grant) = self.queue.try_dispatch_now(&ticket, now) {
            self.start(t, id, grant);
            return;
        }
        match self.queue.enqueue(&ticket, id, now) {
            Ok(queued) => {
                if let Some((victim, shed)) = queued.evicted {
                    self.shed(victim, shed);
                }
                if let Some(request) = self.requests.get_mut(&id) {
                    request.place = Some(queued.place);
                }
                let deadline = (queued.deadline - self.base).as_secs_f64();
                self.schedule(deadline, Event::Deadline(id));
            }
            Err((id, shed)) => self.shed(id, shed),
        }
        self.dispatch(t);
    }

    fn shed(&mut self, id: u64, shed: Shed) {
        if let Some(request) = self.requests.remove(&id) {
            let tally = &mut self.tallies[request.entity];
            match shed {
                Shed::Timeout { .. } => tally.timed_out += 1,
                Shed::QueueFull { .. } | Shed::NoCapacity => tally.queue_full += 1,
            }
        }
    }

    fn deadline(&mut self, id: u64) {
        let Some(place) = self.requests.get(&id).and_then(|r| r.place) else {
            return;
        };
        if self.running.contains_key(&id) {
            return;
        }
        if self.queue.withdraw(place, Withdrawal::TimedOut).is_some() {
            self.shed(
                id,
                Shed::Timeout {
                    retry_after: Duration::ZERO,
                },
            );
        }
    }

    fn completion(&mut self, t: f64, id: u64) {
        let (Some(grant), Some(request)) = (self.running.remove(&id), self.requests.remove(&id))
        else {
            return;
        };
        let served = Served {
            input_tokens: request.input,
            output_tokens: request.output,
        };
        self.queue.finish(grant, Some(served), self.at(t));
        let weighted = (request.input + 2 * request.output) as f64;
        let tally = &mut self.tallies[request.entity];
        tally.served += 1;
        tally.input += request.input;
        tally.output += request.output;
        let window = Self::window(t);
        if let Some(slot) = tally.windows.get_mut(window) {
            *slot += weighted;
        }
        if self.saturated_windows.get(window).copied().unwrap_or(false) {
            tally.saturated += weighted;
        }
        self.dispatch(t);
    }
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[rank.min(values.len() - 1)]
}

fn main() -> Result<(), Box<dyn Error>> {
    let svg_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "scenario-shares.svg".to_owned());
    let windows = (DURATION_S / WINDOW_S).ceil() as usize + 60;
    let mut world = World {
        queue: FairQueue::new(PoolSettings::new(CAPACITY))?,
        ids: ENTITIES.iter().map(|_| EntityId::generate()).collect(),
        base: Instant::now(),
        events: BinaryHeap::new(),
        requests: HashMap::new(),
        running: HashMap::new(),
        tallies: ENTITIES
            .iter()
            .map(|_| Tally {
                windows: vec![0.0; windows],
                ..Tally::default()
            })
            .collect(),
        saturated_windows: vec![false; windows],
        busy_sequence_seconds: 0.0,
        last_change: 0.0,
        rng: Rng(2024),
        next_request: 0,
    };
    for (index, spec) in ENTITIES.iter().enumerate() {
        let share = Share {
            weight: spec.weight,
            min_share: 0.0,
        };
        world.queue.set_share(world.ids[index], share)?;
        world.schedule(0.0, Event::Arrival(index));
    }
    let mut end = 0.0;
    while let Some(Reverse((at, event))) = world.events.pop() {
        let t = at as f64 / 1e9;
        world.account_busy(t);
        end = t;
        match event {
            Event::Arrival(entity) => world.arrival(t, entity),
            Event::Deadline(id) => world.deadline(id),
            Event::Completion(id) => world.completion(t, id),
        }
    }

    let weights: u32 = ENTITIES.iter().map(|e| e.weight).sum();
    let saturated_total: f64 = world.tallies.iter().map(|t| t.saturated).sum();
    println!(
        "{CAPACITY} sequences, {DURATION_S} s of arrivals (drained at {end:.0} s); pool utilization {:.0} %; saturated windows {}/{}",
        100.0 * world.busy_sequence_seconds / (f64::from(CAPACITY) * end),
        world.saturated_windows.iter().filter(|s| **s).count(),
        (end / WINDOW_S).ceil()
    );
    println!(
        "{:<10} {:>3} {:>8} {:>7} {:>8} {:>6} {:>9} {:>9} {:>12} {:>9} {:>9} {:>9} {:>9}",
        "entity",
        "w",
        "arrived",
        "served",
        "timeout",
        "full",
        "in tok",
        "out tok",
        "share (weight)",
        "wait p50",
        "wait p99",
        "ttft p50",
        "ttft p99"
    );
    for (spec, tally) in ENTITIES.iter().zip(world.tallies.iter_mut()) {
        let share = if saturated_total > 0.0 {
            tally.saturated / saturated_total
        } else {
            0.0
        };
        println!(
            "{:<10} {:>3} {:>8} {:>7} {:>8} {:>6} {:>9} {:>9} {:>5.2} ({:.2}) {:>8.2}s {:>8.2}s {:>8.2}s {:>8.2}s",
            spec.name,
            spec.weight,
            tally.arrived,
            tally.served,
            tally.timed_out,
            tally.queue_full,
            tally.input,
            tally.output,
            share,
            f64::from(spec.weight) / f64::from(weights),
            percentile(&mut tally.waits, 0.5),
            percentile(&mut tally.waits, 0.99),
            percentile(&mut tally.ttfts, 0.5),
            percentile(&mut tally.ttfts, 0.99),
        );
    }
    println!(
        "(share: of the weighted tokens served in saturated windows; weight: weight ÷ total weight, the fair share when every entity is backlogged — an entity asking for less gets all it asks, the rest goes to the others)"
    );
    std::fs::write(&svg_path, svg(&world.tallies, end))?;
    println!("shares over time: {svg_path}");
    Ok(())
}

/// Each entity's share of the weighted tokens served per window, as lines.
fn svg(tallies: &[Tally], end: f64) -> String {
    let (width, height, margin) = (800.0, 300.0, 40.0);
    let windows = (end / WINDOW_S).ceil().max(1.0) as usize;
    let colours = ["#1f77b4", "#d62728", "#2ca02c"];
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{margin}\" y=\"20\">share of weighted tokens served per {WINDOW_S} s window (x: 0–{end:.0} s, y: 0–1)</text>\
         <line x1=\"{margin}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        height - margin,
        width - margin,
        height - margin
    );
    for (index, tally) in tallies.iter().enumerate() {
        let mut points = String::new();
        for window in 0..windows {
            let total: f64 = tallies.iter().map(|t| t.windows[window]).sum();
            let share = if total > 0.0 {
                tally.windows[window] / total
            } else {
                0.0
            };
            let x = margin + (width - 2.0 * margin) * (window as f64 + 0.5) / windows as f64;
            let y = height - margin - (height - 2.0 * margin) * share;
            let _ = write!(points, "{x:.1},{y:.1} ");
        }
        let colour = colours[index % colours.len()];
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{points}\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"{colour}\">{} (weight {})</text>",
            width - 190.0,
            40.0 + 16.0 * index as f64,
            ENTITIES[index].name,
            ENTITIES[index].weight
        );
    }
    out.push_str("</svg>\n");
    out
}
