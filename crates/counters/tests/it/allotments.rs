//! The endpoints' capacity allotted to replicas through the real Redis: three replicas in one
//! process, each renewing when the test says, each using exactly what it may (its allotment, or
//! more while requests from before a lowered one are outstanding). After every renewal, what
//! they may all be using at the endpoint is at most its capacity.

use std::time::Instant as StdInstant;

use counters::{Allotments, Claim, LEASE, Renewal};
use tokio::time::Instant;

use super::outage::{Proxy, redis_address};
use super::*;

const CAPACITY: u32 = 8;

/// One replica as the gateway drives it: its allotment in force and its requests outstanding
/// at the endpoint `gpu-0`.
struct Member {
    allotments: Allotments,
    allotted: u32,
    outstanding: u32,
    demand: u32,
}

impl Member {
    fn new(redis: &RedisConfig, name: &str) -> Member {
        let metrics = Arc::new(Metrics::new(&[], &[]));
        let shared = Shared::start(redis, Calendar::utc(), metrics).unwrap();
        Member {
            allotments: Allotments::new(shared, name, LEASE),
            allotted: 0,
            outstanding: 0,
            demand: 0,
        }
    }

    /// The most it may be using until its next answer applies.
    fn held(&self) -> u32 {
        self.outstanding.max(self.allotted)
    }

    async fn renew(&mut self) {
        let renewal = self.renew_at(Instant::now).await;
        assert!(matches!(renewal, Renewal::Allotted(_)), "{renewal:?}");
    }

    /// Renews as the gateway does, its clock reading `now` if Redis does not answer, and
    /// applies the allotment or the fallback.
    async fn renew_at(&mut self, now: impl FnOnce() -> Instant) -> Renewal {
        let claim = Claim {
            endpoint: "gpu-0",
            capacity: CAPACITY,
            held: self.held(),
            demand: self.demand,
        };
        let renewal = self.allotments.renew_lease(&[claim], now).await;
        if let Renewal::Allotted(sequences) | Renewal::FellBack(sequences) = &renewal {
            self.allotted = sequences[0];
        }
        renewal
    }

    /// A renewal period of short requests: those outstanding finish, and as many are sent as the
    /// new allotment lets it, up to its demand.
    async fn cycle(&mut self) {
        self.renew().await;
        self.outstanding = self.demand.min(self.allotted);
    }

    /// Sends as much as its allotment lets it, up to its demand.
    fn send(&mut self) {
        let room = self.allotted.saturating_sub(self.outstanding);
        self.outstanding += room.min(self.demand.saturating_sub(self.outstanding));
    }
}

fn members(test: &str, count: usize) -> (RedisConfig, Vec<Member>) {
    let redis = config(redis_url(), &fresh_prefix(test), 3);
    let members = (0..count)
        .map(|i| Member::new(&redis, &format!("replica-{i}")))
        .collect();
    (redis, members)
}

fn assert_within_capacity(members: &[Member], step: usize) {
    let held: u32 = members.iter().map(Member::held).sum();
    assert!(
        held <= CAPACITY,
        "step {step}: the replicas may be using {held} sequences of {CAPACITY}"
    );
}

#[tokio::test]
async fn replicas_never_use_more_than_the_endpoints_capacity_while_demand_moves() {
    let (_redis, mut members) = members("allot-safety", 3);
    // Demand moves from one replica to another and back, requests finish at different paces:
    // a pseudo-random walk, the same every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |below: u32| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        u32::try_from(seed % u64::from(below)).unwrap()
    };
    for step in 0..300 {
        let who = usize::try_from(next(3)).unwrap();
        let member = &mut members[who];
        match next(4) {
            0 => member.demand = next(2 * CAPACITY),
            1 => member.outstanding = member.outstanding.saturating_sub(next(4)),
            _ => {}
        }
        member.renew().await;
        member.send();
        assert_within_capacity(&members, step);
    }
}

/// `rounds` renewal periods, the replicas renewing in turn.
async fn rounds(members: &mut [Member], rounds: usize) {
    for round in 0..rounds {
        for member in members.iter_mut() {
            member.cycle().await;
        }
        assert_within_capacity(members, round);
    }
}

#[tokio::test]
async fn idle_replicas_split_evenly_and_capacity_follows_demand() {
    let (_redis, mut members) = members("allot-demand", 2);
    // The first to come takes all, then lowers its allotment when the second comes, and releases
    // what it no longer uses at its next renewal, which the second then takes.
    rounds(&mut members, 3).await;
    let allotted = |members: &[Member]| (members[0].allotted, members[1].allotted);
    assert_eq!(allotted(&members), (4, 4), "two idle replicas");
    // The first gets busy. Weights 9 and 1 share the 6 left once each has one: 5.4 and 0.6, so
    // 5 and 1 by the largest remainder.
    members[0].demand = 100;
    rounds(&mut members, 3).await;
    assert_eq!(allotted(&members), (6, 2));
    assert_eq!(members[0].outstanding, 6);
}

#[tokio::test]
async fn a_dead_replicas_part_is_freed_when_its_lease_runs_out() {
    let (redis, mut members) = members("allot-death", 3);
    for member in &mut members {
        member.demand = 100;
    }
    rounds(&mut members, 3).await;
    let before: Vec<u32> = members.iter().map(|m| m.allotted).collect();
    assert_eq!(before, [3, 3, 2]);
    // The third replica dies: nothing renews its lease.
    let dead = members.pop().unwrap();
    run_out_in_redis(&redis, &dead).await;
    // Its part is free for the survivors at their next renewals.
    rounds(&mut members, 1).await;
    let after: Vec<u32> = members.iter().map(|m| m.allotted).collect();
    assert_eq!(after, [4, 4], "the survivors split the whole capacity");
    assert_eq!(members.iter().map(|m| m.outstanding).sum::<u32>(), CAPACITY);
}

