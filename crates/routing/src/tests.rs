//! Endpoint choice: least outstanding per weight, turns, circuits and probes, conversation affinity.

use std::time::Duration;

use super::*;

fn e(index: usize) -> EndpointIdx {
    EndpointIdx::new(index)
}

fn ids(indexes: &[usize]) -> Vec<EndpointIdx> {
    indexes.iter().copied().map(e).collect()
}

/// An endpoint `name` of weight 1 in the default pool, on a vLLM server of its own.
fn spec(name: &str, capacity: u32) -> EndpointSpec {
    EndpointSpec {
        name: name.to_owned(),
        server: Server {
            kind: EndpointKind::Vllm,
            url: format!("http://{name}.test/v1"),
        },
        pool: "default".to_owned(),
        weight: 1,
        capacity,
    }
}

fn endpoints(weights: &[u32], open_for: Duration) -> Arc<Endpoints> {
    let specs = weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| EndpointSpec {
            weight,
            ..spec(&format!("e{i}"), 8)
        })
        .collect();
    Endpoints::new(
        specs,
        CircuitPolicy {
            failures: 2,
            open_for,
        },
    )
}

#[test]
fn picks_least_outstanding_per_weight() {
    let eps = endpoints(&[1, 3], Duration::from_secs(10));
    let all = ids(&[0, 1]);
    // Weight 3 takes three leases before weight 1 takes its second.
    let leases: Vec<_> = (0..4).map(|_| eps.pick(&all, &[]).unwrap()).collect();
    let on_heavy = leases.iter().filter(|l| l.index() == e(1)).count();
    assert_eq!(on_heavy, 3);
    drop(leases);
    assert!(eps.status().iter().all(|s| s.outstanding == 0));
}

