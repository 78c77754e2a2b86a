//! `[[use_cases]]`: what the group knows of a use case before the factory's registry does — which
//! entity it belongs to, who may name it, its priority class, and the data policy its requests
//! follow. A request names its use case in `x-fabrique-use-case`; a label not declared here stays
//! a chargeback label and changes nothing.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::error::Collector;
use crate::read::Items;
use crate::rules::{NameRule, name_problem};
use crate::section::entities::EntitySeed;
use crate::section::policy::{DataPolicy, RawDataPolicy, data_policy};

/// One `[[use_cases]]` item.
///
/// ```toml
/// [[use_cases]]
/// slug = "credit-memo"
/// entity = "retail-bank"
/// priority = "batch"
///
/// allowed_teams = ["team_0190c3e4a4d67b2a8f1e5c9d3b7a6f21"]
///
/// [use_cases.policy]
/// actions = { IBAN = "flag", NIR = "block" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseCaseConfig {
    /// Key `slug`: required, unique, `[a-z0-9][a-z0-9-]*`: what `x-fabrique-use-case` names.
    pub slug: String,
    /// Key `entity`: optional, an entity's slug. Only that entity's callers may name the use case
    /// (others get 403 `use_case_not_permitted`). Absent: any entity's.
    pub entity: Option<String>,
    /// Keys `allowed_entities` (slugs), `allowed_teams` and `allowed_keys` (ids, as the admin API
    /// and SCIM show them): who may name the use case. A caller in any of them may; others get
    /// 403 `use_case_not_permitted`. None given: any caller (of `entity`, when given). A use case
    /// whose policy relaxes a caller's own — an action or an output rule softened, a blocked term
    /// dropped, content let into traces — is applied only to callers these lists name, each time
    /// audited as `policy.relaxed`; without lists, it is refused to every caller whose policy it
    /// would relax.
    pub allowed: Option<UseCaseAllowed>,
    /// Key `priority`: optional, `interactive`, `standard` or `batch`: the class its requests are
    /// scheduled in when they do not say, and the most urgent they may ask for with
    /// `x-fabrique-priority` (an API key's class bounds it too). Absent: the key's, else
    /// `standard`.
    pub priority: Option<domain::Priority>,
    /// Table `policy` (`[use_cases.policy]`): the data policy of the use case's requests, with the
    /// keys of `[entities.policy]`. Each key given replaces the caller's policy's key as a whole;
    /// keys not given are those of the caller's entity (else the group's). `None`: the caller's
    /// policy applies unchanged.
    pub policy: Option<UseCasePolicy>,
}

/// Who may name a use case: a caller in any of these lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UseCaseAllowed {
    pub entities: Vec<String>,
    pub teams: Vec<domain::TeamId>,
    pub keys: Vec<domain::KeyId>,
}

/// A use case's data policy, already laid over each policy it can be laid over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseCasePolicy {
    /// Over the group's policy: for callers whose entity has no policy of its own.
    pub over_group: DataPolicy,
    /// Over each entity's own policy, by entity slug.
    pub over_entities: BTreeMap<String, DataPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUseCase {
    pub slug: String,
    pub entity: Option<String>,
    pub allowed_entities: Option<Vec<String>>,
    pub allowed_teams: Option<Vec<String>>,
    pub allowed_keys: Option<Vec<String>>,
    pub priority: Option<String>,
    pub policy: Option<RawDataPolicy>,
}

pub(crate) fn validate(
    items: Option<Items<RawUseCase>>,
    entities: &[EntitySeed],
    group_policy: &DataPolicy,
    errors: &mut Collector,
) -> Vec<UseCaseConfig> {
    let Some(items) = items else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut use_cases = Vec::new();
    for (index, raw) in items.given {
        let key = format!("use_cases[{index}]");
        if let Some(message) = name_problem(&raw.slug, NameRule::Slug) {
            errors.push(format!("{key}.slug"), message);
        } else if !seen.insert(raw.slug.clone()) {
            errors.push(
                format!("{key}.slug"),
                format!("duplicate use case slug `{}`", raw.slug),
            );
        }
        let owner = raw.entity.as_deref().and_then(|slug| {
            let found = entities.iter().find(|e| e.slug == slug);
            if found.is_none() {
                errors.push(
                    format!("{key}.entity"),
                    format!("unknown entity `{slug}`: declare it in [[entities]]"),
                );
            }
            found
        });
        let policy = raw.policy.map(|policy| {
            let over_group = data_policy(
                policy.clone(),
                group_policy,
                &format!("{key}.policy"),
                errors,
            );
            // The same keys, laid over each entity policy they may meet; their mistakes are
            // reported once, above.
            let mut quiet = Collector::new("");
            let over_entities = entities
                .iter()
                .filter(|e| owner.is_none_or(|owner| owner.slug == e.slug))
                .filter_map(|e| {
                    let own = e.policy.as_ref()?;
                    let laid = data_policy(policy.clone(), own, "", &mut quiet);
                    Some((e.slug.clone(), laid))
                })
                .collect();
            UseCasePolicy {
                over_group,
                over_entities,
            }
        });
        let priority = raw.priority.as_deref().and_then(|name| {
            let parsed = domain::Priority::parse(name);
            if parsed.is_none() {
                errors.push(
                    format!("{key}.priority"),
                    format!(
                        "unknown priority `{name}`; expected `interactive`, `standard` or `batch`"
                    ),
                );
            }
            parsed
        });
        let lists = [&raw.allowed_entities, &raw.allowed_teams, &raw.allowed_keys];
        let allowed = lists
            .iter()
            .any(|list| list.is_some())
            .then(|| UseCaseAllowed {
                entities: allowed_entities(
                    raw.allowed_entities.unwrap_or_default(),
                    entities,
                    &key,
                    errors,
                ),
                teams: ids(&raw.allowed_teams, &format!("{key}.allowed_teams"), errors),
                keys: ids(&raw.allowed_keys, &format!("{key}.allowed_keys"), errors),
            });
        use_cases.push(UseCaseConfig {
            slug: raw.slug,
            entity: raw.entity,
            allowed,
            priority,
            policy,
        });
    }
    use_cases
}

/// `allowed_entities`, each checked to be a declared entity.
fn allowed_entities(
    given: Vec<String>,
    entities: &[EntitySeed],
    key: &str,
    errors: &mut Collector,
) -> Vec<String> {
    for (index, slug) in given.iter().enumerate() {
        if !entities.iter().any(|e| &e.slug == slug) {
            errors.push(
                format!("{key}.allowed_entities[{index}]"),
                format!("unknown entity `{slug}`: declare it in [[entities]]"),
            );
        }
    }
    given
}

/// The ids of `given`, each error reported at its index.
fn ids<T: std::str::FromStr<Err = domain::InvalidId>>(
    given: &Option<Vec<String>>,
    key: &str,
    errors: &mut Collector,
) -> Vec<T> {
    given
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(index, id)| {
            id.parse()
                .map_err(|error: domain::InvalidId| {
                    errors.push(format!("{key}[{index}]"), error.to_string());
                })
                .ok()
        })
        .collect()
}