/// Makes `member`'s lease run out in Redis now, as Redis's clock would a lease after its last
/// renewal: the next renewal of any other replica forgets it and its holdings.
async fn run_out_in_redis(redis: &RedisConfig, member: &Member) {
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let live = format!("{{{}}}:replicas", redis.key_prefix);
    let () = redis::cmd("ZADD")
        .arg(&live)
        .arg(0)
        .arg(member.allotments.replica())
        .query_async(&mut connection)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_from_redis_holds_its_allotment_for_its_lease_then_falls_back_and_rejoins() {
    // `[redis] replicas = 4`: the fallback is a quarter of the endpoint, 2 sequences.
    let redis = config(redis_url(), &fresh_prefix("allot-outage"), 4);
    let proxy = Proxy::start(redis_address()).await;
    let through_proxy = RedisConfig {
        url: proxy.url.clone(),
        ..redis.clone()
    };
    let mut members = [
        Member::new(&through_proxy, "cut-off"),
        Member::new(&redis, "other"),
    ];
    members[0].demand = 100;
    rounds(&mut members, 3).await;
    let allotted = |members: &[Member]| (members[0].allotted, members[1].allotted);
    assert_eq!(allotted(&members), (6, 2));

    proxy.cut();
    let [cut_off, other] = &mut members;
    // Within its lease, its last allotment holds.
    assert_eq!(cut_off.renew_at(Instant::now).await, Renewal::Held);
    assert_eq!(cut_off.allotted, 6);
    // Once its own clock says the lease ran out, it falls back to its share, and stays there.
    let a_lease_later = || Instant::now() + LEASE;
    assert_eq!(
        cut_off.renew_at(a_lease_later).await,
        Renewal::FellBack(vec![2])
    );
    assert_eq!(
        cut_off.renew_at(Instant::now).await,
        Renewal::FellBack(vec![2])
    );
    // Its requests from before finish; it sends within its share.
    cut_off.outstanding = 0;
    cut_off.send();
    assert_eq!(cut_off.outstanding, 2);
    // Redis forgets it a lease later by its own clock: the other, busy, reclaims its part — the
    // sum then exceeds the capacity by the fallback, as `allotment.rs` states.
    run_out_in_redis(&redis, cut_off).await;
    other.demand = 100;
    other.cycle().await;
    assert_eq!(allotted(&members), (2, CAPACITY));

    // Redis answers again: the connection is made again at a renewal, the first ones may still
    // find it broken.
    proxy.restore();
    let start = StdInstant::now();
    let [cut_off, other] = &mut members;
    let renewed = loop {
        match cut_off.renew_at(Instant::now).await {
            Renewal::Allotted(sequences) => break sequences,
            Renewal::FellBack(_) | Renewal::Held => {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "the replica never renewed its lease again"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // Nothing is free while the other holds it all, and its fallback stays held in Redis until
    // it has used it: the other comes down to its target, then they share by demand again.
    assert_eq!(renewed, [0]);
    cut_off.outstanding = 0;
    other.cycle().await;
    assert_eq!(allotted(&members), (0, 4));
    assert_within_capacity(&members, 0);
    rounds(&mut members, 3).await;
    assert_eq!(allotted(&members), (4, 4));
}

#[tokio::test]
async fn a_replica_without_a_lease_falls_back_to_its_share_by_the_configured_replicas() {
    let (_redis, members) = members("allot-fallback", 1);
    // `[redis] replicas = 3`: a third of each endpoint, rounded down.
    assert_eq!(members[0].allotments.fallback(CAPACITY), 2);
    assert_eq!(members[0].allotments.fallback(2), 0);
}

#[tokio::test]
async fn replicas_hear_what_the_others_served_each_entity_since_they_last_listened() {
    let redis = config(redis_url(), &fresh_prefix("exchange"), 2);
    let start = |name: &str| {
        let shared = Shared::start(&redis, Calendar::utc(), Arc::new(Metrics::new(&[], &[])));
        let shared = shared.unwrap();
        let allotments = Allotments::new(Arc::clone(&shared), name, counters::LEASE);
        (allotments, counters::Exchange::new(shared, name))
    };
    let (first_lease, first) = start("first");
    let (second_lease, second) = start("second");
    // Both hold a lease: only live replicas are heard.
    for lease in [&first_lease, &second_lease] {
        lease.renew(&[]).await.unwrap();
    }
    let (entity, other) = (EntityId::generate(), EntityId::generate());
    // What the first served before the second first listened is history, not charged.
    first
        .exchange(&[("gpu", vec![(entity, 100.0)])])
        .await
        .unwrap();
    let heard = second
        .exchange(&[("gpu", vec![(other, 7.0)])])
        .await
        .unwrap();
    assert_eq!(heard, [vec![]]);
    // The first hears what the second served, the second what the first served since.
    let heard = first
        .exchange(&[("gpu", vec![(entity, 150.0), (other, 10.0)])])
        .await
        .unwrap();
    assert_eq!(heard, [vec![(other, 7.0)]]);
    let mut heard = second
        .exchange(&[("gpu", vec![(other, 7.0)])])
        .await
        .unwrap();
    heard[0].sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(heard, [vec![(other, 10.0), (entity, 50.0)]]);
    // Service is charged once: nothing new, nothing more.
    let heard = first.exchange(&[("gpu", vec![])]).await.unwrap();
    assert_eq!(heard, [vec![(other, 0.0)]]);
}
