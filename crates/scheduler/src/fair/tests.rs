//! The core's decisions, step by step: fairness, the bound, the idle lift, priorities, shedding.

use std::collections::VecDeque;
use std::time::Duration;

use domain::EntityId;
use tokio::time::Instant;

use super::*;
use crate::MaxWait;
use crate::headroom::PEAK_WINDOW;

/// A pool driven by hand: requests finish in dispatch order, one per `step`.
struct Bench {
    queue: FairQueue<usize>,
    entities: Vec<EntityId>,
    running: VecDeque<(usize, Grant)>,
    /// Weighted service charged per entity (what the counters measure).
    charged: Vec<f64>,
    now: Instant,
}

fn ticket(entity: EntityId, priority: Priority, input: u64, output: u64) -> Ticket {
    Ticket {
        entity,
        priority,
        input_tokens_estimate: input,
        output_tokens_estimate: output,
        max_wait: None,
    }
}

impl Bench {
    fn new(capacity: u32, entities: usize) -> Self {
        Bench::with(PoolSettings::new(capacity), entities)
    }

    fn with(settings: PoolSettings, entities: usize) -> Self {
        Bench {
            queue: FairQueue::new(settings).unwrap(),
            entities: (0..entities).map(|_| EntityId::generate()).collect(),
            running: VecDeque::new(),
            charged: vec![0.0; entities],
            now: Instant::now(),
        }
    }

    fn weight(&mut self, who: usize, weight: u32) {
        let share = Share {
            weight,
            min_share: 0.0,
        };
        self.queue.set_share(self.entities[who], share).unwrap();
    }

    /// Submits a request: dispatched at once if the pool is idle, else queued.
    fn submit(&mut self, who: usize, priority: Priority, input: u64, output: u64) {
        let ticket = ticket(self.entities[who], priority, input, output);
        let weight = f64::from(
            self.queue
                .entity(self.entities[who])
                .map_or(1, |e| e.weight),
        );
        if let Some(grant) = self.queue.try_dispatch_now(&ticket, self.now) {
            self.charged[who] += cost(1.0, 2.0, input, output) / weight;
            self.running.push_back((who, grant));
            return;
        }
        self.queue.enqueue(&ticket, who, self.now).unwrap();
    }

    /// Fills free sequences; returns who was dispatched, in order.
    fn dispatch(&mut self) -> Vec<usize> {
        let mut order = Vec::new();
        while let Some((who, grant)) = self.queue.next_dispatch(self.now) {
            let weight = f64::from(grant.weight);
            self.charged[who] +=
                cost(1.0, 2.0, grant.input_estimate, grant.output_estimate) / weight;
            order.push(who);
            self.running.push_back((who, grant));
        }
        order
    }

    /// The oldest running request finishes with exactly its estimate; then free sequences fill.
    fn step(&mut self) -> Vec<usize> {
        self.now += Duration::from_millis(100);
        if let Some((_, grant)) = self.running.pop_front() {
            self.queue.finish(grant, None, self.now);
        }
        self.dispatch()
    }

    /// The oldest running request of `who` finishes with its estimate; nothing is dispatched.
    fn finish_first_of(&mut self, who: usize) {
        let position = self.running.iter().position(|(w, _)| *w == who).unwrap();
        let (_, grant) = self.running.remove(position).unwrap();
        self.queue.finish(grant, None, self.now);
    }

    fn held_by(&self, who: usize) -> usize {
        self.running.iter().filter(|(w, _)| *w == who).count()
    }

    fn backlogged(&self, who: usize) -> bool {
        self.queue
            .entity(self.entities[who])
            .is_some_and(|e| e.queued_total() > 0)
    }

    fn counter(&self, who: usize) -> f64 {
        self.queue.entity(self.entities[who]).unwrap().counter
    }
}

/// A deterministic sequence of request sizes, so the bound is tested on uneven requests.
struct Sizes(u64);

