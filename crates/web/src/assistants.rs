//! Assistants: the AI Factory's deployed use cases the person may call, offered in the model
//! picker beside the models. One is asked as `usecase/<slug>` through the same pipeline as any
//! question, so the gateway renders its template, applies its version's model, charges the use
//! case and records the version on the usage record; feedback on its answers counts for that
//! version. The list comes from the registry in memory (`factory::Live`), with the very rule
//! the gateway applies to the call (the person's entity allowed, the version the rollout gives
//! them); an assistant whose model the person may not use is not offered. One that answers with
//! checked structured output (an output schema) is offered too: the gateway checks its streamed
//! answer when it ends, and an answer that breaks the schema is shown refused (`chat`).

use factory::{CallerView, KeyScope, Live};
use wire::models::ModelCard;

use crate::visitor::Person;

/// An assistant as the picker shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assistant {
    /// What the chat asks for: `usecase/<slug>`.
    pub model: String,
    pub name: String,
    pub purpose: String,
    /// The variables its template asks the person to fill in.
    pub variables: Vec<String>,
}

/// The assistants `person` may call, by slug, among those whose model is in `models` (the chat
/// models the person may use).
pub fn open_to(live: &Live, person: &Person, models: &[ModelCard]) -> Vec<Assistant> {
    let sticky = person.user.id.to_string();
    let caller = CallerView {
        entity: person.entity.as_deref(),
        key_scope: KeyScope::Unscoped,
        sticky: &sticky,
    };
    live.invocable_by(&caller)
        .into_iter()
        .filter(|invocable| {
            let model = &invocable.version.spec.model;
            models.iter().any(|card| &card.id == model)
        })
        .map(|invocable| {
            let use_case = &invocable.use_case;
            let variables = factory::template::variables(&invocable.version.spec.template)
                .map(|names| names.into_iter().collect())
                .unwrap_or_default();
            Assistant {
                model: format!("{}{}", factory::INVOKE_PREFIX, use_case.slug),
                name: use_case.name.to_string(),
                purpose: use_case.purpose.to_string(),
                variables,
            }
        })
        .collect()
}
