//! Data classification levels: an ordered ladder, `public < internal < confidential < secret` unless
//! configured otherwise. A request is only ever sent to an endpoint whose clearance is at least the
//! request's classification.

use serde::Serialize;

/// A level on the deployment's ladder, compared by rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Classification(pub u8);

/// The configured, ordered names of the levels, lowest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassificationLadder {
    names: Vec<String>,
}

impl Default for ClassificationLadder {
    fn default() -> Self {
        ClassificationLadder::new(
            ["public", "internal", "confidential", "secret"]
                .map(String::from)
                .to_vec(),
        )
    }
}

impl ClassificationLadder {
    /// A ladder from names, lowest first. Callers validate uniqueness and non-emptiness.
    pub fn new(names: Vec<String>) -> Self {
        ClassificationLadder { names }
    }

    pub fn parse(&self, name: &str) -> Option<Classification> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| Classification(i as u8))
    }

    pub fn name(&self, level: Classification) -> &str {
        self.names
            .get(level.0 as usize)
            .map(String::as_str)
            .unwrap_or("unknown")
    }

    pub fn lowest(&self) -> Classification {
        Classification(0)
    }

    pub fn highest(&self) -> Classification {
        Classification(self.names.len().saturating_sub(1) as u8)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}
