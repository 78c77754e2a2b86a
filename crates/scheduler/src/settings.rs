//! What shapes a pool's scheduling: capacity, queue bound, token weights, waiting limits, and each
//! entity's share. Plain data, validated once when set.

use std::time::Duration;

use crate::Priority;

/// How one pool is scheduled. `PoolSettings::new(capacity)` gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// Concurrent sequences the pool serves: the sum of its endpoints' capacities. Zero means no
    /// endpoint is available: new requests are refused with `Shed::NoCapacity`.
    pub capacity: u32,
    /// Requests waiting in the pool at most, all entities together; this bounds its memory.
    pub max_queued: usize,
    /// Cost of one input (prompt) token in the virtual token counters.
    pub input_weight: f64,
    /// Cost of one output (completion) token. Decoding a token costs a GPU more than prefilling
    /// one, so it weighs more by default (2, as in the VTC paper's evaluation).
    pub output_weight: f64,
    /// The longest a request of each priority may wait; a caller may ask for less, never more.
    pub max_wait: MaxWait,
    /// The service time (dispatch to release) assumed by `Retry-After` estimates until the pool has
    /// observed one.
    pub initial_service_time: Duration,
    /// The fraction of the capacity, in `[0, 0.5]`, that `batch` requests leave free for
    /// interactive and standard ones (the rule is in the `headroom` module). Default 0 (the
    /// gateway sets its own). Without it a batch fills every sequence
    /// and a person's question waits for a batch line to end.
    pub batch_headroom: f64,
}

/// The longest wait per priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxWait {
    pub interactive: Duration,
    pub standard: Duration,
    pub batch: Duration,
}

/// One entity's share of a pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    /// Relative weight, at least 1: an entity of weight 3 gets three times the token service of an
    /// entity of weight 1 when both are backlogged.
    pub weight: u32,
    /// Fraction of the pool's capacity, in `[0, 1]`, this entity is guaranteed whenever it has
    /// requests waiting: while it holds fewer than `floor(min_share × capacity)` sequences, its
    /// requests go before every other entity's. The pool's minimum shares add up to at most 1.
    pub min_share: f64,
}

/// A setting that cannot be applied; the pool keeps its previous settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidSettings {
    #[error("a share's weight must be at least 1")]
    ZeroWeight,
    #[error("min_share must be a number between 0 and 1, not {0}")]
    MinShareOutOfRange(f64),
    #[error("the minimum shares of a pool would add up to {0}, more than 1")]
    MinSharesAboveOne(f64),
    #[error("{which} token weight must be a finite number at least 0, not {value}")]
    TokenWeight { which: &'static str, value: f64 },
    #[error("max_queued must be at least 1")]
    ZeroQueue,
    #[error("batch_headroom must be a number between 0 and 0.5, not {0}")]
    BatchHeadroom(f64),
    #[error("two pools are named `{0}`")]
    DuplicatePool(String),
}

impl PoolSettings {
    /// The defaults, for a pool of `capacity` sequences.
    pub fn new(capacity: u32) -> Self {
        PoolSettings {
            capacity,
            max_queued: 10_000,
            input_weight: 1.0,
            output_weight: 2.0,
            max_wait: MaxWait::default(),
            initial_service_time: Duration::from_secs(5),
            batch_headroom: 0.0,
        }
    }

    /// The sequences batches and the recent interactive and standard peak may hold together: the
    /// capacity less `batch_headroom` of it, rounded, at least one sequence when the headroom is
    /// above 0; yet at least one, so a small pool still runs batches.
    pub fn batch_limit(&self) -> u32 {
        let mut headroom = (self.batch_headroom * f64::from(self.capacity)).round() as u32;
        if self.batch_headroom > 0.0 {
            headroom = headroom.max(1);
        }
        self.capacity
            .saturating_sub(headroom)
            .max(self.capacity.min(1))
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidSettings> {
        for (which, value) in [("input", self.input_weight), ("output", self.output_weight)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(InvalidSettings::TokenWeight { which, value });
            }
        }
        if self.max_queued == 0 {
            return Err(InvalidSettings::ZeroQueue);
        }
        if !(0.0..=0.5).contains(&self.batch_headroom) {
            return Err(InvalidSettings::BatchHeadroom(self.batch_headroom));
        }
        Ok(())
    }
}

impl Default for MaxWait {
    /// A person waits a few seconds at most; scripts a little longer; batch work minutes.
    fn default() -> Self {
        MaxWait {
            interactive: Duration::from_secs(10),
            standard: Duration::from_secs(30),
            batch: Duration::from_secs(300),
        }
    }
}

impl MaxWait {
    pub fn of(&self, priority: Priority) -> Duration {
        match priority {
            Priority::Interactive => self.interactive,
            Priority::Standard => self.standard,
            Priority::Batch => self.batch,
        }
    }
}

impl Default for Share {
    fn default() -> Self {
        Share {
            weight: 1,
            min_share: 0.0,
        }
    }
}

impl Share {
    pub(crate) fn validate(&self) -> Result<(), InvalidSettings> {
        if self.weight == 0 {
            return Err(InvalidSettings::ZeroWeight);
        }
        if !(0.0..=1.0).contains(&self.min_share) {
            return Err(InvalidSettings::MinShareOutOfRange(self.min_share));
        }
        Ok(())
    }

    /// Sequences this share guarantees out of `capacity`.
    pub(crate) fn guaranteed_slots(&self, capacity: u32) -> u32 {
        // Truncation is the point: a guarantee never exceeds the share.
        (self.min_share * f64::from(capacity)).floor() as u32
    }
}
