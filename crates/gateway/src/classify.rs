//! Stage 7, classify: the request's data classification, the highest of
//! - the lowest level of the ladder,
//! - the caller's entity's default (`[[entities]] classification`),
//! - the key's default (`classification` given when the key was created),
//! - the caller's label (`x-fabrique-classification` header),
//! - the classification of the AI Factory's use case the request is for (invoked as
//!   `usecase/<slug>`, or named by `x-fabrique-use-case`), and
//! - what the input policies detect (`[policy] personal_data_classification` when personal data is
//!   found in the request's texts; the scan itself is the inspect stage's).
//!
//! Routing then only considers endpoints cleared for that level; refusing happens before any byte
//! leaves (see `route`).

use std::collections::HashMap;

use configuration::Config;
use domain::{Classification, ClassificationLadder};
use http::HeaderMap;
use identity::Principal;

use crate::error::GatewayError;
use crate::headers::CLASSIFICATION_HEADER;

/// Everything classification needs, built once from the configuration.
#[derive(Debug)]
pub(crate) struct Classifier {
    ladder: ClassificationLadder,
    by_entity: HashMap<String, Classification>,
    /// The level personal data raises a request to (found by `inspect`'s scan).
    personal_data: Option<Classification>,
}

impl Classifier {
    pub fn new(config: &Config) -> Classifier {
        Classifier {
            ladder: config.classifications.clone(),
            by_entity: config
                .entities
                .iter()
                .filter_map(|e| Some((e.slug.clone(), e.classification?)))
                .collect(),
            personal_data: config.policy.personal_data_classification,
        }
    }

    /// The level from who is asking and what they said, before looking at the content.
    pub fn labelled(
        &self,
        principal: &Principal,
        headers: &HeaderMap,
    ) -> Result<Classification, GatewayError> {
        let mut level = self.ladder.lowest();
        if let Some(entity) = principal
            .entity_slug
            .as_deref()
            .and_then(|slug| self.by_entity.get(slug))
        {
            level = level.max(*entity);
        }
        if let Some(name) = principal.classification.as_deref() {
            // Checked against the ladder when the key was created; a level since removed from the
            // configuration counts as the highest, so a key never gets less protection than asked.
            level = level.max(self.ladder.parse(name).unwrap_or(self.ladder.highest()));
        }
        if let Some(value) = headers.get(CLASSIFICATION_HEADER) {
            let name = value.to_str().unwrap_or("").trim();
            let label =
                self.ladder
                    .parse(name)
                    .ok_or_else(|| GatewayError::InvalidClassification {
                        given: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                        expected: self.ladder.names().join(", "),
                    })?;
            level = level.max(label);
        }
        Ok(level)
    }

    /// `level` raised to the classification of the use case the request is for, when it states
    /// one (read against the ladder when the registry was loaded): raised, never lowered.
    pub fn with_use_case(
        &self,
        level: Classification,
        stated: Option<Classification>,
    ) -> Classification {
        stated.map_or(level, |floor| level.max(floor))
    }

    /// `level` raised to the personal-data level, for a request found to hold personal data.
    pub fn with_personal_data(&self, level: Classification) -> Classification {
        match &self.personal_data {
            Some(floor) => level.max(*floor),
            None => level,
        }
    }

    /// Whether the content must be read at all to classify.
    pub fn inspects_content(&self, level: Classification) -> bool {
        self.personal_data.is_some_and(|floor| level < floor)
    }

    pub fn name(&self, level: Classification) -> &str {
        self.ladder.name(level)
    }
}