impl Sizes {
    fn next(&mut self) -> (u64, u64) {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let input = 50 + (self.0 >> 33) % 1000;
        let output = 10 + (self.0 >> 17) % 300;
        (input, output)
    }
}

/// The largest charge one request of `Sizes` can make at weight 1: 1049 × 1 + 309 × 2.
const LARGEST_CHARGE: f64 = 1049.0 + 309.0 * 2.0;

#[test]
fn a_ten_times_heavier_sender_stays_within_the_bound_of_its_peer() {
    let mut bench = Bench::new(4, 2);
    let mut sizes = Sizes(7);
    let mut start: Option<(f64, f64)> = None;
    let mut checked = 0;
    for round in 0..400 {
        // Entity 1 sends ten requests for every one of entity 0, and both more than the pool
        // serves (two per round), so both stay backlogged.
        for _ in 0..20 {
            let (input, output) = sizes.next();
            bench.submit(1, Priority::Standard, input, output);
        }
        for _ in 0..2 {
            let (input, output) = sizes.next();
            bench.submit(0, Priority::Standard, input, output);
        }
        for _ in 0..2 {
            bench.step();
        }
        if !(bench.backlogged(0) && bench.backlogged(1)) {
            assert!(round < 5, "entity 0 should stay backlogged once it is");
            start = None;
            continue;
        }
        let (from_0, from_1) = *start.get_or_insert((bench.charged[0], bench.charged[1]));
        let gap = (bench.charged[0] - from_0) - (bench.charged[1] - from_1);
        assert!(
            gap.abs() <= 2.0 * LARGEST_CHARGE,
            "round {round}: gap {gap}"
        );
        assert!((bench.counter(0) - bench.counter(1)).abs() <= LARGEST_CHARGE);
        checked += 1;
    }
    assert!(checked > 300);
    // The heavy sender did not get more than its half: both were served about equally.
    let ratio = bench.charged[1] / bench.charged[0];
    assert!((0.9..1.1).contains(&ratio), "{ratio}");
}

#[test]
fn weights_three_to_one_share_service_three_to_one() {
    let mut bench = Bench::new(8, 2);
    bench.weight(0, 3);
    for _ in 0..2000 {
        bench.submit(0, Priority::Standard, 100, 50);
        bench.submit(1, Priority::Standard, 100, 50);
    }
    let mut served = [0_u32; 2];
    for _ in 0..1200 {
        for who in bench.step() {
            served[who] += 1;
        }
    }
    // Both stay backlogged throughout: 4000 submitted, about 1200 served.
    assert!(bench.backlogged(0) && bench.backlogged(1));
    // Equal requests, so counts measure service: 3:1 within the bound (2U = two requests).
    let (heavy, light) = (f64::from(served[0]), f64::from(served[1]));
    assert!((heavy / 3.0 - light).abs() <= 2.0, "{served:?}");
}

#[test]
fn a_lone_entity_gets_the_whole_pool() {
    let mut bench = Bench::new(5, 2);
    for _ in 0..20 {
        bench.submit(0, Priority::Batch, 10, 10);
    }
    assert_eq!(bench.queue.in_flight(), 5);
    assert_eq!(bench.queue.queued(), 15);
    // Every freed sequence goes straight back to it.
    for _ in 0..15 {
        assert_eq!(bench.step(), vec![0]);
        assert_eq!(bench.queue.in_flight(), 5);
    }
}

#[test]
fn an_entity_returning_from_idleness_gets_no_credit() {
    let mut bench = Bench::new(2, 2);
    // Entity 0 works alone for a long time; entity 1 is idle.
    for _ in 0..200 {
        bench.submit(0, Priority::Standard, 100, 100);
    }
    for _ in 0..150 {
        bench.step();
    }
    let busy_counter = bench.counter(0);
    assert!(busy_counter > 100.0 * 300.0);
    // Entity 1 arrives with a burst: it is lifted to entity 0's counter, not left at zero.
    for _ in 0..100 {
        bench.submit(1, Priority::Standard, 100, 100);
    }
    assert_eq!(bench.counter(1), busy_counter);
    // So the two alternate rather than entity 1 taking the pool for 150 requests.
    let mut order = Vec::new();
    for _ in 0..20 {
        order.extend(bench.step());
    }
    let newcomer = order.iter().filter(|&&who| who == 1).count();
    assert!((9..=11).contains(&newcomer), "{order:?}");
}

