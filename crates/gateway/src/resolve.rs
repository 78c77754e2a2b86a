//! Stage 6, resolve: the model the caller names exists, serves the route's operation (and its
//! endpoints' engines have a route for it: 400 `operation_not_served` else), the
//! caller's entity and key may use it, and the request can fit its `context_length` (else 400
//! `context_length_exceeded`: the floor of the prompt's tokens plus the completion it allows is
//! more). An entity's `models` list makes every other model absent for its callers (404
//! `model_not_found`, as if it did not exist); a key's `models` scope refuses the others with 403
//! `model_not_allowed`.
//!
//! The result is the request's chain of candidate models: the model, then those of its fallbacks
//! the caller may use too, in the order routing tries them. Clearance (the inspect stage),
//! scheduling's fallback pool and routing see only the chain, so a fallback outside the
//! caller's entity's models or key's scope is never reached, however the request is labelled and
//! whichever endpoint fails.

use std::collections::{HashMap, HashSet};

use configuration::Config;
use domain::{ModelIdx, Operation};
use identity::Principal;
use smallvec::SmallVec;

use crate::accept::{Asked, InferenceRequest};
use crate::catalog::Catalog;
use crate::error::GatewayError;

/// The models a request may be served by, in the order routing tries them: the requested one,
/// then its fallbacks. Never empty.
#[derive(Debug, Clone)]
pub(crate) struct Chain(SmallVec<[ModelIdx; 4]>);

impl Chain {
    pub(crate) fn new(model: ModelIdx, fallbacks: impl Iterator<Item = ModelIdx>) -> Chain {
        let mut chain = SmallVec::new();
        chain.push(model);
        chain.extend(fallbacks);
        Chain(chain)
    }

    /// The model the caller asked for.
    pub fn model(&self) -> ModelIdx {
        self.0[0]
    }

    /// The fallbacks, in order.
    pub fn fallbacks(&self) -> &[ModelIdx] {
        &self.0[1..]
    }

    /// The model, then its fallbacks.
    pub fn iter(&self) -> impl Iterator<Item = ModelIdx> + '_ {
        self.0.iter().copied()
    }
}

/// Which models each entity may use; entities not listed may use every model.
#[derive(Debug, Default)]
pub(crate) struct ModelAccess {
    by_entity: HashMap<String, HashSet<ModelIdx>>,
}

/// Whether a principal may use a model, and if not, who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Allowed,
    /// The entity may not: the model is treated as absent, so other entities' models never show.
    DeniedToEntity,
    /// The key is scoped to other models: its holder is told so.
    DeniedToKey,
}

impl ModelAccess {
    pub fn new(config: &Config) -> ModelAccess {
        let by_entity = config
            .entities
            .iter()
            .filter_map(|seed| {
                let allowed = seed.models.as_ref()?;
                let models = allowed
                    .iter()
                    .filter_map(|name| config.model(name).map(|(i, _)| ModelIdx::new(i)))
                    .collect();
                Some((seed.slug.clone(), models))
            })
            .collect();
        ModelAccess { by_entity }
    }

    /// The one access decision of resolve and of `/v1/models`: the entity's models, then the
    /// key's scope.
    pub fn decide(&self, principal: &Principal, model: ModelIdx, name: &str) -> Access {
        let entity = principal
            .entity_slug
            .as_deref()
            .and_then(|slug| self.by_entity.get(slug));
        if entity.is_some_and(|allowed| !allowed.contains(&model)) {
            Access::DeniedToEntity
        } else if !principal.may_use_model(name) {
            Access::DeniedToKey
        } else {
            Access::Allowed
        }
    }
}

/// Finds the model, checks that it serves this operation, that the caller's entity and key may use
/// it and that the request can fit its context; returns its chain.
pub(crate) fn resolve(
    catalog: &Catalog,
    access: &ModelAccess,
    operation: Operation,
    request: &InferenceRequest<'_>,
    principal: &Principal,
) -> Result<Chain, GatewayError> {
    let name = request.model.as_ref();
    let not_found = || GatewayError::ModelNotFound {
        model: name.to_owned(),
    };
    let model = catalog.find(name).ok_or_else(not_found)?;
    match access.decide(principal, model, name) {
        Access::Allowed => {}
        Access::DeniedToEntity => {
            return Err(GatewayError::ModelDeniedToEntity {
                model: name.to_owned(),
            });
        }
        Access::DeniedToKey => {
            return Err(GatewayError::ModelNotAllowed {
                model: name.to_owned(),
            });
        }
    }
    let route = catalog.model(model);
    if route.kind != operation.model_kind() {
        return Err(GatewayError::WrongModelKind {
            model: name.to_owned(),
            kind: route.kind.as_str(),
            route: operation.public_path(),
        });
    }
    if let Some(kind) = route.unserved_by {
        return Err(GatewayError::OperationNotServed {
            model: name.to_owned(),
            kind: kind.as_str(),
            route: operation.public_path(),
        });
    }
    check_context(route.context_length, &request.asked)?;
    let usable = |&fallback: &ModelIdx| {
        let fallback_route = catalog.model(fallback);
        fallback_route.unserved_by.is_none()
            && access.decide(principal, fallback, &fallback_route.name) == Access::Allowed
    };
    Ok(Chain::new(
        model,
        route.fallbacks.iter().copied().filter(usable),
    ))
}

/// Refuses a request that cannot fit a context of `context_length` tokens: the floor of its prompt
/// plus the completion it allows is more. A request that does not say how long a completion it
/// allows is left to the backend, which stops at the context's end.
pub(crate) fn check_context(
    context_length: Option<u32>,
    asked: &Asked,
) -> Result<(), GatewayError> {
    let Some(context_length) = context_length else {
        return Ok(());
    };
    let completion = asked.max_tokens.unwrap_or(0);
    let needed = asked.prompt_floor.saturating_add(completion);
    if needed > u64::from(context_length) {
        return Err(GatewayError::ContextLengthExceeded {
            context_length,
            needed,
            prompt_floor: asked.prompt_floor,
            completion,
        });
    }
    Ok(())
}
