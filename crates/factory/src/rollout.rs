//! Which deployed version answers a call: a weighted choice among the versions deployed to the
//! caller's entity, sticky per user. The choice hashes the use case and the user (or, for a
//! service account, its key) into a point of the weights' total, so the same user keeps the same
//! version while the split stands, and a 90/10 split sends about one user in ten to the canary.

/// One deployed version's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    pub version: u32,
    /// Relative weight; 0 takes no traffic (a version deployed but held back).
    pub weight: u32,
    /// Only these entities' callers (slugs); `None`: every allowed entity.
    pub entities: Option<Vec<String>>,
}

impl Arm {
    fn serves(&self, entity: Option<&str>) -> bool {
        self.weight > 0
            && self
                .entities
                .as_ref()
                .is_none_or(|only| entity.is_some_and(|e| only.iter().any(|s| s == e)))
    }
}

/// The version for a caller of `entity` whose sticky identity is `sticky` (the user id, else the
/// key id), among `arms`; `None` when no version is deployed to that entity.
pub fn choose(arms: &[Arm], use_case: &str, entity: Option<&str>, sticky: &str) -> Option<u32> {
    let total: u64 = arms
        .iter()
        .filter(|a| a.serves(entity))
        .map(|a| u64::from(a.weight))
        .sum();
    if total == 0 {
        return None;
    }
    let mut seed = fnv1a(FNV_OFFSET, use_case.as_bytes());
    seed = fnv1a(seed, b"/");
    let mut point = fnv1a(seed, sticky.as_bytes()) % total;
    for arm in arms.iter().filter(|a| a.serves(entity)) {
        let weight = u64::from(arm.weight);
        if point < weight {
            return Some(arm.version);
        }
        point -= weight;
    }
    None
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes`, continuing from `hash`: stable across platforms and releases (the
/// standard library's hasher promises neither), which stickiness needs.
pub(crate) fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV's low bits mix poorly; fold the high half in before a modulo.
    hash ^ (hash >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(version: u32, weight: u32, entities: Option<&[&str]>) -> Arm {
        Arm {
            version,
            weight,
            entities: entities.map(|e| e.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn a_ninety_ten_split_sends_about_a_tenth_of_users_to_the_canary() {
        let arms = [arm(1, 90, None), arm(2, 10, None)];
        let canary = (0..10_000)
            .filter(|i| choose(&arms, "memo", Some("acme"), &format!("usr_{i}")) == Some(2))
            .count();
        assert!((800..1_200).contains(&canary), "{canary} of 10,000");
    }

    #[test]
    fn the_same_user_keeps_the_same_version() {
        let arms = [arm(1, 50, None), arm(2, 50, None)];
        for i in 0..100 {
            let user = format!("usr_{i}");
            let first = choose(&arms, "memo", Some("acme"), &user);
            assert_eq!(choose(&arms, "memo", Some("acme"), &user), first);
        }
    }

    #[test]
    fn per_entity_arms_serve_only_their_entities() {
        let arms = [arm(1, 1, Some(&["acme"])), arm(2, 0, None)];
        assert_eq!(choose(&arms, "memo", Some("acme"), "u"), Some(1));
        assert_eq!(choose(&arms, "memo", Some("globex"), "u"), None);
        assert_eq!(choose(&[], "memo", Some("acme"), "u"), None);
    }
}