#[test]
fn within_an_entity_interactive_goes_before_standard_before_batch() {
    let mut bench = Bench::new(1, 1);
    bench.submit(0, Priority::Batch, 1, 1); // takes the only sequence
    for priority in [
        Priority::Batch,
        Priority::Standard,
        Priority::Interactive,
        Priority::Standard,
    ] {
        bench.submit(0, priority, 1, 1);
    }
    let mut order = Vec::new();
    for _ in 0..4 {
        bench.step();
        order.push(bench.running.back().unwrap().1.priority());
    }
    assert_eq!(
        order,
        [
            Priority::Interactive,
            Priority::Standard,
            Priority::Standard,
            Priority::Batch
        ]
    );
}

#[test]
fn batches_leave_the_recent_urgent_peak_and_the_headroom_free() {
    // 8 sequences, 10 % headroom: 0.8 sequences, rounded, one left free.
    let settings = PoolSettings {
        batch_headroom: 0.1,
        ..PoolSettings::new(8)
    };
    let mut bench = Bench::with(settings, 2);
    for _ in 0..20 {
        bench.submit(0, Priority::Batch, 1, 1);
    }
    assert_eq!(bench.queue.in_flight(), 7);
    // A question takes the free sequence at once, though its counter is higher than the batch's
    // entity's.
    bench.submit(1, Priority::Interactive, 5_000, 5_000);
    assert_eq!(bench.dispatch(), [1]);
    assert_eq!(bench.queue.in_flight(), 8);
    // A batch line ends: the batch leaves room for the question and the headroom.
    assert_eq!(bench.step(), Vec::<usize>::new());
    bench.finish_first_of(1);
    assert_eq!(bench.dispatch(), Vec::<usize>::new());
    assert_eq!(bench.held_by(0), 6);
    // Two windows without a question: the batch takes the pool back, less the headroom.
    bench.now += 2 * PEAK_WINDOW;
    assert_eq!(bench.dispatch(), [0]);
    assert_eq!(bench.held_by(0), 7);
}

#[test]
fn a_batch_progresses_beside_a_pool_busy_with_questions() {
    let settings = PoolSettings {
        batch_headroom: 0.1,
        ..PoolSettings::new(4)
    };
    let mut bench = Bench::with(settings, 2);
    for _ in 0..4 {
        bench.submit(1, Priority::Interactive, 1, 1);
    }
    bench.submit(0, Priority::Batch, 1, 1);
    bench.submit(0, Priority::Batch, 1, 1);
    bench.finish_first_of(1);
    bench.submit(1, Priority::Interactive, 1, 1);
    // Whichever goes first by counters, the batch gets one sequence (it held none), never a
    // second while questions fill the pool.
    bench.dispatch();
    bench.finish_first_of(1);
    bench.dispatch();
    assert_eq!(bench.held_by(0), 1);
    assert_eq!(bench.held_by(1), 3);
}

#[test]
fn a_lone_batch_fills_a_one_sequence_pool_whatever_the_headroom() {
    let settings = PoolSettings {
        batch_headroom: 0.5,
        ..PoolSettings::new(1)
    };
    assert_eq!(settings.batch_limit(), 1);
    let mut bench = Bench::with(settings, 1);
    bench.submit(0, Priority::Batch, 1, 1);
    assert_eq!(bench.queue.in_flight(), 1);
    assert_eq!(PoolSettings::new(0).batch_limit(), 0);
}

#[test]
fn a_headroom_outside_zero_to_one_half_is_refused() {
    for headroom in [-0.1, 0.6, f64::NAN] {
        let settings = PoolSettings {
            batch_headroom: headroom,
            ..PoolSettings::new(8)
        };
        assert!(matches!(
            FairQueue::<usize>::new(settings),
            Err(InvalidSettings::BatchHeadroom(_))
        ));
    }
}

