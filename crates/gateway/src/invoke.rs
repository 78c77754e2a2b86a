//! The resolve stage's use-case half: a request whose model is `usecase/<slug>` (or `usecase/<slug>@<n>`)
//! invokes a deployed version of the AI Factory's registry (`factory::Live`, in memory).
//!
//! - **Access.** Callers of the use case's allowed entities whose key, when scoped, names
//!   `usecase/<slug>`; group-level keys scoped to it. Everyone else, and everyone for a use case
//!   that is not deployed (to their entity), gets 404 `model_not_found`, as for a model that does
//!   not exist. The registry's decision stands for the version's model as far as the caller's key
//!   goes (it need not name the model, approved with the version), never for their entity's model
//!   access ([`chain`]).
//! - **Version.** The one pinned, else the rollout's choice, sticky per user (`factory::rollout`).
//! - **Request.** `factory::compose`: the template rendered with the caller's variables, the
//!   version's model, fallbacks, parameters, tools and output schema; the caller's messages
//!   appended. The rest of the path (policy, admission, scheduling, routing) sees that request.
//! - **Answer.** A version with an output schema has its answer checked against the schema
//!   (`structured`): a whole answer that breaks it is a 502 `output_schema_violation` metered
//!   with the tokens it cost; a stream is checked when it ends, and one that breaks it ends with
//!   an `output_schema_violation` error event before `[DONE]`, metered with that code.

use std::sync::Arc;

use bytes::Bytes;
use domain::{ModelIdx, Operation};
use factory::{CallerView, Invocable, KeyScope, Live};
use http::HeaderMap;
use identity::Principal;
use smallvec::SmallVec;
use wire::object::RawObject;

use crate::accept::InferenceRequest;
use crate::attribute::{Caller, UseCase};
use crate::catalog::Catalog;
use crate::error::GatewayError;
use crate::relay::Answer;
use crate::resolve::{Access, Chain, ModelAccess, check_context};
use crate::schedule;
use crate::structured::{self, StreamCheck, check_output};

/// A use case being invoked: which version, and the request its model receives.
pub(crate) struct Invocation {
    pub target: Invocable,
    pub body: Bytes,
}

/// The invocation a model name asks for: `None` when it names a model, not a use case.
pub(crate) fn invoke(
    live: &Live,
    principal: &Principal,
    operation: Operation,
    model: &str,
    object: &RawObject<'_>,
) -> Result<Option<Invocation>, GatewayError> {
    let Some(target) = model.strip_prefix(factory::INVOKE_PREFIX) else {
        return Ok(None);
    };
    let not_found = || GatewayError::ModelNotFound {
        model: model.to_owned(),
    };
    if operation != Operation::Chat {
        return Err(not_found());
    }
    let slug = target.split_once('@').map_or(target, |(slug, _)| slug);
    let user = principal.user_id().map(|id| id.to_string());
    let key = principal.key_id.map(|id| id.to_string());
    let sticky = user.as_deref().or(key.as_deref()).unwrap_or_default();
    let caller = CallerView {
        entity: principal.entity_slug.as_deref(),
        key_scope: key_scope(principal, slug),
        sticky,
    };
    let target = live.invoke(target, &caller).map_err(|_| not_found())?;
    let body = factory::compose::compose(&target.version.spec, object).map_err(|e| {
        GatewayError::InvalidField {
            param: "fabrique",
            message: e.to_string(),
        }
    })?;
    Ok(Some(Invocation {
        target,
        body: Bytes::from(body),
    }))
}

/// A label (`x-fabrique-use-case`) naming a use case registered through the admin API: only
/// callers the registry admits may name it (403 `use_case_not_permitted`), so nobody charges
/// usage to another entity's use case. Labels of use cases declared in `[[use_cases]]` are the
/// inspector's to check (stage 3); labels the registry does not hold stay free chargeback labels.
/// The registry's entry is kept on the caller for the stages after.
pub(crate) fn check_label(live: &Live, caller: &mut Caller) -> Result<(), GatewayError> {
    let Some(slug) = caller.attribution.use_case() else {
        return Ok(());
    };
    let Some(registered) = live.use_case(slug) else {
        return Ok(());
    };
    let principal = &caller.principal;
    // A key scoped to models only may still label its requests: labels invoke nothing.
    let key_scope = match key_scope(principal, slug) {
        KeyScope::Excludes => KeyScope::Unscoped,
        named => named,
    };
    let view = CallerView {
        entity: principal.entity_slug.as_deref(),
        key_scope,
        sticky: "",
    };
    if registered.declared || registered.admits(&view) {
        caller.registered = Some(registered);
        Ok(())
    } else {
        Err(GatewayError::UseCaseNotPermitted {
            use_case: slug.to_owned(),
        })
    }
}

