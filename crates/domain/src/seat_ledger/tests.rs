//! The seat ledger's allocation rule: pool size, reservations and overflow between entities.

use super::*;

fn entities() -> (EntityId, EntityId) {
    (EntityId::generate(), EntityId::generate())
}

#[test]
fn an_unlimited_pool_always_has_a_seat() {
    let mut ledger = Ledger::new(None);
    let (a, _) = entities();
    for _ in 0..1000 {
        assert_eq!(ledger.try_assign(a), Ok(()));
    }
    assert_eq!(ledger.assigned(), 1000);
}

#[test]
fn a_full_pool_refuses_with_its_size() {
    let mut ledger = Ledger::new(Some(2));
    let (a, b) = entities();
    ledger.try_assign(a).unwrap();
    ledger.try_assign(b).unwrap();
    assert_eq!(
        ledger.try_assign(a),
        Err(Shortage::PoolExhausted { size: 2 })
    );
    ledger.release(b);
    assert_eq!(ledger.try_assign(a), Ok(()));
}

#[test]
fn overflow_never_eats_another_entitys_reservation() {
    // Pool 10: b reserves 4, so a (no reservation) may take at most 6.
    let mut ledger = Ledger::new(Some(10));
    let (a, b) = entities();
    ledger.set_reserved(b, 4).unwrap();
    for _ in 0..6 {
        ledger.try_assign(a).unwrap();
    }
    assert_eq!(
        ledger.try_assign(a),
        Err(Shortage::EntityAllocationExhausted {
            reserved: 0,
            assigned: 6
        })
    );
    // b still gets its four, and then nothing: the pool is full.
    for _ in 0..4 {
        ledger.try_assign(b).unwrap();
    }
    assert_eq!(
        ledger.try_assign(b),
        Err(Shortage::PoolExhausted { size: 10 })
    );
}

#[test]
fn an_entity_uses_its_reservation_first_then_the_overflow() {
    // Pool 10: a reserves 3, b reserves 2; overflow is 5.
    let mut ledger = Ledger::new(Some(10));
    let (a, b) = entities();
    ledger.set_reserved(a, 3).unwrap();
    ledger.set_reserved(b, 2).unwrap();
    for _ in 0..8 {
        ledger.try_assign(a).unwrap();
    }
    assert_eq!(
        ledger.try_assign(a),
        Err(Shortage::EntityAllocationExhausted {
            reserved: 3,
            assigned: 8
        })
    );
    ledger.try_assign(b).unwrap();
    ledger.try_assign(b).unwrap();
    assert!(ledger.try_assign(b).is_err());
    assert_eq!(ledger.assigned(), 10);
}

#[test]
fn the_pool_is_never_resized_below_what_is_assigned_or_reserved() {
    let mut ledger = Ledger::new(Some(10));
    let (a, b) = entities();
    for _ in 0..5 {
        ledger.try_assign(a).unwrap();
    }
    ledger.set_reserved(b, 11).unwrap_err();
    ledger.set_reserved(b, 5).unwrap();
    assert_eq!(
        ledger.set_size(Some(4)),
        Err(LedgerError::PoolBelowAssigned {
            size: 4,
            assigned: 5
        })
    );
    // Assigned and reserved seats are each within 5: allowed (b's reservation waits for a's
    // seats to be released).
    assert_eq!(ledger.set_size(Some(5)), Ok(Some(10)));
    assert_eq!(ledger.size(), Some(5));
    ledger.set_size(Some(20)).unwrap();
    ledger.set_reserved(b, 0).unwrap();
    assert_eq!(ledger.reserved(), 0);
    assert_eq!(ledger.set_size(None), Ok(Some(20)));
}

#[test]
fn a_reservation_larger_than_the_pool_says_what_is_left() {
    let mut ledger = Ledger::new(Some(10));
    let (a, b) = entities();
    ledger.set_reserved(a, 6).unwrap();
    assert_eq!(
        ledger.set_reserved(b, 5),
        Err(LedgerError::ReservationsExceedPool {
            requested: 5,
            size: 10,
            others: 6,
            available: 4
        })
    );
    // Changing one's own reservation does not count it twice.
    assert_eq!(ledger.set_reserved(a, 10), Ok(6));
}

#[test]
fn raising_a_reservation_while_others_use_overflow_blocks_more_overflow_but_never_overfills() {
    let mut ledger = Ledger::new(Some(10));
    let (a, b) = entities();
    for _ in 0..10 {
        ledger.try_assign(a).unwrap();
    }
    ledger.set_reserved(b, 5).unwrap();
    assert_eq!(
        ledger.try_assign(b),
        Err(Shortage::PoolExhausted { size: 10 })
    );
    for _ in 0..3 {
        ledger.release(a);
    }
    // The three free seats go to b (its reservation), not back to a.
    assert!(matches!(
        ledger.try_assign(a),
        Err(Shortage::EntityAllocationExhausted { .. })
    ));
    for _ in 0..3 {
        ledger.try_assign(b).unwrap();
    }
    assert_eq!(ledger.assigned(), 10);
}