#[test]
fn equally_loaded_endpoints_take_turns() {
    let eps = endpoints(&[1, 1, 1], Duration::from_secs(10));
    let picked: Vec<usize> = (0..6)
        .map(|_| eps.pick(&ids(&[0, 1, 2]), &[]).unwrap().index().get())
        .collect();
    assert_eq!(picked, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn skips_tried_endpoints_and_gives_up_when_none_remain() {
    let eps = endpoints(&[1, 1], Duration::from_secs(10));
    let first = eps.pick(&ids(&[0, 1]), &[]).unwrap();
    let second = eps.pick(&ids(&[0, 1]), &[first.index()]).unwrap();
    assert_ne!(first.index(), second.index());
    assert!(eps.pick(&ids(&[0, 1]), &ids(&[0, 1])).is_none());
}

#[test]
fn consecutive_failures_open_the_circuit_and_a_probe_closes_it() {
    let eps = endpoints(&[1], Duration::ZERO);
    for _ in 0..2 {
        eps.pick(&ids(&[0]), &[]).unwrap().failed();
    }
    // Open period of zero: immediately half-open, and exactly one probe is admitted.
    let probe = eps.pick(&ids(&[0]), &[]).unwrap();
    assert_eq!(eps.status()[0].state, CircuitState::HalfOpen);
    assert!(
        eps.pick(&ids(&[0]), &[]).is_none(),
        "only one probe at a time"
    );
    probe.succeeded();
    drop(probe);
    assert_eq!(eps.status()[0].state, CircuitState::Closed);
    assert!(eps.pick(&ids(&[0]), &[]).is_some());
}

#[test]
fn an_open_circuit_refuses_traffic_until_its_period_ends() {
    let eps = endpoints(&[1, 1], Duration::from_secs(3600));
    for _ in 0..2 {
        let lease = eps.pick(&ids(&[0]), &[]).unwrap();
        lease.failed();
    }
    assert_eq!(eps.status()[0].state, CircuitState::Open);
    for _ in 0..5 {
        assert_eq!(eps.pick(&ids(&[0, 1]), &[]).unwrap().index(), e(1));
    }
    // A passing health check lets a probe through at once.
    eps.observe_health(e(0), true);
    assert_eq!(eps.status()[0].state, CircuitState::HalfOpen);
}

#[test]
fn a_failed_probe_reopens_the_circuit() {
    let eps = endpoints(&[1], Duration::ZERO);
    for _ in 0..2 {
        eps.pick(&ids(&[0]), &[]).unwrap().failed();
    }
    let probe = eps.pick(&ids(&[0]), &[]).unwrap();
    probe.failed();
    drop(probe);
    // Reopened (zero period → half-open again, probe slot free).
    assert!(eps.pick(&ids(&[0]), &[]).is_some());
}

/// The blocks of a conversation after `turns` exchanges, as the gateway would cut them.
fn conversation(topic: &str, turns: usize) -> Vec<prefix::BlockHash> {
    let system = format!("You help with {topic}. ").repeat(30);
    let answer = "a long answer ".repeat(25);
    let mut messages = vec![("system".to_owned(), system)];
    for turn in 0..turns {
        messages.push(("user".to_owned(), format!("question {turn} about {topic}")));
        messages.push(("assistant".to_owned(), answer.clone()));
    }
    prefix::prompt_blocks(messages.iter().map(|(r, t)| (r.as_str(), t.as_str())))
}

fn candidates(loads: &[(u32, u32)]) -> Vec<Candidate> {
    loads
        .iter()
        .enumerate()
        .map(|(index, &(outstanding, capacity))| Candidate {
            index: e(index),
            outstanding,
            capacity,
        })
        .collect()
}

#[test]
fn a_conversations_follow_ups_land_on_the_same_endpoint() {
    let index = PrefixIndex::new(4, 1024);
    let loads = candidates(&[(0, 8), (0, 8), (0, 8), (0, 8)]);
    // Four conversations start on an idle pool; each goes where the least-loaded choice sends it.
    let mut homes = Vec::new();
    for (n, topic) in ["loans", "payroll", "audit", "risk"]
        .into_iter()
        .enumerate()
    {
        let first = conversation(topic, 0);
        assert_eq!(index.best_match(&first, &ids(&[0, 1, 2, 3])), None);
        // Spread them as least-outstanding would: conversation n on endpoint n.
        index.record(e(n), &first);
        homes.push(e(n));
    }
    for turn in 1..5 {
        for (topic, &home) in ["loans", "payroll", "audit", "risk"].iter().zip(&homes) {
            let blocks = conversation(topic, turn);
            let (best, matched) = index.best_match(&blocks, &ids(&[0, 1, 2, 3])).unwrap();
            assert_eq!(best, home);
            assert!(matched > 0);
            assert_eq!(
                index.choose(&blocks, &loads, DEFAULT_MAX_LOAD_GAP),
                Some(home)
            );
            index.record(home, &blocks);
        }
    }
}

#[test]
fn a_busy_home_loses_to_the_least_loaded_beyond_the_gap() {
    let index = PrefixIndex::new(3, 1024);
    let blocks = conversation("loans", 2);
    index.record(e(0), &blocks);
    // Home at 3/8, others at 1/8: a gap of 0.25, within the tolerance.
    let close = candidates(&[(3, 8), (1, 8), (2, 8)]);
    assert_eq!(
        index.choose(&blocks, &close, DEFAULT_MAX_LOAD_GAP),
        Some(e(0))
    );
    // Home at 4/8: a gap of 0.375, beyond it: the least loaded wins.
    let far = candidates(&[(4, 8), (1, 8), (2, 8)]);
    assert_eq!(
        index.choose(&blocks, &far, DEFAULT_MAX_LOAD_GAP),
        Some(e(1))
    );
    // Home at capacity: never chosen, whatever the tolerance.
    let full = candidates(&[(8, 8), (7, 8), (7, 8)]);
    assert_eq!(index.choose(&blocks, &full, 10.0), Some(e(1)));
    let all_full = candidates(&[(8, 8), (8, 8), (8, 8)]);
    assert_eq!(index.choose(&blocks, &all_full, 10.0), None);
    // Nothing cached anywhere: least loaded.
    let stranger = conversation("payroll", 1);
    assert_eq!(
        index.choose(&stranger, &close, DEFAULT_MAX_LOAD_GAP),
        Some(e(1))
    );
}

#[test]
fn the_index_stays_within_its_memory_bound() {
    let index = PrefixIndex::new(2, 64);
    for n in 0..500 {
        index.record(e(0), &conversation(&format!("topic {n}"), 3));
    }
    assert_eq!(index.len(e(0)), 64);
    assert_eq!(index.len(e(1)), 0);
    // The most recent conversation is still found; the oldest is forgotten.
    let recent = conversation("topic 499", 3);
    assert_eq!(
        index
            .best_match(&recent, &ids(&[0, 1]))
            .map(|(endpoint, _)| endpoint),
        Some(e(0))
    );
    assert_eq!(
        index.best_match(&conversation("topic 0", 3), &ids(&[0, 1])),
        None
    );
    index.forget(e(0));
    assert_eq!(index.len(e(0)), 0);
    // Out-of-range endpoints are ignored, not a panic.
    index.record(e(7), &recent);
    assert_eq!(index.best_match(&recent, &ids(&[7])), None);
}

#[test]
fn pick_with_prefix_leases_the_home_endpoint_and_skips_tried_ones() {
    let eps = endpoints(&[1, 1, 1], Duration::from_secs(10));
    let index = PrefixIndex::new(3, 1024);
    let blocks = conversation("loans", 1);
    index.record(e(2), &blocks);
    let lease = eps
        .pick_with_prefix(&ids(&[0, 1, 2]), &[], &index, &blocks, DEFAULT_MAX_LOAD_GAP)
        .unwrap();
    assert_eq!(lease.index(), e(2));
    let retry = eps
        .pick_with_prefix(
            &ids(&[0, 1, 2]),
            &ids(&[2]),
            &index,
            &blocks,
            DEFAULT_MAX_LOAD_GAP,
        )
        .unwrap();
    assert_ne!(retry.index(), e(2));
    drop((lease, retry));
    assert!(eps.status().iter().all(|s| s.outstanding == 0));
}

#[test]
fn a_reloaded_set_keeps_each_kept_endpoints_circuit_and_requests_in_flight_by_name() {
    let eps = endpoints(&[1, 1], Duration::from_secs(3600));
    for _ in 0..2 {
        eps.pick(&ids(&[0]), &[]).unwrap().failed();
    }
    let in_flight = eps.pick(&ids(&[1]), &[]).unwrap();
    // `e1` moves to the front with a new capacity, `e0` goes, `e2` comes.
    let reloaded = eps.reloaded(vec![spec("e1", 16), spec("e2", 8)], eps.policy);
    let status = reloaded.status();
    assert_eq!((status[0].outstanding, status[0].capacity), (1, 16));
    assert_eq!(status[1].state, CircuitState::Closed);
    assert_eq!(reloaded.continued(&spec("e2", 8)), Some(e(1)));
    assert_eq!(reloaded.continued(&spec("e0", 8)), None);
    // The lease of the old set is released in the new one too.
    drop(in_flight);
    assert_eq!(reloaded.status()[0].outstanding, 0);
    // The removed endpoint's open circuit stays in the old set, for whoever still holds it.
    assert_eq!(eps.status()[0].state, CircuitState::Open);
    assert!(reloaded.pick(&ids(&[0, 1]), &[]).is_some());
}

#[test]
fn an_endpoint_removed_by_a_reload_takes_no_request_from_any_set_once_retired() {
    let eps = endpoints(&[1, 1], Duration::from_secs(3600));
    let in_flight = eps.pick(&ids(&[0]), &[]).unwrap();
    let reloaded = eps.reloaded(vec![spec("e1", 8)], eps.policy);
    // Until the new set is in force, the old one still sends to `e0`.
    assert!(eps.pick(&ids(&[0]), &[]).is_some());
    eps.retire_absent(&reloaded);
    let blocks = conversation("tides", 1);
    let prefixes = PrefixIndex::new(2, 1024);
    let with_prefix = |tried: &[EndpointIdx]| {
        eps.pick_with_prefix(&ids(&[0, 1]), tried, &prefixes, &blocks, 0.25)
            .map(|lease| lease.index())
    };
    // `e0` is least loaded in the old set, and never picked again; `e1` still is, in either.
    for _ in 0..4 {
        assert_eq!(eps.pick(&ids(&[0, 1]), &[]).map(|l| l.index()), Some(e(1)));
        assert_eq!(with_prefix(&[]), Some(e(1)));
    }
    assert_eq!(with_prefix(&[e(1)]), None);
    assert!(reloaded.pick(&ids(&[0]), &[]).is_some());
    // The request in flight on `e0` finishes there.
    drop(in_flight);
    assert_eq!(eps.status()[0].outstanding, 0);
}

#[test]
fn an_endpoint_moved_to_another_server_is_a_new_one_and_the_old_one_retired() {
    let eps = endpoints(&[1, 1], Duration::from_secs(3600));
    for _ in 0..2 {
        eps.pick(&ids(&[0]), &[]).unwrap().failed();
    }
    let in_flight = eps.pick(&ids(&[1]), &[]).unwrap();
    let moved = EndpointSpec {
        server: Server {
            kind: EndpointKind::Vllm,
            url: "http://elsewhere.test/v1".to_owned(),
        },
        ..spec("e0", 8)
    };
    let other_engine = EndpointSpec {
        server: Server {
            kind: EndpointKind::Tgi,
            ..spec("e1", 8).server
        },
        ..spec("e1", 8)
    };
    assert_eq!(eps.continued(&moved), None);
    assert_eq!(eps.continued(&other_engine), None);
    let reloaded = eps.reloaded(vec![moved, other_engine], eps.policy);
    // Neither the old server's open circuit nor its request in flight follows the name.
    let status = reloaded.status();
    assert_eq!(status[0].state, CircuitState::Closed);
    assert_eq!(status[1].outstanding, 0);
    eps.retire_absent(&reloaded);
    assert!(eps.pick(&ids(&[0, 1]), &[]).is_none());
    assert!(reloaded.pick(&ids(&[1]), &[]).is_some());
    // The request in flight on the old server is released there, not on the new one.
    drop(in_flight);
    assert_eq!(eps.status()[1].outstanding, 0);
}

#[test]
fn a_reloaded_set_follows_its_new_circuit_policy() {
    let eps = endpoints(&[1], Duration::from_secs(3600));
    let policy = CircuitPolicy {
        failures: 1,
        open_for: Duration::from_secs(3600),
    };
    let reloaded = eps.reloaded(vec![spec("e0", 8)], policy);
    reloaded.pick(&ids(&[0]), &[]).unwrap().failed();
    assert_eq!(reloaded.status()[0].state, CircuitState::Open);
}

#[test]
fn a_reloaded_prefix_index_keeps_what_kept_endpoints_remembered() {
    let blocks = conversation("tides", 2);
    let index = PrefixIndex::new(2, 1024);
    index.record(e(1), &blocks);
    let reloaded = index.reloaded(&[Some(e(1)), None], 1024);
    assert_eq!(reloaded.len(e(0)), blocks.len());
    assert_eq!(reloaded.len(e(1)), 0);
}

#[test]
fn an_allotment_bounds_what_this_process_sends_and_what_it_holds() {
    let eps = endpoints(&[1, 1], Duration::from_secs(10));
    let all = ids(&[0, 1]);
    let capacity = |eps: &Endpoints| eps.available_capacity(&all);
    // Alone, every sequence is usable.
    assert_eq!(
        capacity(&eps),
        Capacity {
            available: 16,
            usable: 16
        }
    );
    eps.start_allotting();
    assert_eq!(
        capacity(&eps),
        Capacity {
            available: 16,
            usable: 0
        }
    );
    assert!(
        eps.pick(&all, &[]).is_none(),
        "nothing is sent before an allotment"
    );
    eps.allot(e(0), 2);
    eps.allot(e(1), 1);
    assert_eq!(
        capacity(&eps),
        Capacity {
            available: 16,
            usable: 3
        }
    );
    let leases: Vec<_> = (0..3).map(|_| eps.pick(&all, &[]).unwrap()).collect();
    assert!(eps.pick(&all, &[]).is_none(), "never beyond the allotments");
    assert_eq!(
        eps.holding(e(0)),
        Some(Holding {
            capacity: 8,
            held: 2
        })
    );
    // A lowered allotment: new requests are sized by it, the one before still holds for those
    // granted under it, and the requests already sent count as held until they finish.
    eps.allot(e(0), 1);
    assert_eq!(
        capacity(&eps),
        Capacity {
            available: 16,
            usable: 2
        }
    );
    drop(leases);
    assert_eq!(
        eps.holding(e(0)),
        Some(Holding {
            capacity: 8,
            held: 2
        })
    );
    eps.allot(e(0), 1);
    assert_eq!(
        eps.holding(e(0)),
        Some(Holding {
            capacity: 8,
            held: 1
        })
    );
    // An endpoint a reload adds starts with no allotment.
    let reloaded = eps.reloaded(vec![spec("e1", 4), spec("new", 4)], eps.policy);
    assert_eq!(
        reloaded.available_capacity(&ids(&[0, 1])),
        Capacity {
            available: 8,
            usable: 1
        }
    );
}