/// What the caller's key scope says of the use case `slug`.
fn key_scope(principal: &Principal, slug: &str) -> KeyScope {
    let Some(models) = &principal.models else {
        return KeyScope::Unscoped;
    };
    let names = models.iter().any(|m| {
        m.strip_prefix(factory::INVOKE_PREFIX)
            .is_some_and(|named| named == slug)
    });
    if names {
        KeyScope::Names
    } else {
        KeyScope::Excludes
    }
}

/// The version's model and its fallbacks (the version's, else the model's own). The registry's
/// decision stands for the caller's key (scoped to `usecase/<slug>`, it need not name the model),
/// never for the entity: a model the caller's entity may not use is refused, and its fallbacks
/// are only those the entity may use; the composed request must fit the model's context.
pub(crate) fn chain(
    catalog: &Catalog,
    access: &ModelAccess,
    operation: Operation,
    invocation: &Invocation,
    request: &InferenceRequest<'_>,
    principal: &Principal,
) -> Result<Chain, GatewayError> {
    let spec = &invocation.target.version.spec;
    // The version's models were checked against the configuration when it was written; one
    // removed since answers as a missing model.
    let find = |name: &str| {
        catalog
            .find(name)
            .ok_or_else(|| GatewayError::ModelNotFound {
                model: name.to_owned(),
            })
    };
    let entity_may =
        |model, name: &str| access.decide(principal, model, name) != Access::DeniedToEntity;
    let model = find(&spec.model)?;
    if !entity_may(model, &spec.model) {
        return Err(GatewayError::ModelDeniedToEntity {
            model: spec.model.clone(),
        });
    }
    let route = catalog.model(model);
    if route.kind != operation.model_kind() {
        return Err(GatewayError::WrongModelKind {
            model: spec.model.clone(),
            kind: route.kind.as_str(),
            route: operation.public_path(),
        });
    }
    check_context(route.context_length, &request.asked)?;
    let fallbacks: SmallVec<[_; 4]> = if spec.fallbacks.is_empty() {
        route.fallbacks.iter().copied().collect()
    } else {
        spec.fallbacks
            .iter()
            .map(|name| find(name))
            .collect::<Result<_, _>>()?
    };
    let usable = |&fallback: &ModelIdx| entity_may(fallback, &catalog.model(fallback).name);
    Ok(Chain::new(model, fallbacks.into_iter().filter(usable)))
}

/// Names the use case and the version on the caller's attribution, and schedules the request in
/// the use case's priority class (bounded by the key's, as a declared use case's is).
pub(crate) fn attribute(
    caller: &mut Caller,
    invocation: &Invocation,
    headers: &HeaderMap,
) -> Result<(), GatewayError> {
    let target = &invocation.target;
    caller.attribution.use_case = UseCase::named(&target.use_case.slug);
    caller.attribution.version = Some(target.version.number);
    caller.registered = Some(Arc::clone(&target.use_case));
    let class = target.use_case.priority;
    caller.wanted = schedule::wanted(headers, caller.principal.priority, class)?;
    Ok(())
}

/// The answer of an invoked version, its structured output checked: a whole answer that breaks
/// the schema becomes a 502 `output_schema_violation`, keeping the tokens it cost; a stream is
/// handed the check to make at its end.
pub(crate) fn checked(target: &Invocable, mut answer: Answer) -> Answer {
    let (status, bytes, refused) = match &mut answer {
        Answer::Whole {
            status,
            bytes,
            refused: refused @ None,
            ..
        } => (status, bytes, refused),
        Answer::Stream(streaming) => {
            streaming.check = StreamCheck::new(target);
            return answer;
        }
        // A refused answer keeps its error; a cached one was checked when it was first answered.
        Answer::Whole { .. } | Answer::Cached(_) => return answer,
    };
    let violation = status
        .is_success()
        .then(|| check_output(target, bytes).err())
        .flatten();
    if let Some(detail) = violation {
        let error = structured::violation(target, detail);
        // The tokens it cost stay with the answer: usage, relayed characters, first byte.
        *status = error.status();
        *bytes = Bytes::from(error.body_json());
        *refused = Some(error.code());
    }
    answer
}
