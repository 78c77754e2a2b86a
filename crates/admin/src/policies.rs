//! The Cedar policy engine behind [`crate::authorize`]: the schema and the default policy set
//! shipped in the binary (`policies/*.cedar*`, explained in docs/authorization.md), and the
//! translation of a caller, an action and a target into a Cedar request.
//!
//! A decision builds one caller entity and evaluates a handful of policies: about 40 µs in an
//! unoptimized build, fine for admin routes, which also touch the database; the inference path
//! never asks. Anything that goes wrong
//! while deciding is a denial, logged.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwapOption;
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId as CedarId, EntityTypeName,
    EntityUid, PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use domain::{EntityId, RoleGrant};
use identity::Principal;
use miette::Diagnostic;

use crate::AdminAction;

/// The vocabulary every policy set is validated against.
pub const SCHEMA: &str = include_str!("../policies/fabrique.cedarschema");
/// The policies Fabrique ships with.
pub const DEFAULT_POLICIES: &str = include_str!("../policies/default.cedar");

/// A validated policy set with its schema.
pub struct Engine {
    schema: Schema,
    policies: PolicySet,
    authorizer: Authorizer,
}

/// The policy set the operator configured, installed at start; the default one otherwise. One
/// server runs per process, so the set is the process's.
static INSTALLED: ArcSwapOption<Engine> = ArcSwapOption::const_empty();
static DEFAULT: LazyLock<Result<Arc<Engine>, Vec<String>>> =
    LazyLock::new(|| Engine::new(DEFAULT_POLICIES).map(Arc::new));

impl Engine {
    /// Parses `policies` and validates them against the schema (strictly: a policy that names an
    /// unknown action or attribute is an error, not a policy that never matches). Every error is
    /// listed, one a line, with its position.
    pub fn new(policies: &str) -> Result<Engine, Vec<String>> {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).map_err(|e| vec![format!("schema: {e:?}")])?;
        let source = policies;
        let policies = PolicySet::from_str(source).map_err(|errors| {
            errors
                .iter()
                .map(|e| located(source, e))
                .collect::<Vec<_>>()
        })?;
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !validation.validation_passed() {
            return Err(validation
                .validation_errors()
                .map(|e| located(source, e))
                .collect());
        }
        Ok(Engine {
            schema,
            policies,
            authorizer: Authorizer::new(),
        })
    }

    /// Whether `principal` may do `action` on `target` (`None`: the group as a whole), the key
    /// concerned carrying `carried` (its owner's roles; empty for actions on no key).
    pub fn allows(
        &self,
        principal: &Principal,
        action: AdminAction,
        target: Option<EntityId>,
        carried: &[RoleGrant],
    ) -> bool {
        match self.decide(principal, action, target, carried) {
            Ok(allowed) => allowed,
            Err(error) => {
                tracing::error!(%error, action = action.audit_action().as_str(), "authorization failed: denied");
                false
            }
        }
    }

    /// Whether `principal`, whose reader tags are `tags` (`knowledge::Reader`), may do `action`
    /// on `library`.
    pub fn allows_on_library(
        &self,
        principal: &Principal,
        tags: &[String],
        action: AdminAction,
        library: &store::StoredLibrary,
    ) -> bool {
        let decided = library_entity(library).and_then(|(resource, entity)| {
            self.decide_on(
                principal,
                tags,
                action,
                resource,
                vec![entity],
                Context::empty(),
            )
        });
        match decided {
            Ok(allowed) => allowed,
            Err(error) => {
                tracing::error!(%error, action = action.audit_action().as_str(), "authorization failed: denied");
                false
            }
        }
    }

    /// Whether `principal`, who is (`owner`) or is not among the owners a use case names, may do
    /// `action` on that use case's documents, the use case belonging to `target` (`None`: the
    /// group).
    pub fn allows_on_use_case(
        &self,
        principal: &Principal,
        action: AdminAction,
        target: Option<EntityId>,
        owner: bool,
    ) -> bool {
        match self.decide_as(principal, action, target, &[], owner) {
            Ok(allowed) => allowed,
            Err(error) => {
                tracing::error!(%error, action = action.audit_action().as_str(), "authorization failed: denied");
                false
            }
        }
    }

    fn decide(
        &self,
        principal: &Principal,
        action: AdminAction,
        target: Option<EntityId>,
        carried: &[RoleGrant],
    ) -> Result<bool, String> {
        self.decide_as(principal, action, target, carried, false)
    }

    /// The decision on the group or an entity, with the context the action's kind needs: the
    /// roles a key or grant carries, or whether the caller owns the use case.
    fn decide_as(
        &self,
        principal: &Principal,
        action: AdminAction,
        target: Option<EntityId>,
        carried: &[RoleGrant],
        use_case_owner: bool,
    ) -> Result<bool, String> {
        let resource = match target {
            Some(entity) => uid("Entity", &entity.to_string())?,
            None => uid("Group", "group")?,
        };
        let context = if action.changes_roles() {
            role_change_context(carried)?
        } else if action.hands_out_roles() {
            Context::from_pairs(carried_pairs(carried)?).map_err(|e| e.to_string())?
        } else if action.on_use_case_documents() {
            let owner = RestrictedExpression::new_bool(use_case_owner);
            Context::from_pairs([("use_case_owner".to_owned(), owner)])
                .map_err(|e| e.to_string())?
        } else {
            Context::empty()
        };
        self.decide_on(principal, &[], action, resource, Vec::new(), context)
    }

    /// The decision on `resource`, described by `described` (the entities the policies read
    /// beside the caller).
    fn decide_on(
        &self,
        principal: &Principal,
        tags: &[String],
        action: AdminAction,
        resource: EntityUid,
        described: Vec<Entity>,
        context: Context,
    ) -> Result<bool, String> {
        let caller = uid("Caller", &principal.actor())?;
        let request = Request::new(
            caller.clone(),
            uid("Action", action.audit_action().as_str())?,
            resource,
            context,
            Some(&self.schema),
        )
        .map_err(|e| e.to_string())?;
        let mut entities = vec![caller_entity(caller, principal, tags)?];
        entities.extend(described);
        let entities =
            Entities::from_entities(entities, Some(&self.schema)).map_err(|e| e.to_string())?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        if !errors.is_empty() {
            // A policy that fails to evaluate is skipped by Cedar; say so, as it may hide a forbid.
            tracing::error!(errors = ?errors, action = action.audit_action().as_str(), "a policy failed to evaluate");
        }
        Ok(response.decision() == Decision::Allow)
    }
}