#[test]
fn priorities_do_not_cross_entities() {
    let mut bench = Bench::new(1, 2);
    bench.submit(0, Priority::Batch, 1, 1);
    // Entity 1 labels everything interactive; entity 0 waits with batch work. Counters alternate
    // (equal counters: the entity seen first goes first).
    for _ in 0..3 {
        bench.submit(1, Priority::Interactive, 1, 1);
        bench.submit(0, Priority::Batch, 1, 1);
    }
    let mut order = Vec::new();
    for _ in 0..6 {
        order.extend(bench.step());
    }
    assert_eq!(order, [0, 1, 0, 1, 0, 1]);
}

#[test]
fn a_guaranteed_minimum_share_goes_before_counters() {
    let mut bench = Bench::new(10, 2);
    let share = Share {
        weight: 1,
        min_share: 0.3,
    };
    bench.queue.set_share(bench.entities[1], share).unwrap();
    // Entity 0 weighs a hundred times more: by counters alone it would take nearly every sequence.
    bench.weight(0, 100);
    for _ in 0..10 {
        bench.submit(0, Priority::Standard, 1, 1);
    }
    for _ in 0..20 {
        bench.submit(0, Priority::Standard, 1, 1);
        bench.submit(1, Priority::Standard, 1, 1);
    }
    for _ in 0..10 {
        bench.step();
    }
    // Despite its counter, entity 1 holds its three guaranteed sequences, and no more.
    let held = bench.running.iter().filter(|(who, _)| *who == 1).count();
    assert_eq!(held, 3);
}

#[test]
fn minimum_shares_above_one_are_refused() {
    let mut bench = Bench::new(10, 2);
    let share = |min_share| Share {
        weight: 1,
        min_share,
    };
    bench
        .queue
        .set_share(bench.entities[0], share(0.6))
        .unwrap();
    let refused = bench.queue.set_share(bench.entities[1], share(0.5));
    assert!(matches!(
        refused,
        Err(InvalidSettings::MinSharesAboveOne(_))
    ));
    assert!(
        bench
            .queue
            .set_share(bench.entities[1], share(1.5))
            .is_err()
    );
    let zero = Share {
        weight: 0,
        min_share: 0.0,
    };
    assert_eq!(
        bench.queue.set_share(bench.entities[1], zero),
        Err(InvalidSettings::ZeroWeight)
    );
}

#[test]
fn settling_replaces_the_estimate_with_the_real_counts() {
    let mut bench = Bench::new(1, 1);
    let ticket = ticket(bench.entities[0], Priority::Standard, 100, 1000);
    let grant = bench.queue.try_dispatch_now(&ticket, bench.now).unwrap();
    assert_eq!(bench.counter(0), 2100.0);
    let served = Served {
        input_tokens: 100,
        output_tokens: 20,
    };
    bench.queue.finish(grant, Some(served), bench.now);
    let entity = bench.queue.entity(bench.entities[0]).unwrap();
    assert_eq!(entity.counter, 140.0);
    assert_eq!(
        (entity.served_input_tokens, entity.served_output_tokens),
        (100, 20)
    );
    assert_eq!((entity.in_flight, bench.queue.in_flight()), (0, 0));
}

