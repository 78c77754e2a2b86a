//! What each entity's weight gives it in a pool at the peak. The scheduler shares a saturated
//! pool's sequences by weight and lets an entity use what the others leave (work-conserving), so
//! at the peak an entity gets the weighted water-filling of the sequences: its demand if that fits
//! under the common level, its weight times the level otherwise. Its weighted share alone is what
//! it is sure of when every entity asks for more than its own.

use crate::pools::PoolPlan;
use crate::scenario::Scenario;

/// One entity in one pool at the peak.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityShare {
    pub entity: String,
    pub users: u64,
    pub weight: u32,
    /// Requests a second at the busiest minutes.
    pub peak_arrivals: f64,
    /// Sequences its peak keeps busy (its users' share of the pool's load).
    pub demand: f64,
    /// Sequences its weight guarantees when every entity wants more.
    pub weighted_share: f64,
    /// Sequences it gets at the peak (water-filling of the pool's sequences).
    pub allotted: f64,
}

/// Every entity's share in `pool` at its chosen size.
pub fn shares(scenario: &Scenario, pool: &PoolPlan) -> Vec<EntityShare> {
    let sequences = pool.chosen().map_or(0.0, |s| s.sequences as f64);
    let users = scenario.users() as f64;
    let load = pool.peak_arrivals * pool.service_secs;
    let demands: Vec<f64> = scenario
        .entities
        .iter()
        .map(|e| load * e.users as f64 / users)
        .collect();
    let weights: Vec<f64> = scenario
        .entities
        .iter()
        .map(|e| f64::from(e.weight))
        .collect();
    let allotted = water_fill(sequences, &demands, &weights);
    let weight_sum: f64 = weights.iter().sum();
    scenario
        .entities
        .iter()
        .zip(demands.iter().zip(allotted))
        .map(|(entity, (demand, allotted))| EntityShare {
            entity: entity.name.clone(),
            users: entity.users,
            weight: entity.weight,
            peak_arrivals: pool.peak_arrivals * entity.users as f64 / users,
            demand: *demand,
            weighted_share: sequences * f64::from(entity.weight) / weight_sum,
            allotted,
        })
        .collect()
}

/// Shares `capacity` between demands by weight: each gets the smaller of its demand and its
/// weight times a level, the level as high as the capacity allows.
pub fn water_fill(capacity: f64, demands: &[f64], weights: &[f64]) -> Vec<f64> {
    let mut allotted = vec![0.0; demands.len()];
    let mut open: Vec<usize> = (0..demands.len()).collect();
    let mut left = capacity;
    while !open.is_empty() && left > 0.0 {
        let weight: f64 = open.iter().map(|&i| weights[i]).sum();
        let level = left / weight;
        // Those whose demand is under the level are served whole; the rest share what is left.
        let (full, short): (Vec<usize>, Vec<usize>) = open
            .iter()
            .partition(|&&i| demands[i] - allotted[i] <= level * weights[i]);
        if full.is_empty() {
            for &i in &open {
                allotted[i] += level * weights[i];
            }
            break;
        }
        for &i in &full {
            left -= demands[i] - allotted[i];
            allotted[i] = demands[i];
        }
        open = short;
    }
    allotted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn water_filling_serves_the_small_and_shares_the_rest_by_weight() {
        // Enough for all: each gets its demand.
        assert_eq!(
            water_fill(100.0, &[10.0, 20.0], &[1.0, 1.0]),
            vec![10.0, 20.0]
        );
        // 60 for demands 10, 50, 50 with weights 1, 1, 2: 10 served, 50 left shared 1:2.
        let got = water_fill(60.0, &[10.0, 50.0, 50.0], &[1.0, 1.0, 2.0]);
        let expected = [10.0, 50.0 / 3.0, 100.0 / 3.0];
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-9, "{got:?}");
        }
        // Nothing to share.
        assert_eq!(water_fill(0.0, &[5.0], &[1.0]), vec![0.0]);
    }

    #[test]
    fn entities_share_the_small_pool_by_users_and_weight() {
        let scenario = Scenario::parse(crate::scenario::SMALL).unwrap();
        let pools = crate::pools::plan_pools(&scenario);
        let shares = shares(&scenario, &pools[0]);
        let (retail, markets) = (&shares[0], &shares[1]);
        // Three quarters of the users, three quarters of the demand.
        assert!((retail.demand - 3.0 * markets.demand).abs() < 1e-9);
        // Weight 2 against 1: two thirds of the pool when both want more.
        assert!((retail.weighted_share - 2.0 * markets.weighted_share).abs() < 1e-9);
        // A pool sized for its target has room for every demand.
        assert!((retail.allotted - retail.demand).abs() < 1e-9);
    }
}