/// A library as a Cedar entity: its owning entity (absent for the group's), readers, editors.
fn library_entity(library: &store::StoredLibrary) -> Result<(EntityUid, Entity), String> {
    let resource = uid("Library", &library.id)?;
    let tags = |tags: &[String]| {
        RestrictedExpression::new_set(
            tags.iter()
                .map(|t| RestrictedExpression::new_string(t.clone())),
        )
    };
    let mut attributes = HashMap::from([
        ("readers".to_owned(), tags(&library.readers)),
        ("editors".to_owned(), tags(&library.editors)),
    ]);
    if let Some(entity) = library.entity_id {
        let owner = RestrictedExpression::new_entity_uid(uid("Entity", &entity.to_string())?);
        attributes.insert("entity".to_owned(), owner);
    }
    let entity =
        Entity::new(resource.clone(), attributes, HashSet::new()).map_err(|e| e.to_string())?;
    Ok((resource, entity))
}

/// The engine in force: the operator's policies when installed, else the default ones (`None`
/// only if the shipped set were invalid, which its tests rule out).
pub fn engine() -> Option<Arc<Engine>> {
    INSTALLED
        .load_full()
        .or_else(|| DEFAULT.as_ref().ok().cloned())
}

/// Puts `policies` (the operator's file; `None`: the default set) in force, once validated. On
/// error nothing changes, and each error is listed with its line.
pub fn install(policies: Option<&str>) -> Result<(), Vec<String>> {
    let engine = policies.map(Engine::new).transpose()?;
    INSTALLED.store(engine.map(Arc::new));
    Ok(())
}

/// `line L, column C: message`, from the first place the diagnostic points at in `source`.
fn located(source: &str, error: &(impl Diagnostic + std::fmt::Display)) -> String {
    let offset = error
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset().min(source.len()));
    match offset {
        Some(offset) => {
            let before = source.get(..offset).unwrap_or(source);
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {error}")
        }
        None => error.to_string(),
    }
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    let kind = EntityTypeName::from_str(&format!("Fabrique::{kind}")).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(kind, CedarId::new(id)))
}

/// The caller as a Cedar entity: its roles, split into group-wide and entity-scoped ones, and
/// its reader tags (empty but for decisions on a library).
fn caller_entity(
    caller: EntityUid,
    principal: &Principal,
    tags: &[String],
) -> Result<Entity, String> {
    let group_roles = principal
        .roles
        .iter()
        .filter(|g| g.entity_id.is_none())
        .map(|g| RestrictedExpression::new_string(g.role.as_str().to_owned()));
    let mut entity_roles = Vec::new();
    for grant in &principal.roles {
        if let Some(entity) = grant.entity_id {
            let record = RestrictedExpression::new_record([
                (
                    "role".to_owned(),
                    RestrictedExpression::new_string(grant.role.as_str().to_owned()),
                ),
                (
                    "entity".to_owned(),
                    RestrictedExpression::new_entity_uid(uid("Entity", &entity.to_string())?),
                ),
            ])
            .map_err(|e| e.to_string())?;
            entity_roles.push(record);
        }
    }
    let attributes = HashMap::from([
        (
            "group_roles".to_owned(),
            RestrictedExpression::new_set(group_roles),
        ),
        (
            "entity_roles".to_owned(),
            RestrictedExpression::new_set(entity_roles),
        ),
        (
            "tags".to_owned(),
            RestrictedExpression::new_set(
                tags.iter()
                    .map(|t| RestrictedExpression::new_string(t.clone())),
            ),
        ),
    ]);
    Entity::new(caller, attributes, HashSet::new()).map_err(|e| e.to_string())
}

/// The context of an action on a key: what its owner's roles reach.
fn carried_pairs(carried: &[RoleGrant]) -> Result<Vec<(String, RestrictedExpression)>, String> {
    let mut entities = Vec::new();
    for grant in carried {
        if let Some(entity) = grant.entity_id {
            entities.push(RestrictedExpression::new_entity_uid(uid(
                "Entity",
                &entity.to_string(),
            )?));
        }
    }
    let group_roles = carried
        .iter()
        .filter(|g| g.entity_id.is_none())
        .map(|g| RestrictedExpression::new_string(g.role.as_str().to_owned()));
    Ok(vec![
        (
            "carried_group_roles".to_owned(),
            RestrictedExpression::new_set(group_roles),
        ),
        (
            "carried_entities".to_owned(),
            RestrictedExpression::new_set(entities),
        ),
    ])
}

/// The context of a role grant or revocation: `carried` is the one grant concerned.
fn role_change_context(carried: &[RoleGrant]) -> Result<Context, String> {
    let [grant] = carried else {
        return Err(format!(
            "a role change concerns one grant, not {}",
            carried.len()
        ));
    };
    let mut pairs = carried_pairs(carried)?;
    pairs.push((
        "granted_role".to_owned(),
        RestrictedExpression::new_string(grant.role.as_str().to_owned()),
    ));
    Context::from_pairs(pairs).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
