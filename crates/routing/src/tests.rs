use std::time::Duration;

use super::*;

fn endpoints(weights: &[u32], open_for: Duration) -> Arc<Endpoints> {
    let specs = weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| EndpointSpec {
            name: format!("e{i}"),
            weight,
            capacity: 8,
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
    let all = [0, 1];
    // Weight 3 takes three leases before weight 1 takes its second.
    let leases: Vec<_> = (0..4).map(|_| eps.pick(&all, &[]).unwrap()).collect();
    let on_heavy = leases.iter().filter(|l| l.index() == 1).count();
    assert_eq!(on_heavy, 3);
    drop(leases);
    assert!(eps.status().iter().all(|s| s.outstanding == 0));
}

#[test]
fn equally_loaded_endpoints_take_turns() {
    let eps = endpoints(&[1, 1, 1], Duration::from_secs(10));
    let picked: Vec<usize> = (0..6)
        .map(|_| eps.pick(&[0, 1, 2], &[]).unwrap().index())
        .collect();
    assert_eq!(picked, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn skips_tried_endpoints_and_gives_up_when_none_remain() {
    let eps = endpoints(&[1, 1], Duration::from_secs(10));
    let first = eps.pick(&[0, 1], &[]).unwrap();
    let second = eps.pick(&[0, 1], &[first.index()]).unwrap();
    assert_ne!(first.index(), second.index());
    assert!(eps.pick(&[0, 1], &[0, 1]).is_none());
}

#[test]
fn consecutive_failures_open_the_circuit_and_a_probe_closes_it() {
    let eps = endpoints(&[1], Duration::ZERO);
    for _ in 0..2 {
        eps.pick(&[0], &[]).unwrap().failed();
    }
    // Open period of zero: immediately half-open, and exactly one probe is admitted.
    let probe = eps.pick(&[0], &[]).unwrap();
    assert_eq!(eps.status()[0].state, CircuitState::HalfOpen);
    assert!(eps.pick(&[0], &[]).is_none(), "only one probe at a time");
    probe.succeeded();
    drop(probe);
    assert_eq!(eps.status()[0].state, CircuitState::Closed);
    assert!(eps.pick(&[0], &[]).is_some());
}

#[test]
fn an_open_circuit_refuses_traffic_until_its_period_ends() {
    let eps = endpoints(&[1, 1], Duration::from_secs(3600));
    for _ in 0..2 {
        let lease = eps.pick(&[0], &[]).unwrap();
        lease.failed();
    }
    assert_eq!(eps.status()[0].state, CircuitState::Open);
    for _ in 0..5 {
        assert_eq!(eps.pick(&[0, 1], &[]).unwrap().index(), 1);
    }
    // A passing health check lets a probe through at once.
    eps.observe_health(0, true);
    assert_eq!(eps.status()[0].state, CircuitState::HalfOpen);
}

#[test]
fn a_failed_probe_reopens_the_circuit() {
    let eps = endpoints(&[1], Duration::ZERO);
    for _ in 0..2 {
        eps.pick(&[0], &[]).unwrap().failed();
    }
    let probe = eps.pick(&[0], &[]).unwrap();
    probe.failed();
    drop(probe);
    // Reopened (zero period → half-open again, probe slot free).
    assert!(eps.pick(&[0], &[]).is_some());
}
