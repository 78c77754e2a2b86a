//! Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): each ranking gives an item
//! `1 / (K + rank)`, the sums rank the fused list. It needs no calibration between BM25's scores
//! and cosines, which have nothing in common but their order.

use std::collections::HashMap;

/// The damping constant of the original paper: a first place is worth little more than a fifth.
pub const K: f64 = 60.0;

/// An item of the fused ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub key: String,
    pub score: f64,
}

/// The `limit` best items of `rankings` (each best first), fused; ties keep the order in which
/// items were first met.
pub fn fuse(rankings: &[&[String]], limit: usize) -> Vec<Ranked> {
    let mut scores: HashMap<&str, (f64, usize)> = HashMap::new();
    let mut met = 0;
    for ranking in rankings {
        for (rank, key) in ranking.iter().enumerate() {
            let entry = scores.entry(key.as_str()).or_insert_with(|| {
                met += 1;
                (0.0, met)
            });
            entry.0 += 1.0 / (K + rank as f64 + 1.0);
        }
    }
    let mut fused: Vec<(&str, (f64, usize))> = scores.into_iter().collect();
    fused.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
    fused
        .into_iter()
        .take(limit)
        .map(|(key, (score, _))| Ranked {
            key: key.to_owned(),
            score,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn an_item_both_rankings_place_well_wins() {
        let lexical = keys(&["a", "b", "c"]);
        let semantic = keys(&["c", "d", "b"]);
        let fused = fuse(&[&lexical, &semantic], 4);
        let order: Vec<&str> = fused.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(order, ["c", "b", "a", "d"]);
    }

    #[test]
    fn one_ranking_alone_keeps_its_order() {
        let lexical = keys(&["x", "y", "z"]);
        let fused = fuse(&[&lexical, &[]], 2);
        let order: Vec<&str> = fused.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(order, ["x", "y"]);
    }
}
