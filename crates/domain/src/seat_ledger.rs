//! The pool's arithmetic: how many seats exist, how many each entity reserved and holds, and
//! whether one more can be assigned. No I/O, no clock, no lock: `seats::Seats` wraps it in one
//! mutex to decide in memory, and the store applies it again inside the transaction that writes
//! an assignment, under a lock every replica takes, so the database never holds more seats than
//! the rule allows.
//!
//! The rule: entity `e` may take a seat when the pool has a free seat and either `e` is below its
//! reservation, or `Σ max(assigned, reserved)` over all entities (the seats held plus the unused
//! reservations, called `committed` here) is below the pool size. So an entity's users use its
//! reserved seats first, then the shared overflow, and never an overflow seat that would leave
//! another entity unable to reach its reservation.

use std::collections::HashMap;

use crate::EntityId;

/// Why no seat could be assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortage {
    /// Every seat of the pool is assigned.
    PoolExhausted { size: u64 },
    /// The entity holds all its reserved seats, and the free seats left are reserved for others.
    EntityAllocationExhausted { reserved: u64, assigned: u64 },
}

/// Why a pool size or reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "the pool cannot be set to {size} seats: {assigned} seats are assigned; release or reclaim seats first"
    )]
    PoolBelowAssigned { size: u64, assigned: u64 },
    #[error(
        "the pool cannot be set to {size} seats: entities have reserved {reserved}; lower their reservations first"
    )]
    PoolBelowReserved { size: u64, reserved: u64 },
    #[error(
        "cannot reserve {requested} seats: the pool has {size} seats and other entities have reserved {others}, so at most {available} can be reserved"
    )]
    ReservationsExceedPool {
        requested: u64,
        size: u64,
        others: u64,
        available: u64,
    },
}

/// One entity's share of the pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allocation {
    pub reserved: u64,
    pub assigned: u64,
}

/// The pool and its allocations.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    size: Option<u64>,
    entities: HashMap<EntityId, Allocation>,
    assigned: u64,
    reserved: u64,
    /// `Σ max(assigned, reserved)` over entities.
    committed: u64,
}

impl Ledger {
    /// A ledger for a pool of `size` seats (`None`: unlimited).
    pub fn new(size: Option<u64>) -> Ledger {
        Ledger {
            size,
            ..Ledger::default()
        }
    }

    pub fn size(&self) -> Option<u64> {
        self.size
    }

    pub fn assigned(&self) -> u64 {
        self.assigned
    }

    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    pub fn allocation(&self, entity: EntityId) -> Allocation {
        self.entities.get(&entity).copied().unwrap_or_default()
    }

    /// Takes one seat for `entity`, or says why there is none.
    pub fn try_assign(&mut self, entity: EntityId) -> Result<(), Shortage> {
        if let Some(size) = self.size {
            if self.assigned >= size {
                return Err(Shortage::PoolExhausted { size });
            }
            let own = self.allocation(entity);
            if own.assigned >= own.reserved && self.committed >= size {
                return Err(Shortage::EntityAllocationExhausted {
                    reserved: own.reserved,
                    assigned: own.assigned,
                });
            }
        }
        self.assign(entity);
        Ok(())
    }

    /// Counts a seat `entity` holds whatever the rules (loading what the store says is held).
    pub fn assign(&mut self, entity: EntityId) {
        self.hold(entity, 1);
    }

    /// Counts `seats` more that `entity` holds, whatever the rules.
    pub fn hold(&mut self, entity: EntityId, seats: u64) {
        self.change(entity, |a| a.assigned += seats);
        self.assigned += seats;
    }

    /// Counts a reservation whatever the rules (loading what the store says was accepted).
    pub fn reserve(&mut self, entity: EntityId, reserved: u64) {
        let previous = self.allocation(entity).reserved;
        self.change(entity, |a| a.reserved = reserved);
        self.reserved = self.reserved - previous + reserved;
    }

    /// Gives back one of `entity`'s seats.
    pub fn release(&mut self, entity: EntityId) {
        if self.allocation(entity).assigned == 0 {
            return;
        }
        self.change(entity, |a| a.assigned -= 1);
        self.assigned -= 1;
    }

    /// Resizes the pool; never below the seats assigned nor below the reservations. Returns the
    /// previous size.
    pub fn set_size(&mut self, size: Option<u64>) -> Result<Option<u64>, LedgerError> {
        if let Some(size) = size {
            if size < self.assigned {
                return Err(LedgerError::PoolBelowAssigned {
                    size,
                    assigned: self.assigned,
                });
            }
            if size < self.reserved {
                return Err(LedgerError::PoolBelowReserved {
                    size,
                    reserved: self.reserved,
                });
            }
        }
        Ok(std::mem::replace(&mut self.size, size))
    }

    /// Sets `entity`'s reservation; all reservations together stay within the pool. Returns the
    /// previous reservation.
    pub fn set_reserved(&mut self, entity: EntityId, reserved: u64) -> Result<u64, LedgerError> {
        let previous = self.allocation(entity).reserved;
        let others = self.reserved - previous;
        if let Some(size) = self.size
            && others + reserved > size
        {
            return Err(LedgerError::ReservationsExceedPool {
                requested: reserved,
                size,
                others,
                available: size - others,
            });
        }
        self.change(entity, |a| a.reserved = reserved);
        self.reserved = others + reserved;
        Ok(previous)
    }

    /// Applies `f` to `entity`'s allocation and keeps `committed` equal to its definition.
    fn change(&mut self, entity: EntityId, f: impl FnOnce(&mut Allocation)) {
        let allocation = self.entities.entry(entity).or_default();
        let before = allocation.assigned.max(allocation.reserved);
        f(allocation);
        let after = allocation.assigned.max(allocation.reserved);
        self.committed = self.committed + after - before;
    }
}

#[cfg(test)]
mod tests;