#[test]
fn a_reconfigured_pool_keeps_its_capacity_and_settles_a_request_as_it_charged_it() {
    let mut bench = Bench::new(2, 1);
    let ticket = ticket(bench.entities[0], Priority::Standard, 100, 1000);
    let charged_before = bench.queue.try_dispatch_now(&ticket, bench.now).unwrap();
    let heavier = PoolSettings {
        output_weight: 4.0,
        batch_headroom: 0.5,
        max_queued: 1,
        ..PoolSettings::new(0)
    };
    bench.queue.reconfigure(heavier).unwrap();
    assert_eq!(bench.queue.capacity(), 2);
    assert_eq!(bench.queue.settings().batch_limit(), 1);
    let charged_after = bench.queue.try_dispatch_now(&ticket, bench.now).unwrap();
    assert_eq!(bench.counter(0), 2100.0 + 4100.0);
    // The first settles with the weights it was charged with: 100 + 20 × 2 instead of 2100.
    let served = Served {
        input_tokens: 100,
        output_tokens: 20,
    };
    bench.queue.finish(charged_before, Some(served), bench.now);
    assert_eq!(bench.counter(0), 140.0 + 4100.0);
    bench.queue.finish(charged_after, None, bench.now);
    // A setting the pool cannot take leaves it as it was.
    let refused = PoolSettings {
        max_queued: 0,
        ..PoolSettings::new(0)
    };
    assert_eq!(
        bench.queue.reconfigure(refused),
        Err(InvalidSettings::ZeroQueue)
    );
    assert_eq!(bench.queue.settings().max_queued, 1);
}

#[test]
fn a_full_line_pushes_out_the_longest_entitys_newest_request() {
    let mut settings = PoolSettings::new(1);
    settings.max_queued = 4;
    let mut queue = FairQueue::new(settings).unwrap();
    let (heavy, light) = (EntityId::generate(), EntityId::generate());
    let now = Instant::now();
    let _running = queue
        .try_dispatch_now(&ticket(heavy, Priority::Standard, 1, 1), now)
        .unwrap();
    for waiter in 0..4 {
        queue
            .enqueue(&ticket(heavy, Priority::Standard, 1, 1), waiter, now)
            .unwrap();
    }
    // The light entity still gets in line: the heavy one's newest request makes room.
    let queued = queue
        .enqueue(&ticket(light, Priority::Standard, 1, 1), 10, now)
        .unwrap();
    let (victim, shed) = queued.evicted.unwrap();
    assert_eq!(victim, 3);
    assert!(
        matches!(shed, Shed::QueueFull { retry_after } if retry_after >= Duration::from_secs(1))
    );
    // The heavy entity, holding the longest line, is refused more of the same urgency…
    let refused = queue.enqueue(&ticket(heavy, Priority::Standard, 1, 1), 11, now);
    assert!(matches!(refused, Err((11, Shed::QueueFull { .. }))));
    // …but may replace its own less urgent work with more urgent work.
    let urgent = queue
        .enqueue(&ticket(heavy, Priority::Interactive, 1, 1), 12, now)
        .unwrap();
    assert_eq!(urgent.evicted.map(|(victim, _)| victim), Some(2));
    assert_eq!(queue.queued(), 4);
    assert_eq!(queue.entity(heavy).unwrap().refused_queue_full, 3);
}

#[test]
fn a_pool_without_capacity_refuses_at_once() {
    let mut queue = FairQueue::new(PoolSettings::new(0)).unwrap();
    let request = ticket(EntityId::generate(), Priority::Interactive, 1, 1);
    assert!(queue.try_dispatch_now(&request, Instant::now()).is_none());
    let refused = queue.enqueue(&request, 0, Instant::now());
    assert!(matches!(refused, Err((0, Shed::NoCapacity))));
}

#[test]
fn withdrawn_requests_leave_the_line_and_count() {
    let mut bench = Bench::new(1, 1);
    bench.submit(0, Priority::Standard, 1, 1);
    let request = ticket(bench.entities[0], Priority::Standard, 1, 1);
    let first = bench.queue.enqueue(&request, 1, bench.now).unwrap();
    let second = bench.queue.enqueue(&request, 2, bench.now).unwrap();
    assert_eq!(
        bench.queue.withdraw(first.place, Withdrawal::TimedOut),
        Some(1)
    );
    assert_eq!(
        bench.queue.withdraw(first.place, Withdrawal::TimedOut),
        None
    );
    assert_eq!(
        bench.queue.withdraw(second.place, Withdrawal::Cancelled),
        Some(2)
    );
    let entity = bench.queue.entity(bench.entities[0]).unwrap();
    assert_eq!(
        (entity.timed_out, entity.cancelled, entity.queued_total()),
        (1, 1, 0)
    );
    // The caller may ask to wait less than its priority allows, never more.
    let mut short = request.clone();
    short.max_wait = Some(Duration::from_secs(2));
    let queued = bench.queue.enqueue(&short, 3, bench.now).unwrap();
    assert_eq!(queued.deadline, bench.now + Duration::from_secs(2));
    let mut long = request;
    long.max_wait = Some(Duration::from_secs(3600));
    let queued = bench.queue.enqueue(&long, 4, bench.now).unwrap();
    assert_eq!(queued.deadline, bench.now + MaxWait::default().standard);
}

