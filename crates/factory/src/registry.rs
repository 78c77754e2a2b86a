//! The registry's vocabulary: a use case, its versions, and the closed sets that describe them.

use std::collections::BTreeMap;

use domain::{Priority, UnixMillis};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::canary::CanaryRule;

/// The EU AI Act's risk classes. A prohibited practice is registered (so the register shows it
/// was considered) but can never be approved or deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskClass {
    Minimal,
    Limited,
    High,
    Prohibited,
}

impl RiskClass {
    pub const ALL: [RiskClass; 4] = [
        RiskClass::Minimal,
        RiskClass::Limited,
        RiskClass::High,
        RiskClass::Prohibited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::Minimal => "minimal",
            RiskClass::Limited => "limited",
            RiskClass::High => "high",
            RiskClass::Prohibited => "prohibited",
        }
    }

    pub fn parse(name: &str) -> Option<RiskClass> {
        RiskClass::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// Where the use case's impact assessment (AI Act, GDPR DPIA) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImpactAssessment {
    NotStarted,
    InProgress,
    Completed,
    NotRequired,
}

impl ImpactAssessment {
    pub const ALL: [ImpactAssessment; 4] = [
        ImpactAssessment::NotStarted,
        ImpactAssessment::InProgress,
        ImpactAssessment::Completed,
        ImpactAssessment::NotRequired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImpactAssessment::NotStarted => "not_started",
            ImpactAssessment::InProgress => "in_progress",
            ImpactAssessment::Completed => "completed",
            ImpactAssessment::NotRequired => "not_required",
        }
    }

    pub fn parse(name: &str) -> Option<ImpactAssessment> {
        ImpactAssessment::ALL
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// Where a version is in its lifecycle (see [`crate::lifecycle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    Draft,
    InReview,
    Approved,
    Deployed,
    Retired,
}

impl VersionState {
    pub const ALL: [VersionState; 5] = [
        VersionState::Draft,
        VersionState::InReview,
        VersionState::Approved,
        VersionState::Deployed,
        VersionState::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Draft => "draft",
            VersionState::InReview => "in_review",
            VersionState::Approved => "approved",
            VersionState::Deployed => "deployed",
            VersionState::Retired => "retired",
        }
    }

    pub fn parse(name: &str) -> Option<VersionState> {
        VersionState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the version's content may still change: only a draft's.
    pub fn is_editable(self) -> bool {
        self == VersionState::Draft
    }
}

/// Which entities' callers may invoke a use case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Allowed {
    /// Every caller of the group (`"all"`), group-level accounts included.
    All(AllEntities),
    /// These entities (slugs); the owning entity is always among them.
    Only(Vec<String>),
}

/// The word `all`, as `Allowed::All` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllEntities {
    All,
}

impl Allowed {
    /// Whether a caller of `entity` (a slug; `None` for group-level accounts) may invoke it.
    pub fn admits(&self, entity: Option<&str>) -> bool {
        match self {
            Allowed::All(_) => true,
            Allowed::Only(slugs) => entity.is_some_and(|e| slugs.iter().any(|s| s == e)),
        }
    }

    /// The entities as the register lists them: `all`, or the slugs joined by spaces.
    pub fn describe(&self) -> String {
        match self {
            Allowed::All(_) => "all".to_owned(),
            Allowed::Only(slugs) => slugs.join(" "),
        }
    }
}

/// What an evaluation run must reach for its version to be approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// The share of cases whose every expectation passes, from 0 to 1.
    #[serde(default = "default_pass_rate")]
    pub pass_rate: f64,
    /// The lowest mean score per grader kind (`exact`, `judge`, …), from 0 to 1.
    #[serde(default)]
    pub min_scores: BTreeMap<String, f64>,
}

fn default_pass_rate() -> f64 {
    1.0
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            pass_rate: default_pass_rate(),
            min_scores: BTreeMap::new(),
        }
    }
}

/// The largest document attached to a use case (its impact assessment's, a model card…): 20 MiB.
pub const MAX_USE_CASE_DOCUMENT_BYTES: usize = 20 * 1024 * 1024;

/// The source of a use case declared in `[[use_cases]]`.
pub const CONFIGURATION_SOURCE: &str = "configuration";
/// The source of a use case registered through the admin API.
pub const API_SOURCE: &str = "api";

/// A use case, as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UseCase {
    /// What callers name: `usecase/<slug>`, or `x-fabrique-use-case: <slug>` for a label.
    pub slug: String,
    pub name: String,
    /// What the use case is for, in the owners' words (the register's "intended purpose").
    pub purpose: String,
    /// The owning entity's slug; `None` for a use case of the group itself.
    pub owner_entity: Option<String>,
    /// The accountable people (user ids or names, as given): users of the owning entity, which
    /// the admin API checks against the directory.
    pub owners: Vec<String>,
    pub allowed: Allowed,
    /// The highest classification of data the use case handles (a level name), when stated.
    pub classification: Option<String>,
    pub risk: RiskClass,
    pub impact: ImpactAssessment,
    /// References to the impact assessment's documents (names or links).
    pub impact_documents: Vec<String>,
    /// The class its requests are scheduled in, and the most urgent they may ask for.
    pub priority: Option<Priority>,
    pub thresholds: Thresholds,
    pub canary: CanaryRule,
    /// Its data policy as written (the keys of `[entities.policy]`), laid over its callers'
    /// entities' policies, which it may only tighten; `None`: theirs apply unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
    /// [`CONFIGURATION_SOURCE`] for a use case declared in `[[use_cases]]`, [`API_SOURCE`]
    /// otherwise.
    pub source: String,
    /// Retired as a whole: no version may be deployed any more.
    pub retired: bool,
    pub created_at: UnixMillis,
}

/// What a version says: everything the model receives besides the caller's own messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    /// The system prompt, with `{{variable}}` placeholders.
    #[serde(default)]
    pub template: String,
    /// The model (a configured public name).
    pub model: String,
    /// Models tried in turn when the model cannot answer; they replace the model's own fallbacks.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Request fields set for every call: `temperature`, `max_tokens`, `top_p`, …
    #[serde(default)]
    pub parameters: serde_json::Map<String, Value>,
    /// Tools the model may call, as the chat API's `tools` entries.
    #[serde(default)]
    pub tools: Vec<Value>,
    /// A JSON schema the answer must satisfy (structured output).
    #[serde(default)]
    pub output_schema: Option<Value>,
    /// Example exchanges placed between the system prompt and the caller's messages.
    #[serde(default)]
    pub few_shot: Vec<Value>,
}

impl VersionSpec {
    /// The content's fingerprint: the SHA-256 of its canonical JSON (keys sorted), so two runs of
    /// the same content agree and any change shows.
    pub fn digest(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut text = String::new();
        canonical(&value, &mut text);
        let hash = Sha256::digest(text.as_bytes());
        hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One version of a use case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// 1, 2, … in the order created.
    pub number: u32,
    pub state: VersionState,
    pub spec: VersionSpec,
    /// Its share of traffic while deployed, relative to the other deployed versions'.
    pub weight: u32,
    /// When set, only these entities' callers are routed to it (a per-entity rollout).
    pub rollout_entities: Option<Vec<String>>,
    pub created_at: UnixMillis,
}

/// Writes `value` as JSON with every object's keys in sorted order, whatever order the map keeps
/// them in, so equal contents always give equal text.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(key) {
                    canonical(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
