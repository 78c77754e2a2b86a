//! `[[entities]]`: entities created at start when no entity has their slug yet, with their
//! models, least classification, data policy and retention.

use std::collections::HashSet;

use domain::{Classification, ClassificationLadder};
use serde::Deserialize;

use crate::error::Collector;
use crate::names::{Names, Resolved};
use crate::read::Items;
use crate::rules::{NameRule, name_problem};
use crate::section::classifications::level;
use crate::section::policy::{self, DataPolicy, RawDataPolicy};
use crate::section::retention::{self, RawEntityRetention, Retention};

/// One `[[entities]]` item: an entity created at start when no entity has this slug yet. Existing
/// entities are never modified from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitySeed {
    /// Key `slug`: required, unique, `[a-z0-9][a-z0-9-]*`.
    pub slug: String,
    /// Key `name`: required, the display name; not blank.
    pub name: String,
    /// Key `models`: optional, the models this entity may use, each declared. Default (`None`): all.
    pub models: Option<Vec<String>>,
    /// Key `classification`: optional, a level of `classifications`: the least classification of
    /// every request from this entity. Default (`None`): the lowest level.
    pub classification: Option<Classification>,
    /// Table `policy` (`[entities.policy]`): the entity's data policy, with the same keys as
    /// `[policy]` apart from `personal_data_classification`. Here: already merged with the group's
    /// (see [`DataPolicy`]); `None` when the entity gives none, so the group's applies.
    pub policy: Option<DataPolicy>,
    /// Table `retention` (`[entities.retention]`): keys `mode` and `days`, as in `[retention]`
    /// (see [`Retention`]). `None`: the group's default.
    pub retention: Option<Retention>,
}

/// As written; the keys are documented on [`EntitySeed`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntity {
    pub slug: String,
    pub name: String,
    pub models: Option<Vec<String>>,
    pub classification: Option<String>,
    pub policy: Option<RawDataPolicy>,
    pub retention: Option<RawEntityRetention>,
}

pub(crate) fn validate(
    items: Option<Items<RawEntity>>,
    model_names: &Names,
    ladder: &ClassificationLadder,
    ladder_is_known: bool,
    group_policy: &DataPolicy,
    errors: &mut Collector,
) -> Vec<EntitySeed> {
    let Some(items) = items else {
        return Vec::new();
    };
    let mut slugs = Names::new(Vec::new(), false);
    let mut entities = Vec::new();
    for (index, raw) in items.given {
        let key = format!("entities[{index}]");
        if let Some(message) = name_problem(&raw.slug, NameRule::Slug) {
            errors.push(format!("{key}.slug"), message);
        }
        if let Some(first) = slugs.declare(&raw.slug, entities.len(), &key) {
            errors.push(
                format!("{key}.slug"),
                format!(
                    "duplicate entity slug `{}`, already used by {first}",
                    raw.slug
                ),
            );
        }
        if raw.name.trim().is_empty() {
            errors.push(format!("{key}.name"), "must not be blank");
        }
        let mut seen = HashSet::new();
        for (position, model) in raw.models.iter().flatten().enumerate() {
            let item_key = format!("{key}.models[{position}]");
            if !seen.insert(model) {
                errors.push(item_key, format!("model `{model}` is listed twice"));
            } else if model_names.resolve(model) == Resolved::Unknown {
                errors.push(item_key, format!("unknown model `{model}`"));
            }
        }
        let classification = raw.classification.as_deref().and_then(|name| {
            level(
                name,
                &format!("{key}.classification"),
                ladder,
                ladder_is_known,
                errors,
            )
        });
        // `none` keeps no content anywhere: an explicit `trace_content = true` contradicts it.
        let retention = raw.retention.map(|retention| {
            retention::retention(
                retention.mode.as_deref(),
                retention.days,
                &format!("{key}.retention"),
                errors,
            )
        });
        if retention == Some(Retention::None)
            && raw.policy.as_ref().and_then(|p| p.trace_content) == Some(true)
        {
            errors.push(
                format!("{key}.policy.trace_content"),
                "contradicts `retention.mode = \"none\"`, which keeps no content, traces included",
            );
        }
        let policy = raw
            .policy
            .map(|raw| policy::data_policy(raw, group_policy, &format!("{key}.policy"), errors));
        entities.push(EntitySeed {
            slug: raw.slug,
            name: raw.name,
            models: raw.models,
            classification,
            policy,
            retention,
        });
    }
    entities
}