#[test]
fn retry_after_is_the_line_drained_at_the_observed_service_rate() {
    let mut bench = Bench::new(2, 1);
    // Requests that take 10 s each, observed until the smoothed mean settles on it.
    for _ in 0..60 {
        bench.submit(0, Priority::Standard, 1, 1);
        bench.now += Duration::from_secs(10);
        let (_, grant) = bench.running.pop_front().unwrap();
        bench.queue.finish(grant, None, bench.now);
    }
    let mean = bench.queue.snapshot().mean_service_time;
    assert!((9_900..=10_000).contains(&mean.as_millis()), "{mean:?}");
    bench.submit(0, Priority::Standard, 1, 1);
    bench.submit(0, Priority::Standard, 1, 1);
    for _ in 0..6 {
        bench.submit(0, Priority::Standard, 1, 1);
    }
    // 6 waiting × 10 s ÷ 2 sequences = 30 s.
    assert_eq!(bench.queue.retry_after(), Duration::from_secs(30));
}

/// Two replicas of one pool that tell each other what they served every `period` rounds: the
/// entity that sends through both is charged for both.
fn share_across_two_replicas(period: usize) -> (f64, f64) {
    let mut replicas = [Bench::new(2, 2), Bench::new(2, 2)];
    replicas[1].entities = replicas[0].entities.clone();
    // What each replica last heard the other had served, per entity.
    let mut heard = [vec![0.0; 2], vec![0.0; 2]];
    let mut sizes = Sizes(11);
    for round in 0..600 {
        // Entity 1 sends ten times as much, through both replicas; entity 0 through the first.
        for (index, replica) in replicas.iter_mut().enumerate() {
            for _ in 0..10 {
                let (input, output) = sizes.next();
                replica.submit(1, Priority::Standard, input, output);
            }
            // Two a round, more than its replica serves: it stays backlogged there.
            for _ in 0..2 * usize::from(index == 0) {
                let (input, output) = sizes.next();
                replica.submit(0, Priority::Standard, input, output);
            }
            replica.step();
        }
        if round % period == 0 {
            for (to, from) in [(0, 1), (1, 0)] {
                let served = replicas[from].queue.service();
                for (who, entity) in replicas[to].entities.clone().into_iter().enumerate() {
                    let total = served
                        .iter()
                        .find(|(e, _)| *e == entity)
                        .map_or(0.0, |s| s.1);
                    replicas[to].queue.absorb(entity, total - heard[to][who]);
                    heard[to][who] = total;
                }
            }
        }
    }
    let overall = |who: usize| replicas.iter().map(|r| r.charged[who]).sum::<f64>();
    (overall(0), overall(1))
}

#[test]
fn replicas_that_exchange_service_share_the_pool_fairly_overall() {
    // Told nothing, each replica is fair alone: the first splits its half, the second gives all
    // of its half to entity 1, which gets three quarters of the pool.
    let (light, heavy) = share_across_two_replicas(usize::MAX);
    let alone = heavy / light;
    assert!((2.7..3.3).contains(&alone), "{alone}");
    // Told every few rounds, the first serves entity 0 until it catches up: half each.
    let (light, heavy) = share_across_two_replicas(5);
    let ratio = heavy / light;
    assert!((0.9..1.1).contains(&ratio), "{ratio}");
}
