//! Stage 6, classify: the request's data classification, the highest of
//! - the lowest level of the ladder,
//! - the caller's entity's default (`[[entities]] classification`),
//! - the caller's label (`x-fabrique-classification` header), and
//! - what the input policies detect (`[policy] personal_data_classification` when personal data is
//!   found in the request's texts).
//!
//! Routing then only considers endpoints cleared for that level; refusing happens before any byte
//! leaves (see `route`).

use std::collections::HashMap;

use configuration::Config;
use domain::{Classification, ClassificationLadder};
use http::HeaderMap;
use identity::Principal;

use crate::error::GatewayError;

/// The request header a caller uses to label its data.
pub const CLASSIFICATION_HEADER: &str = "x-fabrique-classification";

/// Everything classification needs, built once from the configuration.
#[derive(Debug)]
pub struct Classifier {
    ladder: ClassificationLadder,
    by_entity: HashMap<String, Classification>,
    /// The level personal data raises a request to, with the detectors that find it.
    personal_data: Option<(Classification, policy::Detector)>,
}

/// The inputs of one request's classification.
pub struct Labels<'a> {
    pub principal: &'a Principal,
    pub headers: &'a HeaderMap,
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
            personal_data: config
                .policy
                .personal_data_classification
                .map(|level| (level, policy::Detector::all())),
        }
    }

    pub fn ladder(&self) -> &ClassificationLadder {
        &self.ladder
    }

    /// The level from who is asking and what they said, before looking at the content.
    pub fn labelled(&self, labels: &Labels<'_>) -> Result<Classification, GatewayError> {
        let mut level = self.ladder.lowest();
        if let Some(entity) = labels
            .principal
            .entity_slug
            .as_deref()
            .and_then(|slug| self.by_entity.get(slug))
        {
            level = level.max(*entity);
        }
        if let Some(value) = labels.headers.get(CLASSIFICATION_HEADER) {
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

    /// Raises `level` to the personal-data level when a text holds personal data. Skips the scan when
    /// it could not change the outcome.
    pub fn inspected<T: AsRef<str>>(&self, level: Classification, texts: &[T]) -> Classification {
        match &self.personal_data {
            Some((floor, detector)) if level < *floor => {
                let found = texts
                    .iter()
                    .any(|text| !detector.scan(text.as_ref()).is_empty());
                if found { *floor } else { level }
            }
            _ => level,
        }
    }

    /// Whether the content must be read at all to classify.
    pub fn inspects_content(&self, level: Classification) -> bool {
        self.personal_data
            .as_ref()
            .is_some_and(|(floor, _)| level < *floor)
    }

    pub fn name(&self, level: Classification) -> &str {
        self.ladder.name(level)
    }
}
