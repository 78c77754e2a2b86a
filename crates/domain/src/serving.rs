//! What serves requests: kinds of endpoints, where they are hosted, kinds of models.

use serde::{Deserialize, Serialize};

use crate::Operation;

/// Where an endpoint runs; recorded with every request for sovereignty reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hosting {
    OnPremises,
    SovereignCloud,
    EuCloud,
    NonEuCloud,
}

impl Hosting {
    pub fn as_str(self) -> &'static str {
        match self {
            Hosting::OnPremises => "on_premises",
            Hosting::SovereignCloud => "sovereign_cloud",
            Hosting::EuCloud => "eu_cloud",
            Hosting::NonEuCloud => "non_eu_cloud",
        }
    }

    pub fn parse(name: &str) -> Option<Hosting> {
        [
            Hosting::OnPremises,
            Hosting::SovereignCloud,
            Hosting::EuCloud,
            Hosting::NonEuCloud,
        ]
        .into_iter()
        .find(|h| h.as_str() == name)
    }
}

/// How urgent a request is. Within one entity, strictly in this order (see the `scheduler` crate);
/// an API key may carry one as its default and ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// A person is waiting: the chat UI, an interactive tool.
    Interactive,
    /// The default: API calls from applications and scripts.
    Standard,
    /// Bulk work that can wait: evaluations, document pipelines.
    Batch,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Interactive, Priority::Standard, Priority::Batch];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Interactive => "interactive",
            Priority::Standard => "standard",
            Priority::Batch => "batch",
        }
    }

    /// The class named `name`, ignoring ASCII case.
    pub fn parse(name: &str) -> Option<Priority> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
    }

    /// The position in [`Priority::ALL`], most urgent first.
    pub fn index(self) -> usize {
        match self {
            Priority::Interactive => 0,
            Priority::Standard => 1,
            Priority::Batch => 2,
        }
    }
}

/// What a model does, which decides the API routes it answers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Chat,
    Embeddings,
    Fim,
    /// A reranker: scores documents against a query (`/v1/rerank`).
    Rerank,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Chat => "chat",
            ModelKind::Embeddings => "embeddings",
            ModelKind::Fim => "fim",
            ModelKind::Rerank => "rerank",
        }
    }

    /// The one operation a model of this kind serves.
    pub fn operation(self) -> Operation {
        match self {
            ModelKind::Chat => Operation::Chat,
            ModelKind::Embeddings => Operation::Embeddings,
            ModelKind::Fim => Operation::Fim,
            ModelKind::Rerank => Operation::Rerank,
        }
    }
}

/// A model's position in the configuration's model list: how the request path, routing and the
/// metrics name a configured model. A configuration holds far fewer than `u32::MAX` models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelIdx(u32);

/// An endpoint's position in the configuration's endpoint list: how the request path, routing and
/// health checks name a configured endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointIdx(u32);

macro_rules! position {
    ($name:ident) => {
        impl $name {
            /// The item at `position` of its list (saturating: lists are validated far shorter).
            pub fn new(position: usize) -> Self {
                $name(u32::try_from(position).unwrap_or(u32::MAX))
            }

            /// The position in its list, to index it.
            pub fn get(self) -> usize {
                self.0 as usize
            }
        }
    };
}
position!(ModelIdx);
position!(EndpointIdx);
