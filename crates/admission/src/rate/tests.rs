//! Tests of `rate`: validation, estimates, and the state of one scope's two limits.

use std::time::Duration;

use super::*;
use crate::gcra::Gcra;

const T0: UnixMillis = 1_750_000_000_000;

fn limits(requests: Option<u32>, tokens: Option<u64>) -> Limits {
    Limits {
        requests_per_minute: requests,
        tokens_per_minute: tokens,
    }
}

#[test]
fn zero_and_huge_limits_are_refused() {
    assert_eq!(
        limits(Some(0), None).validate(),
        Err(InvalidLimit::Zero(LimitKind::Requests))
    );
    assert_eq!(
        limits(None, Some(MAX_LIMIT_PER_MINUTE + 1)).validate(),
        Err(InvalidLimit::TooLarge(LimitKind::Tokens))
    );
    assert_eq!(
        limits(Some(1), Some(MAX_LIMIT_PER_MINUTE)).validate(),
        Ok(())
    );
}

#[test]
fn the_estimate_is_the_prompt_plus_the_completion_allowed() {
    assert_eq!(estimate_tokens(100, Some(50), 4_096), 150);
    assert_eq!(estimate_tokens(100, None, 4_096), 4_196);
    assert_eq!(estimate_tokens(u64::MAX, Some(1), 0), u64::MAX);
}

#[test]
fn the_longest_wait_of_the_two_limits_is_reported() {
    let mut state = RateState::default();
    state.set_limits(limits(Some(60), Some(600)), || 1);
    state.charge(Part::Whole, 600, T0);
    // Requests wait nothing, tokens wait 10 s for 100 tokens.
    let shortfall = state.check(Part::Whole, 100, T0).unwrap();
    assert_eq!(shortfall.kind, LimitKind::Tokens);
    assert_eq!(
        shortfall.shortfall,
        Shortfall::RetryAfter(Duration::from_secs(10))
    );
    // A request over the token limit can never pass, which beats any wait.
    let shortfall = state.check(Part::Whole, 601, T0).unwrap();
    assert_eq!(shortfall.shortfall, Shortfall::TooLarge);
    assert_eq!((shortfall.limit, shortfall.requested), (600, 601));
}

#[test]
fn settlement_corrects_only_a_bucket_that_existed_at_admission() {
    let mut state = RateState::default();
    state.set_limits(limits(None, Some(1_000)), || 5);
    state.charge(Part::Whole, 500, T0);
    // Admitted at epoch 4, before the bucket (epoch 5) existed: nothing to refund.
    state.settle(4, 500, 0, T0);
    assert_eq!(state.status(LimitKind::Tokens, T0).unwrap().remaining, 500);
    state.settle(5, 500, 100, T0);
    assert_eq!(state.status(LimitKind::Tokens, T0).unwrap().remaining, 900);
    state.settle(5, 100, 400, T0);
    assert_eq!(state.status(LimitKind::Tokens, T0).unwrap().remaining, 600);
}

#[test]
fn limits_are_kept_across_changes_and_removed_with_none() {
    let mut state = RateState::default();
    let mut epochs = 0;
    state.set_limits(limits(Some(10), Some(100)), || {
        epochs += 1;
        epochs
    });
    state.charge(Part::Whole, 50, T0);
    state.set_limits(limits(Some(20), Some(200)), || unreachable!("kept"));
    assert_eq!(state.limits(), limits(Some(20), Some(200)));
    assert_eq!(state.status(LimitKind::Tokens, T0).unwrap().remaining, 100);
    state.set_limits(limits(None, None), || unreachable!("removed"));
    assert!(state.limits().is_unlimited());
}

#[test]
fn the_tightest_status_has_the_fewest_remaining_then_the_longest_reset() {
    // Statuses of real buckets: `used` units charged on a limit of `limit` per minute.
    let status = |limit: u64, used: u64| {
        let mut gcra = Gcra::new(limit);
        gcra.charge(used, T0);
        gcra.status(T0)
    };
    // 99 left beats 100 left.
    assert!(is_tighter(&status(100, 1), &status(1_000, 900)));
    // Both have 50 left; the one that takes longer to refill is the tighter.
    let slow = status(100, 50);
    let fast = status(200, 150);
    assert_eq!((slow.remaining, fast.remaining), (50, 50));
    assert_eq!(slow.reset(), Duration::from_secs(30));
    assert_eq!(fast.reset(), Duration::from_secs(45));
    assert!(is_tighter(&fast, &slow));
    assert!(!is_tighter(&slow, &fast));
    assert!(!is_tighter(&slow, &slow));
}
